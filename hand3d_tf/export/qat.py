"""Quantization-aware fine-tuning (tensorflow-model-optimization) before an int8 export.

THE ONLY module that imports ``tensorflow_model_optimization``, and only inside functions:
importing tfmot sets ``TF_USE_LEGACY_KERAS=1`` as a side effect (see hand3d_tf/keras.py).

What gets fake-quantised: every layer tfmot's default 8-bit registry supports (Conv2D,
Dense, LeakyReLU, MaxPool, Concatenate, Flatten, Reshape, Dropout). Our custom layers are
scoped out and stay float during fine-tuning: the legacy bilinear resize (its int8
ranges come from the calibration data at conversion) and the rotation layers of the
lifting net (Rodrigues, right-hand flip, rotate: SIN/COS/SQRT have no int8 kernels and
their accuracy matters more than their cost, ~100 scalar ops).

Fine-tuning minimises the net's own training loss (hand3d_tf/training/losses.py, docs/original.md §9)
with Adam for ``steps`` batches of the training pipeline; the result is converted by
``tflite.export_tflite(..., mode="qat")``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable

import numpy as np

from hand3d_tf.keras import keras

log = logging.getLogger(__name__)

# Effective (as released) learning rates of the original training, docs/original.md §9; QAT starts
# from converged weights, so the default is the smallest of them.
DEFAULT_LEARNING_RATE = 1e-5


@dataclasses.dataclass(frozen=True)
class QATConfig:
    """Quantization-aware fine-tuning settings.

    Attributes:
      steps: optimiser steps (batches) of fine-tuning; 0 only inserts the fake-quant ops.
      learning_rate: Adam learning rate (Adam betas/epsilon = TF defaults, docs/original.md §9).
      lifting_variant: which lifting loss applies (docs/original.md §3); ignored for the image nets.
      calibration_batches: batches that initialise the activation ranges before training.
    """

    steps: int = 200
    learning_rate: float = DEFAULT_LEARNING_RATE
    lifting_variant: str = "proposed"
    calibration_batches: int = 8

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"QAT steps must be an integer >= 0; received steps={self.steps!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"QAT learning_rate must be > 0; received {self.learning_rate!r}")


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as e:  # pragma: no cover - it is an install requirement
        raise ImportError(
            "mode 'qat' needs tensorflow-model-optimization: pip install "
            "'tensorflow-model-optimization>=0.8.1,<0.9'"
        ) from e
    return tfmot


def quantize_aware(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with fake-quant ops on every layer tfmot supports (same weights).

    Layers tfmot cannot quantise (our custom layers) are left unannotated, i.e. float.
    """
    tfmot = _tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_lib,
    )

    from hand3d_tf.models.layers import CUSTOM_OBJECTS

    registry = registry_lib.Default8BitQuantizeRegistry()
    skipped = []

    def annotate(layer):
        if isinstance(layer, keras.layers.Dropout):
            # Fine-tune without dropout, as the original trained (docs/original.md §9 item 2); it also
            # keeps the range calibration below deterministic.
            layer = keras.layers.Dropout(0.0, name=layer.name)
        if registry.supports(layer):
            return tfmot.quantization.keras.quantize_annotate_layer(layer)
        if not isinstance(layer, keras.layers.InputLayer):
            skipped.append(f"{layer.name} ({type(layer).__name__})")
        return layer

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with tfmot.quantization.keras.quantize_scope(CUSTOM_OBJECTS):
        qat_model = tfmot.quantization.keras.quantize_apply(annotated)
    if skipped:
        log.info("QAT: left float (no int8 fake-quant): %s", ", ".join(skipped))
    return qat_model


@contextlib.contextmanager
def _ema_decay(decay: float):
    """Temporarily replace the fixed EMA decay (0.999) of tfmot's activation-range update.

    tfmot starts every activation range at [-6, 6] and moves it by 0.1 % per step, so a
    few hundred QAT steps would fine-tune against ranges far from the real ones (and a
    net whose outputs are all much smaller than 6/255 would quantise to zero). With decay
    0 one training-mode pass sets every range to that batch's min/max.
    """
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    original = quant_ops.MovingAvgQuantize

    def patched(*args, **kwargs):
        kwargs["ema_decay"] = decay
        return original(*args, **kwargs)

    quant_ops.MovingAvgQuantize = patched
    try:
        yield
    finally:
        quant_ops.MovingAvgQuantize = original


def _range_variables(model) -> list:
    """The fake-quant range variables (``..._min`` / ``..._max``) of a tfmot model."""
    return [v for v in model.variables if v.name.split(":")[0].endswith(("_min", "_max"))]


def calibrate_ranges(
    qat_model, net: str, batches: Iterable[tuple[dict, dict]], num_batches: int = 8
) -> int:
    """Set every fake-quant range to the min / max over ``num_batches`` batches.

    The same ranges post-training calibration uses (global min/max), so QAT starts where
    the int8 conversion would. Runs eagerly in training mode (training mode is what
    updates the ranges; dropout was removed by :func:`quantize_aware`). Returns the
    number of batches used.
    """
    variables = _range_variables(qat_model)
    low = high = None
    seen = 0
    with _ema_decay(0.0):
        for inputs, _ in batches:
            _forward(qat_model, net, inputs, training=True)
            values = [v.numpy() for v in variables]
            if low is None:
                low, high = values, [x.copy() for x in values]
            else:
                low = [np.minimum(a, b) for a, b in zip(low, values)]
                high = [np.maximum(a, b) for a, b in zip(high, values)]
            seen += 1
            if seen >= num_batches:
                break
    if not seen:
        raise ValueError("QAT range calibration got no batches (empty data)")
    for var, lo, hi in zip(variables, low, high):
        # Weight ranges are the same every batch; activation ranges take the extreme.
        var.assign(lo if var.name.split(":")[0].endswith("_min") else hi)
    return seen


def _forward(model, net: str, inputs: dict, training: bool):
    if net == "lifting":
        return model([inputs["scoremap"], inputs["hand_side"]], training=training)
    return model(inputs["image"], training=training)


def _loss(net: str, outputs, targets: dict, lifting_variant: str):
    from hand3d_tf.training import losses

    if net == "handsegnet":
        return losses.handsegnet_loss(outputs, targets["hand_mask"])["loss"]
    if net == "posenet":
        return losses.posenet_loss(outputs, targets["scoremap"], targets["keypoint_vis"])["loss"]
    return losses.lifting_loss(lifting_variant, outputs, targets)["loss"]


def finetune(
    model: keras.Model,
    net: str,
    batches: Iterable[tuple[dict, dict]],
    config: QATConfig | None = None,
) -> tuple[keras.Model, list[float]]:
    """Quantization-aware fine-tuning of ``model`` (a float tf_keras network).

    Args:
      net: "handsegnet", "posenet" or "lifting" (selects input keys and the loss).
      batches: (inputs, targets) batches as the training pipelines yield them
        (hand3d_tf.data.pipelines / training.smoke_data keys); cycled if shorter than
        ``config.steps``.
      config: steps, learning rate, lifting variant.

    Returns:
      (the QAT model, the loss of every step). The float ``model`` is left unchanged.
    """
    import tensorflow as tf

    config = config or QATConfig()
    qat_model = quantize_aware(model)
    calibrate_ranges(qat_model, net, batches, config.calibration_batches)
    if config.steps == 0:
        return qat_model, []
    optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)

    @tf.function
    def step(inputs, targets):
        with tf.GradientTape() as tape:
            outputs = _forward(qat_model, net, inputs, training=True)
            loss = _loss(net, outputs, targets, config.lifting_variant)
        grads = tape.gradient(loss, qat_model.trainable_variables)
        optimizer.apply_gradients(zip(grads, qat_model.trainable_variables))
        return loss

    history: list[float] = []
    while len(history) < config.steps:
        seen = len(history)
        for inputs, targets in batches:
            history.append(float(step(inputs, targets)))
            if len(history) == config.steps:
                break
        if len(history) == seen:
            raise ValueError("QAT fine-tuning got no training batches (empty data)")
    if not np.all(np.isfinite(history)):
        raise FloatingPointError(f"QAT fine-tuning diverged: losses {history[-5:]}")
    log.info("QAT %s: %d steps, loss %.4g -> %.4g", net, config.steps, history[0], history[-1])
    return qat_model, history
