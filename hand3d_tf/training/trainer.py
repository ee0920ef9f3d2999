"""The custom training loop: ``train(config) -> TrainResult``.

The loop around the step of step.py: output folder, resume or initialisation, atomic
checkpoints committed only once their weights proved finite, TensorBoard summaries, Ctrl-C /
SIGTERM handling, the exported weights and the final evaluation. The learning-rate schedule
reads ``optimizer.iterations``, which is checkpointed with the optimizer, so a resumed run
continues its schedule exactly where it stopped.
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
from hand3d_tf.training import divergence
from hand3d_tf.training.checkpoints import OutputDirError  # noqa: F401  (raised by train)
from hand3d_tf.training.final_eval import evaluate_and_write
from hand3d_tf.training.initialization import build_model, initialize, model_config
from hand3d_tf.training.presets import TrainConfig
from hand3d_tf.training.step import (  # noqa: F401  (forward, compute_loss: benchmarks use them)
    compute_loss,
    current_learning_rate,
    forward,
    make_optimizer,
    make_train_step,
    probe_loss,
)
from hand3d_tf.training.strategy import (
    is_chief,
    make_strategy,
    precision_policy,
    resolve_precision,
)
from hand3d_tf.training.summaries import SummaryLogger

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss (or the weights) became NaN/inf; ``step`` is the failing step.

    ``last_checkpoint`` is the newest checkpoint known good: finite weights whose next
    training loss was finite and sane (divergence.LossMonitor; None if there is none).
    Checkpoints of the steps that led to the failure were never committed; ``why`` says
    why the newest ones were not kept when the loss blew up before it became NaN.
    """

    def __init__(self, step: int, loss: float, last_checkpoint: str | None, detail: str = "",
                 why: str | None = None):  # fmt: skip
        self.step, self.loss, self.last_checkpoint = step, loss, last_checkpoint
        kept = last_checkpoint or "none"
        what = detail or f"loss became {loss} at step {step}"
        because = f" ({why})" if why else ""
        super().__init__(f"{what}; training stopped, last good checkpoint: {kept}{because}")


class DivergedLossError(NonFiniteLossError):
    """The final weights give a finite loss far above the run's running level (the loss
    blew up, divergence.LossMonitor): their checkpoint and weights are not written."""


def _blow_up(event: tuple[int, str] | None) -> str | None:
    """The ``why`` of NonFiniteLossError for the first blown-up loss since the last good
    checkpoint: (step, reason) -> text."""
    if event is None:
        return None
    step, reason = event
    return f"the checkpoints after it were not kept: the loss blew up at step {step}, {reason}"


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


def _prepare_output_dir(config: TrainConfig, chief: bool, precision=None) -> list[str]:
    """Refuse an output dir of another run; return the checkpoints to resume, newest first."""
    candidates = ckpt.check_output_dir(config)
    if chief:
        os.makedirs(config.output_dir, exist_ok=True)
        ckpt.write_json_atomic(
            os.path.join(config.output_dir, ckpt.CONFIG_FILE), _resolved(config, precision)
        )
    return candidates


def _finite_state(model, optimizer) -> bool:
    """Whether every model weight and optimizer slot is finite (what a checkpoint holds)."""
    for variable in list(model.weights) + list(optimizer.variables):
        value = np.asarray(variable.numpy())
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            return False
    return True


def _commit_if_good(manager, pending, meta, model, optimizer, probe_batch_loss,
                    monitor) -> str | None:  # fmt: skip
    """Commit ``pending`` if the current state (its state) is finite and gives a sane
    probe-batch loss (finite, not blown up against ``monitor``); else discard it. For
    checkpoints no next step will verify."""
    try:
        probe = probe_batch_loss() if _finite_state(model, optimizer) else math.nan
    except Exception:  # the run is failing anyway; an unverifiable checkpoint is dropped
        probe = math.nan
    reason = monitor.blown_up(probe)
    if reason is None:
        return manager.commit(pending, dict(meta, probe_loss=probe, recent_losses=monitor.state()))
    manager.discard(pending)
    log.warning("checkpoint of step %d not kept: its weights give a probe-batch %s",
                pending.step, reason)  # fmt: skip
    return None


def _resolved(config: TrainConfig, precision=None) -> dict:
    from hand3d_tf.version import __version__

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
    precision = resolve_precision(config.requested_precision(), paper_recipe=config.paper_recipe())
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
    init_report, resumed, resumed_meta = None, None, {}
    if resume_from:

        def usable(folder):
            if not _finite_state(model, optimizer):
                raise ckpt.CheckpointCorruptError(f"checkpoint {folder} holds NaN or inf")
            why = divergence.checkpoint_blown_up(
                ckpt.read_json(os.path.join(folder, ckpt.META_FILE))
            )
            if why:
                raise ckpt.CheckpointCorruptError(
                    f"checkpoint {folder} was taken after the loss blew up ({why})"
                )

        resumed, resumed_meta = ckpt.restore_newest(
            checkpoint, resume_from, check=usable, set_aside=chief
        )
        log.info("resumed from %s at step %d", resumed, int(optimizer.iterations.numpy()))
        init_report = {"source": resumed, "kind": "resume"}
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
    train_step = make_train_step(config, model, optimizer, strategy, global_batch, precision[0])
    probe_batch_loss = probe_loss(config, model, probe_inputs, probe_targets)
    probe_start = probe_batch_loss()

    summaries = SummaryLogger(config, chief)
    # A checkpoint is written when its step is done but committed only when the loss of
    # the next step (computed from exactly those weights) is finite, or, for the last one,
    # the probe-batch loss: a run that explodes leaves no checkpoint that explodes on resume.
    history, last_good, pending, pending_meta = [], resumed, None, {}
    # The robust level of the recent losses (a resumed run continues its checkpoint's), and
    # the first loss that blew up since the last good checkpoint: (step, why) or None.
    monitor = divergence.LossMonitor(resumed_meta.get("recent_losses", ()))
    blown = None
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
                manager.discard(pending)
                pending = None
                detail = ""
                if resumed is not None and step == start_step + 1:
                    detail = (
                        f"loss became {loss} at step {step}, the first step after resuming "
                        f"from {resumed}"
                    )
                    last_good = None
                raise NonFiniteLossError(step, loss, last_good, detail, _blow_up(blown))
            window = monitor.state()
            reason = monitor.add(loss)
            if reason is not None and blown is None:
                blown = (step, reason)
                log.warning("the loss blew up at step %d: %s; checkpoints are not kept until "
                            "it is sane again", step, reason)  # fmt: skip
            if pending is not None:
                if reason is None:  # its weights gave this sane loss
                    meta_now = dict(pending_meta, next_loss=loss, recent_losses=window)
                    last_good, blown = manager.commit(pending, meta_now), None
                else:
                    manager.discard(pending)
                pending = None
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
                if not _finite_state(model, optimizer):
                    detail = f"the weights became NaN or inf in step {step} (its loss {loss:g})"
                    raise NonFiniteLossError(step, loss, last_good, detail, _blow_up(blown))
                pending = manager.write_pending(step)
                pending_meta = dict(meta, loss=loss, created=_now())
            if on_step is not None:
                on_step(step, values)
    except KeyboardInterrupt:
        # Ctrl-C / SIGTERM usually lands while a step runs: the step then completes (the
        # optimizer counter tells how many) before its loss was checked, so the weights and
        # the probe-batch loss are checked instead.
        done = int(optimizer.iterations.numpy())
        if pending is not None and pending.step != done:
            manager.discard(pending)  # the weights moved on: it cannot be verified now
            pending = None
        if pending is None and done > start_step:
            pending, pending_meta = manager.write_pending(done), dict(meta, created=_now())
        if pending is not None:
            kept = _commit_if_good(
                manager, pending, dict(pending_meta, interrupted=True), model, optimizer,
                probe_batch_loss, monitor,
            )  # fmt: skip
            pending = None
            last_good = kept or last_good
            if kept:
                log.warning("interrupted at step %d; checkpoint %s written", done, kept)
        raise
    except BaseException:
        if pending is not None and pending.step == int(optimizer.iterations.numpy()):
            _commit_if_good(
                manager, pending, pending_meta, model, optimizer, probe_batch_loss, monitor
            )
        else:
            manager.discard(pending)
        pending = None
        raise
    finally:
        if bar is not None:
            bar.close()
        summaries.close()

    probe_end = probe_batch_loss()
    if pending is not None:  # the last checkpoint: no next step, the probe batch verifies it
        if not (math.isfinite(probe_end) and _finite_state(model, optimizer)):
            manager.discard(pending)
            detail = f"the final weights (step {step}) give a probe-batch loss of {probe_end}"
            raise NonFiniteLossError(step, probe_end, last_good, detail, _blow_up(blown))
        reason = monitor.blown_up(probe_end)
        if reason is not None:
            manager.discard(pending)
            detail = f"the final weights (step {step}) give a probe-batch {reason}"
            raise DivergedLossError(step, probe_end, last_good, detail, _blow_up(blown))
        final_meta = dict(pending_meta, probe_loss=probe_end, recent_losses=monitor.state())
        last_good = manager.commit(pending, final_meta)
    weights_path = _export_weights(config, model, step) if chief else None
    evaluation = None
    if config.evaluate and data.evaluation is not None:
        evaluated = _float32_copy(config, model, precision[0])
        evaluation = evaluate_and_write(config, evaluated, data.evaluation(), chief)
    return TrainResult(
        output_dir=config.output_dir,
        start_step=start_step,
        step=step,
        losses=history,
        probe_loss_start=probe_start,
        probe_loss_end=probe_end,
        last_checkpoint=last_good,
        evaluation=evaluation,
        init_report=init_report,
        weights_path=weights_path,
        model=model,
    )


def _float32_copy(config: TrainConfig, model, policy: str):
    """``model``'s weights in a float32 build of the same net (``model`` itself under float32).

    The final evaluation measures the weights as they are exported and run everywhere else
    (checkpoints restored by training/curves.py, hand3d-evaluate, the exports): in float32.
    Under a mixed policy the training model computes its hidden layers in bfloat16/float16,
    and its numbers would differ from those of the same weights restored anywhere else.
    """
    if policy == "float32":
        return model
    plain = build_model(config)  # the global policy is float32 again here
    plain.set_weights(model.get_weights())
    return plain


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
