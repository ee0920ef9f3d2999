"""The nets' primitives in JAX (docs/original.md §0, §3), as hand3d_tf.models.layers builds them.

Params are ``{"<scope>/<layer>/weights" | ".../biases": array}`` (conv HWIO, dense
[in, out]); ``dtype`` is the compute dtype of hidden layers (bfloat16 on a GPU), while
linear output layers run in float32 (the Keras mixed-precision convention of
models.layers.float32_outputs).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from hand3d_tf.spec.nets import LEAKY_SLOPE, THETA_EPS

__all__ = [
    "conv",
    "dense",
    "max_pool",
    "legacy_resize",
    "legacy_resize_matrix",
    "flatten_with_hand_side",
    "rodrigues",
    "flip_right_hand",
    "rotate_points",
]


def _leaky_relu(x):
    return jnp.maximum(x, LEAKY_SLOPE * x)


def conv(params: dict, key: str, x, stride: int = 1, activation: bool = True, dtype=jnp.float32):
    """SAME conv + bias (+ leaky ReLU) of layer ``key``; NHWC / HWIO, TF's SAME padding."""
    w = params[f"{key}/weights"].astype(dtype)
    b = params[f"{key}/biases"].astype(dtype)
    y = lax.conv_general_dilated(
        x.astype(dtype), w, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    y = y + b
    return _leaky_relu(y) if activation else y


def dense(params: dict, key: str, x, activation: bool = True, dtype=jnp.float32):
    """y = x W + b (+ leaky ReLU) of layer ``key``; W is [in, out]."""
    w = params[f"{key}/weights"].astype(dtype)
    y = x.astype(dtype) @ w + params[f"{key}/biases"].astype(dtype)
    return _leaky_relu(y) if activation else y


def max_pool(x):
    """2x2 max pool, stride 2, VALID (odd sizes floored)."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def legacy_resize_matrix(out_size: int, in_size: int) -> np.ndarray:
    """[out, in] weights of TF1's bilinear resize, align_corners=False, legacy sampling:
    output i samples source i * in / out; past the last source row the edge repeats."""
    scale = in_size / out_size
    m = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        src = i * scale
        lo = int(np.floor(src))
        hi = min(lo + 1, in_size - 1)
        frac = src - lo
        m[i, lo] += 1.0 - frac
        m[i, hi] += frac
    return m


def legacy_resize(x, out_hw):
    """[B, h, w, C] -> [B, H, W, C] float32 by the legacy bilinear resize (docs/original.md §0)."""
    rows = jnp.asarray(legacy_resize_matrix(int(out_hw[0]), x.shape[1]))
    cols = jnp.asarray(legacy_resize_matrix(int(out_hw[1]), x.shape[2]))
    return jnp.einsum("oh,bhwc,pw->bopc", rows, x.astype(jnp.float32), cols)


def flatten_with_hand_side(x, hand_side):
    """[B, h, w, C] -> [B, h*w*C + 2]: row-major (h, w, c), the hand side appended last."""
    flat = x.reshape(x.shape[0], -1).astype(jnp.float32)
    return jnp.concatenate([flat, hand_side.astype(jnp.float32)], axis=-1)


def rodrigues(u):
    """Axis-angle u [B, 3] -> R [B, 3, 3], theta = sqrt(|u|^2 + THETA_EPS) (docs/original.md §3)."""
    theta = jnp.sqrt(jnp.sum(u * u, axis=-1, keepdims=True) + THETA_EPS)
    x, y, z = (u[:, i : i + 1] / theta for i in range(3))
    c, s = jnp.cos(theta), jnp.sin(theta)
    o = 1.0 - c
    entries = [
        c + x * x * o, x * y * o - z * s, x * z * o + y * s,
        y * x * o + z * s, c + y * y * o, y * z * o - x * s,
        z * x * o - y * s, z * y * o + x * s, c + z * z * o,
    ]  # fmt: skip
    return jnp.concatenate(entries, axis=-1).reshape(-1, 3, 3)


def flip_right_hand(xyz, hand_side):
    """Negate z of right hands (hand_side [B, 2] one-hot, a tie counts as left), docs/original.md §3."""
    is_right = (hand_side[:, 1] > hand_side[:, 0]).astype(xyz.dtype)
    sign = 1.0 + is_right[:, None] * jnp.asarray([0.0, 0.0, -2.0], xyz.dtype)
    return xyz * sign[:, None, :]


def rotate_points(xyz, rotation):
    """Row vectors times R: [B, K, 3] @ [B, 3, 3] (docs/original.md §3 step 3)."""
    return jnp.sum(xyz[:, :, :, None] * rotation[:, None, :, :], axis=2)
