"""hand3d-train: train HandSegNet, PoseNet or a lifting network (docs/original.md §9).

Examples:
  hand3d-train --net=posenet --dataset=rhd --data_dir=RHD_published_v2 --output_dir=runs/pn
  hand3d-train --net=lifting --lifting_variant=direct --data_dir=RHD --output_dir=runs/lift
  hand3d-train --net=handsegnet --smoke --output_dir=/tmp/smoke        # seconds, no data
  hand3d-train --net=posenet --output_dir=runs/pn --resume --num_steps=40000
  hand3d-train --list_presets

Without --preset the paper recipe for --net/--dataset is used (the compact recipe for
--dataset=synthetic); flags given explicitly override the preset's values (docs/training.md).

Exit status: 0 done; 2 a user error (one line on stderr naming the flag or file, checked
before TensorFlow loads where possible: flags, --output_dir, --resume without a
checkpoint); 3 the loss became NaN/inf, or the final weights' loss blew up (the line names
the last good checkpoint, and why later ones were not kept: hand3d_tf/training/divergence.py);
130 / 143 interrupted by SIGINT / SIGTERM (a checkpoint of the current step is written first).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import sys

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_output_dir, user_errors
from hand3d_tf.constants import NETS
from hand3d_tf.training import launch, presets

FLAGS = flags.FLAGS
EXIT_NON_FINITE = 3


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)

    def string(name, help):
        flags.DEFINE_string(name, None, help, module_name=m)

    def integer(name, help):
        flags.DEFINE_integer(name, None, help, module_name=m)

    def boolean(name, default, help):
        flags.DEFINE_bool(name, default, help, module_name=m)

    shared_flags.net(m, help="network to train (required)")
    shared_flags.lifting_variant(m, default="proposed")
    shared_flags.dataset(
        m, default=None, help="training data (default rhd; synthetic with --smoke)"
    )
    shared_flags.data_dir(m, help="dataset root (RHD layout for rhd/synthetic, STB root)")
    shared_flags.output_dir(m, help="checkpoints, logs, config.json, eval/")
    string("export_dir", "where <net>.npz/json go (default output_dir/weights)")
    string("preset", "named recipe (see --list_presets)")
    boolean("list_presets", False, "print the presets and exit")
    integer("num_steps", "total training steps (a resumed run continues to it)")
    shared_flags.batch_size(m, default=None, help="global batch size (paper: 8)")
    flags.DEFINE_list("learning_rates", None, "piecewise-constant values, e.g. 1e-4,1e-5,1e-6",
                      module_name=m)  # fmt: skip
    flags.DEFINE_list("lr_boundaries", None, "steps where the rate changes, e.g. 10000,20000",
                      module_name=m)  # fmt: skip
    flags.DEFINE_float("width", None, "channel-width multiplier (1.0 = paper)", module_name=m)
    integer("image_size", "PoseNet crop side / smoke image side")
    boolean("lifting_dropout", None, "dropout in the lifting FC layers (preset: on)")
    boolean("released_behaviour", False, "reproduce the released scripts: learning rate fixed "
            "at its first value, lifting dropout off (docs/original.md §11.1-2)")  # fmt: skip
    string("init_weights", "released .pickle, weights .npz/DIR or checkpoint")
    boolean("resume", False, "continue from the latest checkpoint in output_dir")
    flags.DEFINE_enum("strategy", "default", presets.STRATEGIES, "tf.distribute strategy",
                      module_name=m)  # fmt: skip
    flags.DEFINE_enum("precision", "auto", presets.PRECISIONS,
                      "numeric precision: auto = float32 for the paper's recipe (its presets, "
                      "--released_behaviour), else mixed_float16 on CUDA GPUs of compute "
                      "capability >= 7.0, mixed_bfloat16 on CPUs with AMX-BF16/AVX512-BF16, "
                      "else float32", module_name=m)  # fmt: skip
    boolean("mixed_precision", False, "deprecated spelling of --precision=mixed_float16")
    boolean("smoke", False, "tiny net, a few steps on 4 generated samples")
    integer("checkpoint_every", "steps between checkpoints")
    integer("keep_checkpoints", "how many checkpoints to keep")
    integer("log_every", "steps between TensorBoard scalars")
    integer("image_every", "steps between TensorBoard images")
    shared_flags.seed(m, default=None)
    boolean("deterministic", None, "deterministic ops and data order")
    boolean("evaluate", None, "evaluate on the held-out split at the end")
    integer("eval_max_samples", "limit the final evaluation")
    integer("num_samples", "use only the first N training samples")
    boolean("progress", True, "show a progress bar")


def numbers(values, kind, name: str):
    """A list flag's strings as numbers of ``kind`` (None stays None); a UserError naming
    ``--name`` otherwise."""
    if values is None:
        return None
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise UserError(
            f"--{name} must be a comma-separated list of numbers; received {','.join(values)}"
        ) from None


@dataclasses.dataclass(frozen=True)
class TrainCommand:
    """hand3d-train's command line, validated. None: not given (the preset's value).

    The fields after ``smoke`` are TrainConfig fields (presets.TrainConfig documents them).
    """

    net: str | None
    preset: str | None
    dataset: str | None
    lifting_variant: str | None  # None: the preset's (without --preset: proposed)
    smoke: bool
    list_presets: bool
    data_dir: str | None
    output_dir: str | None
    export_dir: str | None
    num_steps: int | None
    batch_size: int | None
    learning_rates: tuple[float, ...] | None
    lr_boundaries: tuple[int, ...] | None
    width: float | None
    image_size: int | None
    lifting_dropout: bool | None
    released_behaviour: bool
    init_weights: str | None
    resume: bool
    strategy: str
    precision: str
    mixed_precision: bool
    checkpoint_every: int | None
    keep_checkpoints: int | None
    log_every: int | None
    image_every: int | None
    seed: int | None
    deterministic: bool | None
    evaluate: bool | None
    eval_max_samples: int | None
    num_samples: int | None
    progress: bool

    def __post_init__(self):
        if self.list_presets:
            return
        if self.net is None:
            raise UserError(f"--net is required: one of {', '.join(NETS)}")
        rates = self.learning_rates
        if rates is not None and not all(math.isfinite(r) and r > 0 for r in rates):
            shown = ",".join(f"{r:g}" for r in rates)
            raise UserError(f"--learning_rates must be finite numbers > 0; received {shown}")

    @classmethod
    def from_flags(cls, values=FLAGS) -> TrainCommand:
        kwargs = {f.name: values[f.name].value for f in dataclasses.fields(cls)}
        if not values["lifting_variant"].present:
            kwargs["lifting_variant"] = None
        kwargs["learning_rates"] = numbers(kwargs["learning_rates"], float, "learning_rates")
        kwargs["lr_boundaries"] = numbers(kwargs["lr_boundaries"], int, "lr_boundaries")
        return cls(**kwargs)

    def train_config(self) -> presets.TrainConfig:
        """The TrainConfig (launch.resolve_config); ValueError for a bad combination."""
        kwargs = dataclasses.asdict(self)
        del kwargs["list_presets"]
        return launch.resolve_config(**kwargs)


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    command = TrainCommand.from_flags()
    if command.list_presets:
        print(launch.presets_table())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Every cheap check runs before TensorFlow is imported.
    check_output_dir(command.output_dir)
    with user_errors(ValueError):  # an unknown preset, a preset of another net, a bad value
        config = command.train_config()
    with user_errors(launch.OutputDirError):  # another run's checkpoints; --resume, none
        launch.check_output_dir(config)
    if config.init_weights and not os.path.exists(config.init_weights):
        raise UserError(f"--init_weights={config.init_weights}: no such file or folder")

    app.quiet_tensorflow()
    from hand3d_tf.training.trainer import NonFiniteLossError

    try:
        with user_errors(*launch.input_errors()):
            result = launch.run(config)
    except NonFiniteLossError as err:
        print(f"hand3d-train: {err}", file=sys.stderr)
        return EXIT_NON_FINITE
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM as launch.Interrupted
        signum = signal.Signals(getattr(err, "signum", signal.SIGINT))
        print(f"hand3d-train: interrupted by {signum.name}; continue with --resume "
              f"--output_dir={config.output_dir}", file=sys.stderr)  # fmt: skip
        return 128 + signum
    print(launch.describe(config, result))
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
