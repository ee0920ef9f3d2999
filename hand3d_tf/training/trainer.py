"""The custom training loop: ``train(config) -> TrainResult``.

One ``tf.function`` step runs under any tf.distribute strategy: each replica computes its
share of the global loss (losses.py), gradients are summed across replicas by the optimizer,
so the update equals the single-device update on the whole batch. The learning-rate
schedule reads ``optimizer.iterations``, which is checkpointed with the optimizer, so a
resumed run continues its schedule exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import os
import time

import numpy as np
import tensorflow as tf

from hand3d_tf.keras import keras
from hand3d_tf.training import checkpoints as ckpt
from hand3d_tf.training import losses
from hand3d_tf.training.initialization import build_model, initialize, model_config
from hand3d_tf.training.presets import TrainConfig
from hand3d_tf.training.strategy import (
    is_chief,
    make_strategy,
    precision_policy,
    resolve_precision,
)
from hand3d_tf.training.summaries import SummaryLogger

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; ``step`` is the failing step, the last good checkpoint is kept."""

    def __init__(self, step: int, loss: float, last_checkpoint: str | None):
        self.step, self.loss, self.last_checkpoint = step, loss, last_checkpoint
        kept = last_checkpoint or "none written yet"
        super().__init__(
            f"loss became {loss} at step {step}; training stopped, last good checkpoint: {kept}"
        )


class OutputDirError(ValueError):
    """The output directory holds a run this one must not overwrite or cannot resume."""


@dataclasses.dataclass
class TrainResult:
    """What a run did. ``losses``: the training loss of each step run by this call."""

    output_dir: str
    start_step: int
    step: int
    losses: list
    probe_loss_start: float | None
    probe_loss_end: float | None
    last_checkpoint: str | None
    evaluation: dict | None
    init_report: dict | None
    weights_path: str | None
    model: object = dataclasses.field(repr=False, default=None)


def forward(model, net: str, inputs: dict, training: bool):
    """Run the model on a pipeline ``inputs`` dict."""
    if net == "lifting":
        return model([inputs["scoremap"], inputs["hand_side"]], training=training)
    return model(inputs["image"], training=training)


def compute_loss(
    config: TrainConfig, outputs, targets: dict, global_batch_size=None, num_visible=None
) -> dict:
    """The net's loss dict (losses.py) as this replica's share of the global batch.

    num_visible (PoseNet): visible keypoints of the whole global batch; None: of ``targets``.
    """
    if config.net == "handsegnet":
        return losses.handsegnet_loss(outputs, targets["hand_mask"], global_batch_size)
    if config.net == "posenet":
        return losses.posenet_loss(
            outputs, targets["scoremap"], targets["keypoint_vis"], num_visible
        )
    return losses.lifting_loss(config.lifting_variant, outputs, targets, global_batch_size)


def make_optimizer(config: TrainConfig, policy: str = "float32"):
    """Adam with TF defaults (facts §9) on the piecewise-constant schedule."""
    values, boundaries = config.effective_schedule()
    if boundaries:
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(list(boundaries), list(values))
    else:
        rate = values[0]
    optimizer = keras.optimizers.Adam(learning_rate=rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    if policy == "mixed_float16":  # float16's narrow exponent range needs loss scaling
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def current_learning_rate(config: TrainConfig, step: int) -> float:
    """The rate used by step ``step`` (0-based), as PiecewiseConstantDecay computes it."""
    values, boundaries = config.effective_schedule()
    for value, boundary in zip(values, boundaries):
        if step <= boundary:
            return value
    return values[-1]


def _prepare_output_dir(config: TrainConfig, chief: bool, precision=None) -> str | None:
    """Refuse an output dir of another run; return the checkpoint folder to resume, if any."""
    if not config.output_dir:
        raise OutputDirError("output_dir is empty; give the folder for checkpoints and logs")
    ckpt_dir = os.path.join(config.output_dir, ckpt.CHECKPOINT_SUBDIR)
    existing = ckpt.list_checkpoints(ckpt_dir)
    if existing:
        latest_step, latest = existing[-1]
        saved = TrainConfig.from_dict(
            ckpt.read_json(os.path.join(latest, ckpt.META_FILE))["config"]
        )
        if not config.resume:
            raise OutputDirError(
                f"output dir {config.output_dir} already holds checkpoints of run "
                f"{saved.run_name} (preset {saved.preset}, width {saved.width}) up to step "
                f"{latest_step}; pass --resume to continue it or choose another --output_dir"
            )
        diffs = config.resume_differences(saved)
        if diffs:
            listed = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (b, a) in diffs.items())
            raise OutputDirError(
                f"cannot resume in {config.output_dir}: it holds a {saved.run_name} run with a "
                f"different config ({listed}); resume with the saved values or use another "
                "--output_dir"
            )
    if chief:
        os.makedirs(config.output_dir, exist_ok=True)
        ckpt.write_json_atomic(
            os.path.join(config.output_dir, ckpt.CONFIG_FILE), _resolved(config, precision)
        )
    return existing[-1][1] if existing and config.resume else None


def _resolved(config: TrainConfig, precision=None) -> dict:
    from hand3d_tf import __version__

    values, boundaries = config.effective_schedule()
    return {
        "train": config.to_dict(),
        "effective": {
            "learning_rates": list(values),
            "lr_boundaries": list(boundaries),
            "lifting_dropout": config.effective_dropout() if config.net == "lifting" else None,
            # (policy, why): what "auto" chose on this machine, logged for every run.
            "precision": None if precision is None else precision[0],
            "precision_reason": None if precision is None else precision[1],
        },
        "model": {"net": config.net, "config": model_config(config).to_dict()},
        "hand3d_tf": __version__,
        "tensorflow": tf.__version__,
    }


def train(config: TrainConfig, data=None, on_step=None) -> TrainResult:
    """Train ``config.net``; returns a TrainResult.

    data: a hand3d_tf.training.inputs.TrainData; default: built from ``config``
        (the smoke arrays for ``config.smoke``, else the dataset pipelines).
    on_step: optional callable(step, loss_dict) after each step (tests use it to simulate
        a crash); an exception from it propagates, the checkpoints written so far remain.
    Raises NonFiniteLossError, OutputDirError, ValueError for bad configs.
    """
    from hand3d_tf.training import inputs as inputs_lib

    config.validate()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy)
    chief = is_chief(strategy)
    precision = resolve_precision(config.requested_precision())
    log.info("precision %s (%s)", *precision)
    resume_from = _prepare_output_dir(config, chief, precision)
    data = data if data is not None else inputs_lib.make_data(config)
    global_batch = config.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch_size {global_batch} must be divisible by the "
            f"{strategy.num_replicas_in_sync} replicas of strategy {config.strategy!r}"
        )

    with strategy.scope():
        with precision_policy(precision[0]):
            model = build_model(config)
        optimizer = make_optimizer(config, precision[0])
        optimizer.build(model.trainable_variables)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = ckpt.CheckpointManager(
        os.path.join(config.output_dir, ckpt.CHECKPOINT_SUBDIR),
        checkpoint,
        keep=config.keep_checkpoints,
        is_chief=chief,
    )
    init_report = None
    if resume_from:
        ckpt.restore_checkpoint(checkpoint, resume_from)
        log.info("resumed from %s at step %d", resume_from, int(optimizer.iterations.numpy()))
        init_report = {"source": resume_from, "kind": "resume"}
    elif config.init_weights:
        init_report = initialize(model, config.net, config.init_weights)
        log.info(
            "initialised from %s: %d layers", config.init_weights, len(init_report["loaded_layers"])
        )
    if init_report and chief:
        ckpt.write_json_atomic(os.path.join(config.output_dir, "init_report.json"), init_report)

    start_step = int(optimizer.iterations.numpy())
    dataset = data.train(start_step)
    probe_inputs, probe_targets = next(iter(data.train(0)))
    dist_iter = iter(strategy.experimental_distribute_dataset(dataset))
    train_step = _make_train_step(config, model, optimizer, strategy, global_batch, precision[0])
    probe_loss = _probe_loss(config, model, probe_inputs, probe_targets)
    probe_start = probe_loss()

    summaries = SummaryLogger(config, chief)
    history, last_saved = [], manager.latest()
    meta = {"net": config.net, "run_name": config.run_name, "config": config.to_dict()}
    step = start_step
    bar = _progress(config, chief, start_step)
    started = time.perf_counter()
    try:
        while step < config.num_steps:
            values = {k: float(v) for k, v in train_step(dist_iter).items()}
            step = int(optimizer.iterations.numpy())
            loss = values["loss"]
            if not math.isfinite(loss):
                raise NonFiniteLossError(step, loss, last_saved)
            history.append(loss)
            lr = current_learning_rate(config, step - 1)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.1e}")
            if bar is None and chief and step % config.log_every == 0:
                _log_progress(step, config.num_steps, start_step, loss, lr, started)
            summaries.scalars(step, values, lr)
            if step % config.image_every == 0:
                summaries.images(step, model, probe_inputs, probe_targets)
            if step % config.checkpoint_every == 0 or step >= config.num_steps:
                last_saved = manager.save(step, dict(meta, loss=loss, created=_now()))
            if on_step is not None:
                on_step(step, values)
    except KeyboardInterrupt:
        # Ctrl-C / SIGTERM usually lands while a step runs: the step then completes (the
        # optimizer counter tells how many) before its loss was checked, so the weights are
        # checked for NaN/inf instead.
        done = int(optimizer.iterations.numpy())
        if done > 0 and all(np.all(np.isfinite(w)) for w in model.get_weights()):
            last_saved = manager.save(done, dict(meta, created=_now(), interrupted=True))
            log.warning("interrupted at step %d; checkpoint %s written", done, last_saved)
        raise
    finally:
        if bar is not None:
            bar.close()
        summaries.close()

    probe_end = probe_loss()
    weights_path = _export_weights(config, model, step) if chief else None
    evaluation = None
    if config.evaluate and data.evaluation is not None:
        from hand3d_tf.training.final_eval import evaluate_and_write

        evaluation = evaluate_and_write(config, model, data.evaluation(), chief)
    return TrainResult(
        output_dir=config.output_dir,
        start_step=start_step,
        step=step,
        losses=history,
        probe_loss_start=probe_start,
        probe_loss_end=probe_end,
        last_checkpoint=last_saved,
        evaluation=evaluation,
        init_report=init_report,
        weights_path=weights_path,
        model=model,
    )


def _make_train_step(config, model, optimizer, strategy, global_batch, policy="float32"):
    mixed = policy == "mixed_float16"  # loss scaling; bfloat16 steps need none

    def replica_step(inputs, targets, num_visible):
        with tf.GradientTape() as tape:
            outputs = forward(model, config.net, inputs, training=True)
            terms = compute_loss(config, outputs, targets, global_batch, num_visible)
            scaled = optimizer.get_scaled_loss(terms["loss"]) if mixed else terms["loss"]
        grads = tape.gradient(scaled, model.trainable_variables)
        if mixed:
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return terms

    def count_visible(targets):
        return tf.reduce_sum(tf.cast(targets["keypoint_vis"], tf.float32))

    @tf.function
    def train_step(iterator):
        inputs, targets = next(iterator)
        num_visible = tf.constant(0.0)
        if config.net == "posenet":
            # The PoseNet loss divides by the visible keypoints of the GLOBAL batch. It is
            # summed here, in cross-replica context, before the step: an all-reduce inside
            # the replica function would interleave with the gradient all-reduce.
            num_visible = strategy.reduce(
                tf.distribute.ReduceOp.SUM, strategy.run(count_visible, args=(targets,)), axis=None
            )
        per_replica = strategy.run(replica_step, args=(inputs, targets, num_visible))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    return train_step


def _probe_loss(config, model, inputs, targets):
    """Loss of the model (inference mode) on one fixed batch: the 'does it learn' number."""

    def run() -> float:
        outputs = forward(model, config.net, inputs, training=False)
        return float(compute_loss(config, outputs, targets)["loss"])

    return run


def _progress(config, chief, start_step):
    if not (config.progress and chief):
        return None
    from tqdm import tqdm

    return tqdm(
        total=config.num_steps,
        initial=start_step,
        desc=config.run_name,
        unit="step",
        dynamic_ncols=True,
    )


def _log_progress(step, num_steps, start_step, loss, lr, started) -> None:
    """The progress bar's numbers as a log line, for runs without a terminal."""
    elapsed = time.perf_counter() - started
    rate = (step - start_step) / max(elapsed, 1e-9)
    eta = datetime.timedelta(seconds=int((num_steps - step) / max(rate, 1e-9)))
    log.info(
        "step %d/%d loss %.5g lr %.1e %.2f steps/s ETA %s", step, num_steps, loss, lr, rate, eta
    )


def _export_weights(config, model, step: int) -> str:
    """The trained net in the project's weights format: <export_dir>/<net>.npz + .json.

    export_dir defaults to <output_dir>/weights; a folder holding the three nets' files is
    a weights directory for ColorHandPose3D.from_weights_dir / hand3d-predict --weights.
    """
    from hand3d_tf import weights as weight_io

    folder = config.export_dir or os.path.join(config.output_dir, "weights")
    provenance = {
        "trained_by": "hand3d-train",
        "run_name": config.run_name,
        "preset": config.preset,
        "step": int(step),
        "output_dir": config.output_dir,
        # A continued run's lineage: the weights its step 0 started from (None = scratch).
        "init_weights": config.init_weights,
    }
    npz, _ = weight_io.save_weights(
        os.path.join(folder, config.net),
        model,
        model_config(config).to_dict(),
        provenance=provenance,
    )
    return str(npz)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
