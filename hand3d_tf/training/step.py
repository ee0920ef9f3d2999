"""One training step: forward pass, loss, optimizer and the distributed ``tf.function``.

Everything here reads a ``TrainConfig`` and a model; nothing writes files. The trainer
(trainer.py) runs these steps, the final evaluation (final_eval.py) and the TensorBoard
images (summaries.py) reuse ``forward``, so none of them needs to import the trainer.

One ``tf.function`` step runs under any tf.distribute strategy: each replica computes its
share of the global loss (losses.py), gradients are summed across replicas by the optimizer,
so the update equals the single-device update on the whole batch.
"""

from __future__ import annotations

import tensorflow as tf

from hand3d_tf.keras import keras
from hand3d_tf.training import losses
from hand3d_tf.training.presets import TrainConfig


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
    """Adam with TF defaults (docs/original.md §9) on the piecewise-constant schedule.

    The schedule reads ``optimizer.iterations``, which is checkpointed with the optimizer,
    so a resumed run continues its schedule exactly where it stopped.
    """
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


def make_train_step(config, model, optimizer, strategy, global_batch, policy="float32"):
    """``train_step(distributed_iterator) -> {loss name: global value}``, a tf.function."""
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


def probe_loss(config, model, inputs, targets):
    """``run() -> float``: the model's loss (inference mode) on one fixed batch, the
    'does it learn' number, also what verifies a checkpoint no next step will."""

    def run() -> float:
        outputs = forward(model, config.net, inputs, training=False)
        return float(compute_loss(config, outputs, targets)["loss"])

    return run
