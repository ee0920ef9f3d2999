"""Training losses of the three networks, exactly as the original computes them (docs/original.md §9, §3).

Every loss returns a dict of scalar float32 tensors: ``"loss"`` (what is minimised) plus the
named components written to TensorBoard.

Distributed training. Each replica computes its loss on its share of the global batch and
the gradients are summed over replicas, so a replica must return its share of the *global*
loss, not the mean of its own batch:
- mean-type terms take ``global_batch_size``: the local sum is divided by the global number
  of elements (passing ``None`` means "this batch is the whole batch");
- the PoseNet loss divides by the visible-keypoint count of the *global* batch, which the
  trainer obtains with an all-reduce and passes as ``num_visible``.
Summing the replicas' values then reproduces the single-device loss exactly.
"""

from __future__ import annotations

import functools
import operator

import tensorflow as tf

from hand3d_tf.keypoints import NUM_KEYPOINTS, PARENTS
from hand3d_tf.spec.targets import LIFTING_LOSS_TERMS, POSENET_VISIBLE_EPS
from hand3d_tf.training.presets import LIFTING_VARIANTS


def _batch_mean(per_element: tf.Tensor, global_batch_size: int | None) -> tf.Tensor:
    """Mean over all elements of [B, ...], as this replica's share of a global batch mean."""
    per_element = tf.cast(per_element, tf.float32)
    if global_batch_size is None:
        return tf.reduce_mean(per_element)
    per_sample = tf.cast(tf.reduce_prod(tf.shape(per_element)[1:]), tf.float32)
    return tf.reduce_sum(per_element) / (float(global_batch_size) * per_sample)


def legacy_resize(images: tf.Tensor, size) -> tf.Tensor:
    """TF1 bilinear resize (align_corners=False, half_pixel_centers=False), docs/original.md §0.

    The original trained against maps upsampled this way; TF2's default half-pixel resize
    would shift every target by ~3.5 px at 8x.
    """
    # The raw op is what tf.compat.v1.image.resize_bilinear calls, minus its deprecation
    # warning; it keeps the input dtype float32 and has a registered gradient.
    return tf.raw_ops.ResizeBilinear(
        images=images, size=size, align_corners=False, half_pixel_centers=False
    )


def handsegnet_loss(
    logits: tf.Tensor, hand_mask: tf.Tensor, global_batch_size: int | None = None
) -> dict[str, tf.Tensor]:
    """Mean softmax cross-entropy over all pixels (docs/original.md §9, HandSegNet).

    logits: [B, h, w, 2] (background, hand); if h, w differ from the mask (a stride-8
        HandSegNet without in-model upsampling) they are resized with the legacy bilinear
        resize first, as the original's network output already was.
    hand_mask: [B, H, W, 2] one-hot float (background, hand).
    """
    logits = tf.cast(logits, tf.float32)
    hand_mask = tf.cast(hand_mask, tf.float32)
    if logits.shape[1:3] != hand_mask.shape[1:3]:
        logits = legacy_resize(logits, tf.shape(hand_mask)[1:3])
    per_pixel = tf.nn.softmax_cross_entropy_with_logits(labels=hand_mask, logits=logits)
    loss = _batch_mean(per_pixel, global_batch_size)
    return {"loss": loss, "cross_entropy": loss}


def posenet_loss(
    stages,
    scoremap: tf.Tensor,
    keypoint_vis: tf.Tensor,
    num_visible: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """Sum over the stages of the visibility-weighted per-keypoint RMS (docs/original.md §9, PoseNet).

    stages: list of [B, 32, 32, 21] score maps (S1, S2, S3); each is upsampled to the target
        size with the legacy bilinear resize.
    scoremap: [B, 256, 256, 21] ground-truth Gaussians.
    keypoint_vis: [B, 21] bool or 0/1.
    num_visible: visible keypoints of the whole (global) batch; default: of this batch.
    Per stage: sum_{b,k} vis[b,k] * sqrt(mean_{pixels} (pred - gt)^2) / (num_visible + 0.001).
    """
    scoremap = tf.cast(scoremap, tf.float32)
    vis = tf.cast(keypoint_vis, tf.float32)
    if num_visible is None:
        num_visible = tf.reduce_sum(vis)
    denominator = tf.cast(num_visible, tf.float32) + POSENET_VISIBLE_EPS
    out = {}
    total = tf.constant(0.0, tf.float32)
    for i, stage in enumerate(stages):
        pred = legacy_resize(tf.cast(stage, tf.float32), tf.shape(scoremap)[1:3])
        rms = tf.sqrt(tf.reduce_mean(tf.square(pred - scoremap), axis=[1, 2]))  # [B, 21]
        stage_loss = tf.reduce_sum(vis * rms) / denominator
        out[f"stage{i + 1}"] = stage_loss
        total = total + stage_loss
    out["loss"] = total
    return out


def _rot_x(a: tf.Tensor) -> tf.Tensor:
    """Homogeneous rotation about x, column-vector convention (docs/original.md §6 local frames): [B, 4, 4]."""
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    rows = [[o, z, z, z], [z, c, -s, z], [z, s, c, z], [z, z, z, o]]
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


def _rot_y(a: tf.Tensor) -> tf.Tensor:
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    rows = [[c, z, s, z], [z, o, z, z], [-s, z, c, z], [z, z, z, o]]
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


def _trans_z(t: tf.Tensor) -> tf.Tensor:
    z, o = tf.zeros_like(t), tf.ones_like(t)
    rows = [[o, z, z, z], [z, o, z, z], [z, z, o, t], [z, z, z, o]]
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


def local_to_xyz(local: tf.Tensor) -> tf.Tensor:
    """Differentiable inverse bone-relative transform (docs/original.md §6): [B, 21, 3] -> [B, 21, 3].

    local[:, k] = (bone length L, angle_x, angle_y) in the parent's frame. The forward frame
    is T_k = Tz(-L) Rx(-angle_x) Ry(-angle_y) T_parent, so its inverse is built directly as
    T_parent^-1 Ry(angle_y) Rx(angle_x) Tz(L) (no matrix inversion), and X_k is its
    translation column. Finger bases and keypoint 0 hang off the identity root frame.
    """
    local = tf.cast(local, tf.float32)
    batch = tf.shape(local)[0]
    identity = tf.eye(4, batch_shape=[batch])
    inverse_frames = {}
    points = [None] * NUM_KEYPOINTS
    # Parents before children: 0, then each finger base -> tip (4, 3, 2, 1; 8, 7, 6, 5; ...).
    order = [0] + [k for base in range(4, NUM_KEYPOINTS, 4) for k in range(base, base - 4, -1)]
    for k in order:
        parent = PARENTS[k] if PARENTS[k] > 0 else None
        parent_inv = identity if parent is None else inverse_frames[parent]
        length, angle_x, angle_y = local[:, k, 0], local[:, k, 1], local[:, k, 2]
        inv = parent_inv @ _rot_y(angle_y) @ _rot_x(angle_x) @ _trans_z(length)
        inverse_frames[k] = inv
        points[k] = inv[:, :3, 3]
    return tf.stack(points, axis=1)


def lifting_loss(
    variant: str,
    outputs: dict,
    targets: dict,
    global_batch_size: int | None = None,
) -> dict[str, tf.Tensor]:
    """Lifting losses of docs/original.md §3 / §9, all plain mean squared errors.

    outputs (from the Lifting model): ``proposed`` {"xyz_canonical" [B,21,3] (before the
    right-hand flip), "rotation" [B,3,3]}; ``direct``/``bottleneck`` {"xyz" [B,21,3]};
    ``local``/``local_w_xyz_loss`` {"local" [B,21,3]}.
    targets: "xyz_canonical" (mirrored for right hands), "rot_mat" (R_gt = M^-1),
    "xyz_normed", "xyz_local"; only those the variant needs are read.
    """
    if variant not in LIFTING_VARIANTS:
        raise ValueError(
            f"unknown lifting variant {variant!r}; choose one of {', '.join(LIFTING_VARIANTS)}"
        )

    def mse(pred, key):
        if key not in targets:
            raise KeyError(
                f"lifting variant {variant!r} needs target {key!r}; got {sorted(targets)}"
            )
        diff = tf.cast(pred, tf.float32) - tf.cast(targets[key], tf.float32)
        return _batch_mean(tf.square(diff), global_batch_size)

    terms = {}
    for name, output, target, through_xyz in LIFTING_LOSS_TERMS[variant]:
        pred = local_to_xyz(outputs[output]) if through_xyz else outputs[output]
        terms[name] = mse(pred, target)
    return {"loss": functools.reduce(operator.add, terms.values()), **terms}
