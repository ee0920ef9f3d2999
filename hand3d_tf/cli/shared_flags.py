"""Flags that several hand3d CLIs take: each name is defined here once, with one type.

A CLI's ``define_flags`` calls these with its own module name (so ``--help`` lists them
among the tool's flags) and, where its needs differ, its own default and help text; the
type and the parsing never differ. Nothing is defined at import.

Sizes are strings ``HxW`` (``240x320``; ``240,320`` is accepted too), read with
:func:`hw`. Renamed flags keep their old spelling for one release through
:func:`deprecated_alias` / :func:`value`.
"""

from __future__ import annotations

import re
import sys

from absl import flags

from hand3d_tf.cli.errors import UserError
from hand3d_tf.constants import (
    BACKENDS,
    DATASETS,
    DEFAULT_INPUT_SIZE,
    LIFTING_VARIANTS,
    NETS,
    SPLITS,
)

FLAGS = flags.FLAGS

# Every flag name defined here (tests/test_cli.py checks that no tool defines one of these
# itself, and that the definers below define exactly these).
SHARED_NAMES = (
    "weights", "handsegnet_pickle", "posenet_pickle", "lifting_pickle", "output_dir",
    "data_dir", "dataset", "split", "seed", "batch_size", "max_samples", "lifting_variant",
    "net", "input_size", "image", "output", "baseline_data_dir", "baseline_max_samples",
    "backend", "overwrite", "max_image_pixels",
)  # fmt: skip
DEFINERS = ("weights", "released_pickles", "output_dir", "data_dir", "dataset", "split", "seed",
            "batch_size", "max_samples", "lifting_variant", "net", "input_size",
            "image", "output", "baseline_data", "backend", "overwrite",
            "max_image_pixels")  # fmt: skip


def _string(module: str, name: str, default, help: str) -> None:
    flags.DEFINE_string(name, default, help, module_name=module)


def weights(module: str, default: str | None = None, help: str | None = None) -> None:
    _string(module, "weights", default,
            help or "weights folder: <net>.npz + <net>.json per net (hand3d-convert-weights, "
            "hand3d-train); default: the bundled weights/default")  # fmt: skip


def released_pickles(module: str, nets=("handsegnet", "posenet", "lifting")) -> None:
    """--handsegnet_pickle / --posenet_pickle / --lifting_pickle: the original's weights."""
    what = {
        "handsegnet": "released HandSegNet pickle (handsegnet-rhd.pickle)",
        "posenet": "released PoseNet pickle (posenet3d-rhd-stb-slr-finetuned.pickle; "
        "it holds the lifting too)",
        "lifting": "released lifting pickle (lifting-<variant>.pickle) or posenet3d-*.pickle",
    }
    for net in nets:
        _string(module, f"{net}_pickle", None, what[net])


def output_dir(module: str, default: str | None = None, help: str = "where the outputs go"):
    _string(module, "output_dir", default, help + ("" if default else " (required)"))


def data_dir(module: str, default: str | None = None, help: str | None = None) -> None:
    _string(module, "data_dir", default,
            help or "dataset root (RHD layout, STB layout) or a record file (rhd_<split>.bin, "
            "stb_eval.bin)")  # fmt: skip


def dataset(module: str, default: str | None = "rhd", help: str = "which reader") -> None:
    flags.DEFINE_enum("dataset", default, DATASETS, help, module_name=module)


def split(module: str, default: str = "evaluation") -> None:
    flags.DEFINE_enum("split", default, SPLITS, "dataset split", module_name=module)


def overwrite(module: str, help: str = "replace a split folder that holds another dataset"):
    flags.DEFINE_bool("overwrite", False, help, module_name=module)


def seed(module: str, default: int | None = 0, help: str = "random seed") -> None:
    flags.DEFINE_integer("seed", default, help, lower_bound=0, module_name=module)


def batch_size(module: str, default: int | None = 8, help: str = "batch size") -> None:
    flags.DEFINE_integer("batch_size", default, help, lower_bound=1, module_name=module)


def max_samples(module: str, help: str = "use only the first N samples (default: all)"):
    flags.DEFINE_integer("max_samples", None, help, lower_bound=1, module_name=module)


def lifting_variant(module: str, default: str | None = None, help: str | None = None):
    flags.DEFINE_enum("lifting_variant", default, LIFTING_VARIANTS,
                      help or "lifting variant (docs/original.md §3)", module_name=module)  # fmt: skip


def net(module: str, default: str | None = None, extra: tuple[str, ...] = (), help="network"):
    flags.DEFINE_enum("net", default, (*NETS, *extra), help, module_name=module)


DEFAULT_INPUT_SIZE_FLAG = "x".join(str(v) for v in DEFAULT_INPUT_SIZE)  # "240x320"


def input_size(
    module: str, default: str = DEFAULT_INPUT_SIZE_FLAG, help: str = "network input HxW"
):
    _string(module, "input_size", default, f"{help} (e.g. {DEFAULT_INPUT_SIZE_FLAG})")


def image(module: str, default: str | None = None, help: str = "input image file (PNG, JPEG, ...)"):
    _string(module, "image", default, help)


def output(module: str, default: str | None = None, help: str = "output file"):
    _string(module, "output", default, help + ("" if default else " (required)"))


def baseline_data(module: str) -> None:
    """--baseline_data_dir / --baseline_max_samples: where the trivial baselines'
    statistics come from (hand3d_tf.evaluation.baselines)."""
    _string(module, "baseline_data_dir", None, "RHD-layout dataset whose TRAINING split gives "
            "the baseline statistics (default: --data_dir)")  # fmt: skip
    flags.DEFINE_integer("baseline_max_samples", None, "baseline statistics from the first N "
                         "training samples", lower_bound=1, module_name=module)  # fmt: skip


def backend(module: str, help: str | None = None) -> None:
    """--backend: how ColorHandPose3D runs its nets (docs/pipeline.md, "Backends")."""
    flags.DEFINE_enum("backend", "auto", BACKENDS, help or "tflite: the weights folder's "
                      "<net>_<mode>.tflite (no TensorFlow); keras: its <net>.npz; auto: tflite "
                      "when the folder holds them", module_name=module)  # fmt: skip


def max_image_pixels(module: str) -> None:
    """--max_image_pixels: the largest image any reader of the tool decodes (hand3d_tf.images;
    ``app.run`` applies it before ``main``)."""
    from hand3d_tf.images import DEFAULT_MAX_PIXELS

    flags.DEFINE_integer("max_image_pixels", DEFAULT_MAX_PIXELS, "refuse images whose header "
                         "declares more pixels than this (decompression bombs), before decoding",
                         lower_bound=1, module_name=module)  # fmt: skip


def deprecated_alias(module: str, old: str, new: str) -> None:
    """Define ``--old`` as a deprecated spelling of the string flag ``--new``."""
    _string(module, old, None, f"deprecated spelling of --{new} (removed in the next release)")


def value(new: str, old: str | None = None):
    """The value of ``--new``, or of its deprecated spelling ``--old`` (with a warning).

    Giving both is a user error.
    """
    if old is None or not FLAGS[old].present:
        return FLAGS[new].value
    if FLAGS[new].present:
        raise UserError(f"--{old} is the deprecated spelling of --{new}; give only --{new}")
    print(f"warning: --{old} is deprecated; use --{new}", file=sys.stderr)
    return FLAGS[old].value


def hw(text, name: str = "--input_size") -> tuple[int, int]:
    """``"240x320"`` or ``"240,320"`` -> (240, 320); a UserError naming the flag otherwise."""
    parts = re.split(r"[x,]", str(text).strip())
    try:
        height, width = (int(p.strip()) for p in parts)
    except ValueError:
        raise UserError(f"{name} must be HxW (e.g. 240x320); received {text!r}") from None
    if height <= 0 or width <= 0:
        raise UserError(f"{name} must be positive; received {text!r}")
    return height, width
