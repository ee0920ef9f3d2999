"""Start a run as hand3d-train does: preset + overrides -> TrainConfig, cheap checks, train.

    from hand3d_tf.training import launch
    config = launch.resolve_config("posenet", dataset="synthetic", data_dir="data/synth",
                                   output_dir="runs/pn", num_steps=2000)
    launch.check_output_dir(config)      # no TensorFlow yet: another run's folder, --resume
    result = launch.run(config)          # SIGTERM checkpoints like Ctrl-C
    print(launch.describe(config, result))

Importing this module imports no TensorFlow: ``run`` loads the trainer.
"""

from __future__ import annotations

from hand3d_tf.signals import Interrupted, sigterm_as_interrupt  # noqa: F401  (run's)
from hand3d_tf.training import checkpoints as ckpt
from hand3d_tf.training import presets
from hand3d_tf.training.checkpoints import OutputDirError  # noqa: F401  (check_output_dir's)
from hand3d_tf.training.presets import TrainConfig

# The final evaluation's numbers that describe() shows.
SHOWN_EVALUATION = ("epe_mean", "epe_median", "auc", "hand_iou", "pixel_accuracy", "unit")


def resolve_config(
    net: str,
    *,
    preset: str | None = None,
    dataset: str | None = None,
    lifting_variant: str | None = None,
    smoke: bool = False,
    **overrides,
) -> TrainConfig:
    """The TrainConfig of a run: a preset, then the smoke overrides, then ``overrides``.

    preset: None = the paper recipe for ``net`` / ``dataset`` (the compact recipe for
        synthetic data, presets.default_preset).
    dataset, lifting_variant: None = the preset's; without a preset, rhd (synthetic with
        ``smoke``) and proposed.
    overrides: TrainConfig fields; None keeps the preset's value. A new ``learning_rates``
        without ``lr_boundaries`` replaces the whole schedule (no boundaries).
    Raises ValueError naming the value and the allowed set (presets.make_config).
    """
    chosen = dataset or ("synthetic" if smoke else "rhd")
    name = preset or presets.default_preset(net, chosen, lifting_variant or "proposed")
    values = dict(overrides, net=net)
    if net == "lifting":
        values["lifting_variant"] = lifting_variant
    if dataset is not None or preset is None:  # with a preset only a given dataset overrides
        values["dataset"] = chosen
    if values.get("learning_rates") is not None and values.get("lr_boundaries") is None:
        values["lr_boundaries"] = ()
    return presets.make_config(name, smoke=smoke, **values)


def check_output_dir(config: TrainConfig) -> list[str]:
    """OutputDirError unless ``config.output_dir`` can hold this run (no TensorFlow): not a
    file, writable, no checkpoints of another run, a checkpoint to continue with ``resume``.
    Returns the checkpoints to resume from, newest first."""
    return ckpt.check_output_dir(config)


def input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions ``run`` raises for bad input (files, checkpoints, weights), as opposed
    to bugs. Imports the modules that define them (TensorFlow among them)."""
    from hand3d_tf import safe_pickle
    from hand3d_tf import weights as weight_io
    from hand3d_tf.training.inputs import NoSamplesError

    return (
        ckpt.OutputDirError, ckpt.CheckpointError, NoSamplesError, FileNotFoundError,
        weight_io.WeightMismatchError, weight_io.WeightsFileError, safe_pickle.UnsafePickleError,
    )  # fmt: skip


def run(config: TrainConfig, data=None, on_step=None):
    """``trainer.train(config, data, on_step)`` with SIGTERM handled like Ctrl-C: a
    checkpoint of the current step is written, then Interrupted (SIGTERM) or
    KeyboardInterrupt is raised. Returns the TrainResult; raises trainer.NonFiniteLossError
    and ``input_errors()``."""
    from hand3d_tf.training.trainer import train

    with sigterm_as_interrupt():
        return train(config, data=data, on_step=on_step)


def describe(config: TrainConfig, result) -> str:
    """What a finished run did, a few lines for the terminal."""
    lines = [f"{config.run_name}: trained steps {result.start_step}..{result.step}"]
    if result.probe_loss_start is not None:
        lines.append(
            f"  probe-batch loss {result.probe_loss_start:.5g} -> {result.probe_loss_end:.5g}"
        )
    lines.append(f"  last checkpoint: {result.last_checkpoint}")
    lines.append(f"  weights: {result.weights_path}")
    if result.init_report:
        report = result.init_report
        lines.append(f"  initialised from: {report['source']} ({report['kind']})")
    if result.evaluation:
        shown = {k: result.evaluation[k] for k in SHOWN_EVALUATION if k in result.evaluation}
        lines.append(f"  evaluation: {shown}")
    return "\n".join(lines)


def presets_table() -> str:
    """One line per preset: width, steps and the learning-rate schedule."""
    lines = []
    for name in presets.preset_names():
        p = presets.PRESETS[name]
        rates = ",".join(f"{v:g}" for v in p["learning_rates"])
        bounds = ",".join(str(b) for b in p["lr_boundaries"]) or "-"
        lines.append(
            f"{name:44s} width {p.get('width', 1.0):<6g} steps {p['num_steps']:<6d} "
            f"lr {rates} at {bounds}"
        )
    return "\n".join(lines)
