"""HandSegNet, PoseNet2D and the lifting network in JAX, built from the tables of hand3d_tf.spec.nets.

Each function takes params ``{weight key: array}`` (as ``<net>.npz`` holds them), its input
and the net's config dataclass, and computes what the tf_keras model of hand3d_tf.models
computes at inference (dropout is off: the lent-GPU trainer trains without it, as the
configs of the bundled weights say). Hidden layers run in ``dtype``, every linear layer
that makes an output in float32, as the Keras models under a mixed-precision policy.
"""

from __future__ import annotations

import jax.numpy as jnp

from hand3d_tf.jax.layers import (
    conv,
    dense,
    flatten_with_hand_side,
    flip_right_hand,
    legacy_resize,
    max_pool,
    rodrigues,
    rotate_points,
)
from hand3d_tf.keypoints import NUM_KEYPOINTS
from hand3d_tf.spec.configs import HandSegNetConfig, PosePriorConfig
from hand3d_tf.spec.nets import (
    BOTTLENECK,
    HANDSEG_LAYERS,
    HANDSEG_OUTPUT,
    HANDSEGNET_SCOPE,
    POSE_PRIOR_CONVS,
    POSE_PRIOR_FC,
    POSE_PRIOR_OUTPUT,
    POSE_PRIOR_SCOPE,
    POSENET_HEAD,
    POSENET_HEAD_OUTPUT,
    POSENET_REFINEMENTS,
    POSENET_SCOPE,
    POSENET_STAGE,
    POSENET_TRUNK,
    VIEWPOINT_CONVS,
    VIEWPOINT_FC,
    VIEWPOINT_HEADS,
    VIEWPOINT_SCOPE,
)

__all__ = ["handsegnet", "posenet", "lifting"]

F32 = jnp.float32


def _trunk(params, scope, table, x, dtype):
    for name, _kernel, _channels, pool_after in table:
        x = conv(params, f"{scope}/{name}", x, dtype=dtype)
        if pool_after:
            x = max_pool(x)
    return x


def handsegnet(params: dict, image, config: HandSegNetConfig | None = None, dtype=F32):
    """image [B, H, W, 3] (pixel / 255 - 0.5) -> logits [B, H, W, 2] float32, or the
    stride-8 logits when ``config.upsample`` is False (models.hand_seg_net.HandSegNet)."""
    cfg = config or HandSegNetConfig()
    x = _trunk(params, HANDSEGNET_SCOPE, HANDSEG_LAYERS, image, dtype)
    logits = conv(params, f"{HANDSEGNET_SCOPE}/{HANDSEG_OUTPUT}", x, activation=False, dtype=F32)
    return legacy_resize(logits, image.shape[1:3]) if cfg.upsample else logits


def posenet(params: dict, image, config=None, dtype=F32) -> list:
    """image [B, S, S, 3] -> [S1, S2, S3], each [B, S/8, S/8, K] float32 raw score maps
    (models.pose_net.PoseNet; the config's width and sizes come with the params)."""
    encoding = _trunk(params, POSENET_SCOPE, POSENET_TRUNK, image, dtype)
    name = POSENET_HEAD[0]
    x = conv(params, f"{POSENET_SCOPE}/{name}", encoding, dtype=dtype)
    maps = [conv(params, f"{POSENET_SCOPE}/{POSENET_HEAD_OUTPUT}", x, activation=False, dtype=F32)]
    for stage in POSENET_REFINEMENTS:
        x = jnp.concatenate([maps[-1].astype(dtype), encoding.astype(dtype)], axis=-1)
        for suffix, _kernel, _channels in POSENET_STAGE:
            x = conv(params, f"{POSENET_SCOPE}/conv{stage}_{suffix}", x, dtype=dtype)
        key = f"{POSENET_SCOPE}/conv{stage}_7"
        maps.append(conv(params, key, x, activation=False, dtype=F32))
    return maps


def _branch(params, scope, convs, fcs, scoremap, hand_side, dtype):
    x = scoremap
    for name, _channels, stride in convs:
        x = conv(params, f"{scope}/{name}", x, stride, dtype=dtype)
    x = flatten_with_hand_side(x, hand_side)
    for name, _units in fcs:
        x = dense(params, f"{scope}/{name}", x, dtype=dtype)
    return x


def lifting(
    params: dict, scoremap, hand_side, config: PosePriorConfig | None = None, dtype=F32
) -> dict:
    """scoremap [B, 32, 32, 21], hand_side [B, 2] one-hot -> the outputs of
    models.lifting.Lifting for ``config.variant`` (spec.nets.LIFTING_OUTPUT_KEYS):
    "proposed" {"xyz", "xyz_canonical", "rotation"}, "direct"/"bottleneck" {"xyz"},
    "local"/"local_w_xyz_loss" {"local"}; each [B, 21, 3] (rotation [B, 3, 3]) float32."""
    cfg = config or PosePriorConfig()
    prior = POSE_PRIOR_SCOPE
    x = _branch(params, prior, POSE_PRIOR_CONVS, POSE_PRIOR_FC, scoremap, hand_side, dtype)
    if cfg.variant == "bottleneck":
        x = dense(params, f"{prior}/{BOTTLENECK[0]}", x, activation=False, dtype=F32)
    coords = dense(params, f"{prior}/{POSE_PRIOR_OUTPUT}", x, activation=False, dtype=F32)
    coords = coords.reshape(-1, NUM_KEYPOINTS, 3)
    if cfg.variant in ("direct", "bottleneck"):
        return {"xyz": coords}
    if cfg.variant != "proposed":
        return {"local": coords}
    vp = VIEWPOINT_SCOPE
    v = _branch(params, vp, VIEWPOINT_CONVS, VIEWPOINT_FC, scoremap, hand_side, dtype)
    u = jnp.concatenate(
        [dense(params, f"{vp}/{head}", v, activation=False, dtype=F32) for head in VIEWPOINT_HEADS],
        axis=-1,
    )
    rotation = rodrigues(u)
    xyz = rotate_points(flip_right_hand(coords, hand_side), rotation)
    return {"xyz": xyz, "xyz_canonical": coords, "rotation": rotation}
