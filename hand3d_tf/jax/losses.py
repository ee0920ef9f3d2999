"""The original's training losses in JAX (docs/original.md §9, §3), as hand3d_tf.training.losses.

Each returns a dict of float32 scalars: "loss" (what is minimised) and its named parts.
One device only: the means run over this batch (the Keras trainer's ``global_batch_size``
and ``num_visible`` split a global batch over replicas; here the batch is the whole batch).
"""

from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp

from hand3d_tf.jax.layers import legacy_resize
from hand3d_tf.keypoints import NUM_KEYPOINTS, PARENTS
from hand3d_tf.spec.configs import LIFTING_VARIANTS
from hand3d_tf.spec.targets import LIFTING_LOSS_TERMS, POSENET_VISIBLE_EPS

__all__ = ["handsegnet_loss", "posenet_loss", "lifting_loss", "local_to_xyz"]


def handsegnet_loss(logits, hand_mask) -> dict:
    """Mean softmax cross-entropy over pixels; logits [B, h, w, 2] (legacy-resized to the
    mask first when h, w differ: a stride-8 HandSegNet), hand_mask [B, H, W, 2] one-hot."""
    logits = logits.astype(jnp.float32)
    if logits.shape[1:3] != hand_mask.shape[1:3]:
        logits = legacy_resize(logits, hand_mask.shape[1:3])
    log_p = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.mean(jnp.sum(hand_mask.astype(jnp.float32) * log_p, axis=-1))
    return {"loss": loss, "cross_entropy": loss}


def posenet_loss(stages, scoremap, keypoint_vis) -> dict:
    """Per stage sum_{b,k} vis * sqrt(mean_pixels (resize(S) - gt)^2) / (visible + eps);
    stages: [B, 32, 32, 21] each, scoremap [B, 256, 256, 21], keypoint_vis [B, 21]."""
    vis = keypoint_vis.astype(jnp.float32)
    scoremap = scoremap.astype(jnp.float32)
    denominator = jnp.sum(vis) + POSENET_VISIBLE_EPS
    out = {}
    total = jnp.float32(0.0)
    for i, stage in enumerate(stages):
        pred = legacy_resize(stage, scoremap.shape[1:3])
        rms = jnp.sqrt(jnp.mean(jnp.square(pred - scoremap), axis=(1, 2)))
        out[f"stage{i + 1}"] = jnp.sum(vis * rms) / denominator
        total = total + out[f"stage{i + 1}"]
    out["loss"] = total
    return out


def _frame(rows):
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def local_to_xyz(local):
    """Inverse bone-relative transform (docs/original.md §6): [B, 21, 3] -> [B, 21, 3].

    local[:, k] = (bone length L, angle_x, angle_y) in the parent's frame; the inverse frame
    of k is T_parent^-1 Ry(angle_y) Rx(angle_x) Tz(L), and X_k its translation column.
    """
    local = local.astype(jnp.float32)
    z = jnp.zeros(local.shape[:1], jnp.float32)
    o = jnp.ones_like(z)
    identity = jnp.broadcast_to(jnp.eye(4, dtype=jnp.float32), (local.shape[0], 4, 4))
    inverse, points = {}, [None] * NUM_KEYPOINTS
    order = [0] + [k for base in range(4, NUM_KEYPOINTS, 4) for k in range(base, base - 4, -1)]
    for k in order:
        parent = inverse[PARENTS[k]] if PARENTS[k] > 0 else identity
        length, ax, ay = local[:, k, 0], local[:, k, 1], local[:, k, 2]
        cx, sx, cy, sy = jnp.cos(ax), jnp.sin(ax), jnp.cos(ay), jnp.sin(ay)
        rot_y = _frame([[cy, z, sy, z], [z, o, z, z], [-sy, z, cy, z], [z, z, z, o]])
        rot_x = _frame([[o, z, z, z], [z, cx, -sx, z], [z, sx, cx, z], [z, z, z, o]])
        trans = _frame([[o, z, z, z], [z, o, z, z], [z, z, o, length], [z, z, z, o]])
        inverse[k] = parent @ rot_y @ rot_x @ trans
        points[k] = inverse[k][:, :3, 3]
    return jnp.stack(points, axis=1)


def lifting_loss(variant: str, outputs: dict, targets: dict) -> dict:
    """Plain mean squared errors per variant: "proposed" canonical + rotation (against
    "xyz_canonical" and "rot_mat"), "direct"/"bottleneck" xyz (against "xyz_normed"),
    "local" bone-local (against "xyz_local"), "local_w_xyz_loss" local_to_xyz (against
    "xyz_normed")."""
    if variant not in LIFTING_VARIANTS:
        raise ValueError(f"`variant` must be one of {LIFTING_VARIANTS}; received {variant!r}")

    def mse(pred, key):
        if key not in targets:
            raise KeyError(
                f"lifting variant {variant!r} needs target {key!r}; got {sorted(targets)}"
            )
        diff = pred.astype(jnp.float32) - jnp.asarray(targets[key], jnp.float32)
        return jnp.mean(jnp.square(diff))

    terms = {}
    for name, output, target, through_xyz in LIFTING_LOSS_TERMS[variant]:
        pred = local_to_xyz(outputs[output]) if through_xyz else outputs[output]
        terms[name] = mse(pred, target)
    return {"loss": functools.reduce(operator.add, terms.values()), **terms}
