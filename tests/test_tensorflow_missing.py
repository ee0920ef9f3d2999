"""Without TensorFlow (``pip install hand3d_tf``, no ``[tf]`` extra) a command that needs it
says so in one line naming the extra, exit status 2; the TensorFlow-free parts run.

TensorFlow is hidden from a subprocess by a meta-path finder that raises the
``ModuleNotFoundError`` a missing package raises. The real thing, a venv without
TensorFlow, is tests/test_wheel_install.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from hand3d_tf.cli import app

HIDE_TENSORFLOW = r"""
import runpy, sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
module = sys.argv.pop(1)
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""

EXPECTED = (
    "this command needs TensorFlow (tensorflow is not installed): pip install 'hand3d_tf[tf]'"
)


def _without_tensorflow(module: str, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", HIDE_TENSORFLOW, module, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "tool, args",
    [
        ("export", ["--output_dir={tmp}/export"]),  # bundled weights pass the cheap checks
        ("train", ["--net=posenet", "--smoke", "--output_dir={tmp}/train"]),
        ("predict", ["--image=weights/example_hand.png", "--handsegnet_pickle={tmp}/h.pickle",
                     "--posenet_pickle={tmp}/p.pickle", "--output_dir={tmp}/predict"]),
    ],
)  # fmt: skip
def test_a_command_that_needs_tensorflow_names_the_extra(tool, args, tmp_path):
    for name in ("h.pickle", "p.pickle"):
        (tmp_path / name).write_bytes(b"")  # exists: the check before TensorFlow passes
    done = _without_tensorflow(f"hand3d_tf.cli.{tool}", *[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == f"hand3d-{tool.replace('_', '-')}: error: {EXPECTED}\n"


def test_help_needs_no_tensorflow():
    done = _without_tensorflow("hand3d_tf.cli.train", "--help")
    assert done.returncode == 0 and "hand3d-train" in done.stdout, done.stderr


def test_a_late_import_is_named_too(capsys):
    """An import deep in the library (tf_keras, tfmot) after the CLI's own checks."""

    def main(argv):
        raise ModuleNotFoundError("No module named 'tf_keras'", name="tf_keras")

    with pytest.raises(SystemExit) as exit_info:
        app.run("hand3d_tf.cli.fake_tool", main, lambda m: None, needs_tensorflow=False,
                argv=["hand3d-fake-tool"])  # fmt: skip
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "hand3d-fake-tool: error: this command needs TensorFlow (tf_keras is not installed): "
        "pip install 'hand3d_tf[tf]'\n"
    )


def test_another_missing_module_keeps_its_traceback():
    def main(argv):
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    with pytest.raises(ModuleNotFoundError, match="scipy"):
        app.run("hand3d_tf.cli.fake_tool2", main, lambda m: None, needs_tensorflow=False,
                argv=["hand3d-fake-tool2"])  # fmt: skip
