"""How every hand3d console script starts: flags, --help, quiet TensorFlow, one-line errors.

A CLI module is thin (docs/development.md, "CLIs"):

    def define_flags(m):             # called by run(), never at import; m: the module's name
        shared_flags.weights(m)
        flags.DEFINE_string("image", None, "input image", module_name=m)

    def main(argv):                  # builds one validated config, makes one library call
        config = PredictConfig.from_flags(flags.FLAGS)
        return library.predict(**config.call_args())

    def run():
        app.run(__name__, main, define_flags)

``--help`` (also ``-h``, ``-?``, ``--helpshort``) prints the module's docstring (what the
tool does and an example) and the tool's own flags, then exits 0; ``--helpfull`` keeps
absl's listing of every flag. Before the first TensorFlow import, ``quiet_tensorflow``
drops TensorFlow's start-up chatter on CPU-only machines (no CUDA driver, the CPU feature
banner) and passes every other line of stderr through.

TensorFlow is an extra (``pip install 'hand3d_tf[tf]'``, docs/devices.md): a command that
needs it where it is not installed stops with one line naming the extra, exit status 2,
whether the import fails in ``quiet_tensorflow`` or later, deep in the library.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

from absl import flags

from hand3d_tf.cli import errors
from hand3d_tf.constants import TENSORFLOW_EXTRA, TENSORFLOW_MODULES
from hand3d_tf.quiet import filtered_stderr

HELP_FLAGS = ("-h", "--help", "-?", "--helpshort")

# TensorFlow start-up lines that say nothing on a CPU-only machine. Everything else that
# TensorFlow writes to stderr while it starts is passed through unchanged.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc.*Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard\.cc"
    r"|To enable the following instructions:"
    r"|oneDNN custom operations are on"
)


_defined: set[str] = set()


class TensorFlowMissing(errors.UserError):
    """The command needs TensorFlow (or tf-keras, tfmot) and this install has none."""

    def __init__(self, module: str):
        super().__init__(
            f"this command needs TensorFlow ({module} is not installed): {TENSORFLOW_EXTRA}"
        )


def missing_tensorflow_module(error: BaseException) -> str | None:
    """The TensorFlow module whose absence ``error`` reports, else None."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        if error.name.split(".")[0] in TENSORFLOW_MODULES:
            return error.name
    return None


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ModuleNotFoundError as err:
        if missing_tensorflow_module(err):
            raise TensorFlowMissing(err.name) from err
        raise
    return tf


def quiet_tensorflow():
    """Import TensorFlow (and initialise its devices) with the CPU-only chatter filtered out.

    TensorFlow's C++ start-up messages ignore ``TF_CPP_MIN_LOG_LEVEL`` (they are written
    before its logging starts), so stderr's file descriptor is captured while TensorFlow
    starts and replayed without the lines ``STARTUP_NOISE`` matches. Returns the module.
    Set ``HAND3D_VERBOSE_STARTUP=1`` to see everything. Raises ``TensorFlowMissing`` (a
    one-line user error naming the extra) where TensorFlow is not installed.
    """
    if "tensorflow" in sys.modules or os.environ.get("HAND3D_VERBOSE_STARTUP"):
        return _import_tensorflow()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # INFO banners; warnings stay
    with filtered_stderr(STARTUP_NOISE):
        tf = _import_tensorflow()
        tf.config.list_physical_devices()  # the CUDA probe happens here
    return tf


def help_text(module_name: str, prog: str) -> str:
    """The module's docstring (description and example) followed by the tool's flags."""
    module = sys.modules.get(module_name) or sys.modules["__main__"]
    doc = (module.__doc__ or "").strip()
    listing = flags.FLAGS.module_help(module_name).split("\n", 1)
    body = listing[1] if len(listing) > 1 else "  (none)"
    return f"{doc}\n\nFlags of {prog}:\n{body}\n\nabsl's own flags: {prog} --helpfull\n"


def qualified_name(module_name: str) -> str:
    """The module's import name, also under ``python -m`` (where ``__name__`` is
    ``__main__``): the name its flags are registered under."""
    spec = getattr(sys.modules.get(module_name), "__spec__", None)
    return spec.name if module_name == "__main__" and spec is not None else module_name


def prog_name(module_name: str) -> str:
    """``hand3d_tf.cli.make_eval_set`` -> ``hand3d-make-eval-set`` (the console script)."""
    return "hand3d-" + qualified_name(module_name).rsplit(".", 1)[-1].replace("_", "-")


def define_once(module_name: str, define_flags: Callable[[str], None]) -> str:
    """Run a CLI's ``define_flags(module)`` once per process (a second call would redefine);
    ``module`` is the name its flags are registered under. Returns that name."""
    key = qualified_name(module_name)
    if key not in _defined:
        define_flags(key)
        _defined.add(key)
    return key


def run(
    module_name: str,
    main: Callable,
    define_flags: Callable[[str], None],
    needs_tensorflow: bool = True,
    argv: list[str] | None = None,
) -> None:
    """Start a console script: define its flags, answer --help, quiet TF, run ``main``.

    ``needs_tensorflow=False`` for a tool that imports TensorFlow only after its cheap checks
    (it calls ``quiet_tensorflow`` itself) or never. Either way a missing TensorFlow is one
    line naming the extra, exit status 2.
    """
    prog = prog_name(module_name)
    argv = list(sys.argv if argv is None else argv)
    key = define_once(module_name, define_flags)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        sys.stdout.write(help_text(key, prog))
        sys.exit(0)
    if needs_tensorflow:
        try:
            quiet_tensorflow()
        except TensorFlowMissing as err:
            sys.exit(errors.report(prog, err))
    sys.argv = argv
    errors.run(_naming_the_extra(main), prog)


def _naming_the_extra(main: Callable) -> Callable:
    """``main`` with a missing TensorFlow module, imported anywhere below it, turned into
    ``TensorFlowMissing`` (a one-line user error) instead of a traceback."""

    def guarded(argv):
        if "max_image_pixels" in flags.FLAGS:  # the tools that read images (shared_flags)
            from hand3d_tf import images

            images.set_max_pixels(flags.FLAGS.max_image_pixels)
        try:
            return main(argv)
        except ModuleNotFoundError as err:
            module = missing_tensorflow_module(err)
            if module is None:
                raise
            raise TensorFlowMissing(module) from err

    return guarded
