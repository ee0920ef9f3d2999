"""hand3d-train: train HandSegNet, PoseNet or a lifting network (docs/original.md §9).

    hand3d-train --net=posenet --dataset=rhd --data_dir=RHD_published_v2 --output_dir=runs/pn
    hand3d-train --net=lifting --lifting_variant=direct --data_dir=RHD --output_dir=runs/lift
    hand3d-train --net=handsegnet --smoke --output_dir=/tmp/smoke        # seconds, no data
    hand3d-train --net=posenet --output_dir=runs/pn --resume --num_steps=40000
    hand3d-train --list_presets

Without --preset the paper recipe for --net/--dataset is used (the compact recipe for
--dataset=synthetic); flags given explicitly override the preset's values.

Exit status: 0 done; 2 a user error (one line on stderr naming the flag or file, checked
before TensorFlow loads where possible: flags, --output_dir, --resume without a
checkpoint); 3 the loss became NaN/inf (the line names the last good checkpoint); 130 / 143
interrupted by SIGINT / SIGTERM (a checkpoint of the current step is written first).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys

from absl import flags

from hand3d_tf.cli.errors import UserError, check_output_dir, user_errors
from hand3d_tf.cli.errors import run as run_cli
from hand3d_tf.training import presets

_OVR = {"allow_override": True}
flags.DEFINE_enum("net", None, list(presets.NETS), "network to train", **_OVR)
flags.DEFINE_enum(
    "lifting_variant",
    "proposed",
    list(presets.LIFTING_VARIANTS),
    "lifting variant (docs/original.md §3)",
    **_OVR,
)
flags.DEFINE_enum(
    "dataset",
    None,
    list(presets.DATASETS),
    "training data (default rhd; synthetic with --smoke)",
    **_OVR,
)
flags.DEFINE_string("data_dir", "", "dataset root (RHD layout for rhd/synthetic, STB root)", **_OVR)
flags.DEFINE_string("output_dir", None, "checkpoints, logs, config.json, eval/", **_OVR)
flags.DEFINE_string(
    "export_dir", None, "where <net>.npz/json go (default output_dir/weights)", **_OVR
)
flags.DEFINE_string("preset", None, "named recipe (see --list_presets)", **_OVR)
flags.DEFINE_bool("list_presets", False, "print the presets and exit", **_OVR)
flags.DEFINE_integer(
    "num_steps", None, "total training steps (a resumed run continues to it)", **_OVR
)
flags.DEFINE_integer("batch_size", None, "global batch size (paper: 8)", **_OVR)
flags.DEFINE_list("learning_rates", None, "piecewise-constant values, e.g. 1e-4,1e-5,1e-6", **_OVR)
flags.DEFINE_list("lr_boundaries", None, "steps where the rate changes, e.g. 10000,20000", **_OVR)
flags.DEFINE_float("width", None, "channel-width multiplier (1.0 = paper)", **_OVR)
flags.DEFINE_integer("image_size", None, "PoseNet crop side / smoke image side", **_OVR)
flags.DEFINE_bool("lifting_dropout", None, "dropout in the lifting FC layers (preset: on)", **_OVR)
flags.DEFINE_bool(
    "released_behaviour",
    False,
    "reproduce the released scripts: learning rate fixed at its first value, lifting "
    "dropout off (docs/original.md §11.1-2)",
    **_OVR,
)
flags.DEFINE_string(
    "init_weights", None, "released .pickle, weights .npz/DIR or checkpoint", **_OVR
)
flags.DEFINE_bool("resume", False, "continue from the latest checkpoint in output_dir", **_OVR)
flags.DEFINE_enum("strategy", "default", list(presets.STRATEGIES), "tf.distribute strategy", **_OVR)
flags.DEFINE_enum(
    "precision",
    "auto",
    list(presets.PRECISIONS),
    "numeric precision: auto = mixed_float16 on CUDA GPUs of compute capability >= 7.0, "
    "mixed_bfloat16 on CPUs with AMX-BF16/AVX512-BF16, else float32",
    **_OVR,
)
flags.DEFINE_bool(
    "mixed_precision", False, "deprecated spelling of --precision=mixed_float16", **_OVR
)
flags.DEFINE_bool("smoke", False, "tiny net, a few steps on 4 generated samples", **_OVR)
flags.DEFINE_integer("checkpoint_every", None, "steps between checkpoints", **_OVR)
flags.DEFINE_integer("keep_checkpoints", None, "how many checkpoints to keep", **_OVR)
flags.DEFINE_integer("log_every", None, "steps between TensorBoard scalars", **_OVR)
flags.DEFINE_integer("image_every", None, "steps between TensorBoard images", **_OVR)
flags.DEFINE_integer("seed", None, "random seed", **_OVR)
flags.DEFINE_bool("deterministic", None, "deterministic ops and data order", **_OVR)
flags.DEFINE_bool("evaluate", None, "evaluate on the held-out split at the end", **_OVR)
flags.DEFINE_integer("eval_max_samples", None, "limit the final evaluation", **_OVR)
flags.DEFINE_integer("num_samples", None, "use only the first N training samples", **_OVR)
flags.DEFINE_bool("progress", True, "show a progress bar", **_OVR)
FLAGS = flags.FLAGS


def _numbers(values, kind, name):
    if values is None:
        return None
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise UserError(
            f"--{name} must be a comma-separated list of numbers; received {','.join(values)}"
        ) from None


def _learning_rates():
    rates = _numbers(FLAGS.learning_rates, float, "learning_rates")
    if rates is not None and not all(math.isfinite(r) and r > 0 for r in rates):
        raise UserError(
            f"--learning_rates must be finite numbers > 0; received {','.join(FLAGS.learning_rates)}"
        )
    return rates


def _given(name: str) -> bool:
    return bool(FLAGS[name].present) or not FLAGS.preset


def config_from_flags() -> presets.TrainConfig:
    """The TrainConfig the flags describe (preset, then smoke, then explicit flags)."""
    if FLAGS.net is None:
        raise UserError(f"--net is required: one of {', '.join(presets.NETS)}")
    check_output_dir(FLAGS.output_dir)
    dataset = FLAGS.dataset or ("synthetic" if FLAGS.smoke else "rhd")
    name = FLAGS.preset or presets.default_preset(FLAGS.net, dataset, FLAGS.lifting_variant)
    overrides = dict(
        net=FLAGS.net,
        # With --preset, only explicitly given flags override it.
        lifting_variant=FLAGS.lifting_variant
        if FLAGS.net == "lifting" and _given("lifting_variant")
        else None,
        dataset=dataset if _given("dataset") else None,
        data_dir=FLAGS.data_dir,
        output_dir=FLAGS.output_dir,
        export_dir=FLAGS.export_dir,
        num_steps=FLAGS.num_steps,
        batch_size=FLAGS.batch_size,
        learning_rates=_learning_rates(),
        lr_boundaries=_numbers(FLAGS.lr_boundaries, int, "lr_boundaries"),
        width=FLAGS.width,
        image_size=FLAGS.image_size,
        lifting_dropout=FLAGS.lifting_dropout,
        released_behaviour=FLAGS.released_behaviour,
        init_weights=FLAGS.init_weights,
        resume=FLAGS.resume,
        strategy=FLAGS.strategy,
        precision=FLAGS.precision,
        mixed_precision=FLAGS.mixed_precision,
        checkpoint_every=FLAGS.checkpoint_every,
        keep_checkpoints=FLAGS.keep_checkpoints,
        log_every=FLAGS.log_every,
        image_every=FLAGS.image_every,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        evaluate=FLAGS.evaluate,
        eval_max_samples=FLAGS.eval_max_samples,
        num_samples=FLAGS.num_samples,
        progress=FLAGS.progress,
    )
    if FLAGS.learning_rates is not None and FLAGS.lr_boundaries is None:
        overrides["lr_boundaries"] = ()  # a new list of rates replaces the whole schedule
    return presets.make_config(name, smoke=FLAGS.smoke, **overrides)


class _Signal(KeyboardInterrupt):
    """SIGTERM as a KeyboardInterrupt (the trainer checkpoints on it), remembering which."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _interrupt(signum, frame):
    raise _Signal(signum)


def _print_presets() -> None:
    for name in presets.preset_names():
        p = presets.PRESETS[name]
        rates = ",".join(f"{v:g}" for v in p["learning_rates"])
        bounds = ",".join(str(b) for b in p["lr_boundaries"]) or "-"
        print(
            f"{name:44s} width {p.get('width', 1.0):<6g} steps {p['num_steps']:<6d} "
            f"lr {rates} at {bounds}"
        )


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.list_presets:
        _print_presets()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Every cheap check runs before TensorFlow is imported (the trainer's import).
    with user_errors(ValueError):
        config = config_from_flags()
    from hand3d_tf.training import checkpoints as ckpt

    with user_errors(ckpt.OutputDirError):
        ckpt.check_output_dir(config)
    if config.init_weights and not os.path.exists(config.init_weights):
        raise UserError(f"--init_weights={config.init_weights}: no such file or folder")

    from hand3d_tf import safe_pickle
    from hand3d_tf import weights as weight_io
    from hand3d_tf.training.inputs import NoSamplesError
    from hand3d_tf.training.trainer import NonFiniteLossError, train

    # A preempted job gets SIGTERM: turn it into KeyboardInterrupt, on which the trainer
    # writes a checkpoint of the current step before exiting.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with user_errors(
            ckpt.OutputDirError, ckpt.CheckpointError, NoSamplesError, FileNotFoundError,
            weight_io.WeightMismatchError, weight_io.WeightsFileError,
            safe_pickle.UnsafePickleError,
        ):  # fmt: skip
            result = train(config)
    except NonFiniteLossError as err:
        print(f"hand3d-train: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as err:
        signum = getattr(err, "signum", signal.SIGINT)
        print(
            f"hand3d-train: interrupted by {signal.Signals(signum).name}; continue with "
            f"--resume --output_dir={config.output_dir}",
            file=sys.stderr,
        )
        return 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"{config.run_name}: trained steps {result.start_step}..{result.step}")
    if result.probe_loss_start is not None:
        print(f"  probe-batch loss {result.probe_loss_start:.5g} -> {result.probe_loss_end:.5g}")
    print(f"  last checkpoint: {result.last_checkpoint}")
    print(f"  weights: {result.weights_path}")
    if result.init_report:
        print(f"  initialised from: {result.init_report['source']} ({result.init_report['kind']})")
    if result.evaluation:
        shown = {
            k: result.evaluation[k]
            for k in ("epe_mean", "epe_median", "auc", "hand_iou", "pixel_accuracy", "unit")
            if k in result.evaluation
        }
        print(f"  evaluation: {shown}")
    return 0


def run():
    run_cli(main, "hand3d-train")


if __name__ == "__main__":
    run()
