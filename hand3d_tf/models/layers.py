"""Building blocks shared by the three networks (docs/original.md §0) and their custom layers.

The helpers ``conv``, ``dense`` and ``max_pool`` create the original's primitives with
its names, initialisers and activation. The custom layers are small, serialisable and
use only ops that convert to TFLite builtins (no DynamicStitch, no tf.cond, no ArgMax),
so every model here converts without Flex ops (docs/original.md §10).
"""

from __future__ import annotations

import tensorflow as tf

from hand3d_tf.keras import keras
from hand3d_tf.keypoints import NUM_KEYPOINTS
from hand3d_tf.spec.nets import BIAS_INIT, HAND_SIDES, LEAKY_SLOPE, LIFTING_INPUT_SIZE, THETA_EPS

__all__ = [
    "LEAKY_SLOPE",
    "BIAS_INIT",
    "conv",
    "dense",
    "max_pool",
    "lifting_inputs",
    "flatten_with_hand_side",
    "LegacyBilinearResize",
    "Rodrigues",
    "FlipRightHand",
    "RotatePoints",
    "CUSTOM_OBJECTS",
]


def float32_outputs() -> dict:
    """Layer kwargs that keep a layer in float32 under a mixed-precision policy.

    The Keras mixed-precision convention: hidden layers compute in bfloat16/float16, but the
    layers that produce the nets' outputs (score maps, logits, coordinates, rotations) run
    and return float32, so losses and the glue see full precision. Under the float32 policy
    this is ``{}``: float32 models, their configs and their exports are unchanged; so it is
    under float64 (a reference build, tests/test_export_onnx.py).
    """
    if not keras.mixed_precision.global_policy().name.startswith("mixed_"):
        return {}
    return {"dtype": "float32"}


def conv(x, filters: int, kernel: int, name: str, stride: int = 1, activation: bool = True):
    """SAME conv + bias (+ leaky ReLU 0.01); kernel HWIO = the original's ``weights``.

    A linear conv (activation=False) produces a net's output and stays float32 under mixed
    precision (float32_outputs).
    """
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        kernel_initializer="glorot_uniform",
        bias_initializer=keras.initializers.Constant(BIAS_INIT),
        name=name,
        **({} if activation else float32_outputs()),
    )(x)
    if activation:
        # One LEAKY_RELU op in TFLite instead of the original's MAXIMUM(x, MUL(x)).
        x = keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=f"{name}_lrelu")(x)
    return x


def dense(x, units: int, name: str, activation: bool = True, dropout_rate: float = 0.0):
    """FC y = x W + b (+ leaky ReLU, + dropout active only in training); W is [in, out].

    A linear layer (activation=False) stays float32 under mixed precision (float32_outputs).
    """
    x = keras.layers.Dense(
        units,
        kernel_initializer="glorot_uniform",
        bias_initializer=keras.initializers.Constant(BIAS_INIT),
        name=name,
        **({} if activation else float32_outputs()),
    )(x)
    if activation:
        x = keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=f"{name}_lrelu")(x)
    if dropout_rate > 0.0:
        x = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
    return x


def max_pool(x, name: str):
    """2x2 max pool, stride 2, VALID (odd sizes floored), docs/original.md §0."""
    return keras.layers.MaxPool2D(pool_size=2, strides=2, padding="valid", name=name)(x)


def lifting_inputs(size: int = LIFTING_INPUT_SIZE, num_keypoints: int = NUM_KEYPOINTS):
    """Inputs of the lifting branches: "scoremap" [B, 32, 32, 21], "hand_side" [B, 2].

    The score map is PoseNet's raw S3 at 32 x 32 (not upsampled); the hand side is the
    one-hot left = [1, 0], right = [0, 1] (docs/original.md §3).
    """
    scoremap = keras.Input(shape=(size, size, num_keypoints), name="scoremap")
    hand_side = keras.Input(shape=(HAND_SIDES,), name="hand_side")
    return scoremap, hand_side


def flatten_with_hand_side(x, hand_side, prefix: str):
    """[B, h, w, C] -> [B, h*w*C + 2]: row-major (h, w, c) flatten, hand side appended LAST.

    The first FC of each lifting branch expects exactly this order (rows 2048-2049 of
    PosePrior/fc_rel0/weights are the hand side, docs/original.md §4); Keras Flatten on
    channels-last tensors is row-major over (h, w, c).
    """
    x = keras.layers.Flatten(name=f"{prefix}_flatten")(x)
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}_with_hand_side")([x, hand_side])


@keras.utils.register_keras_serializable(package="hand3d_tf")
class LegacyBilinearResize(keras.layers.Layer):
    """TF1 ``resize_images`` bilinear: align_corners=False, *legacy* (non half-pixel) sampling.

    Output pixel i samples source coordinate i * in_size / out_size, so with an 8x
    upsample source cell p lands at output 8p (TF2's default resize would put it at
    8p + 3.5 and shift keypoints by ~3.5 px, docs/original.md §0); past the last source row/column
    the edge value repeats. Converts to TFLite RESIZE_BILINEAR (half_pixel_centers=false).

    Called on ``[x, reference]`` it resizes x [B, h, w, C] to reference's H x W (dynamic
    sizes allowed); called on ``x`` alone it needs ``size=(H, W)`` or ``factor``.
    """

    def __init__(self, size: tuple[int, int] | None = None, factor: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if size is not None and factor is not None:
            raise ValueError(
                f"give `size` or `factor`, not both; received size={size}, factor={factor}"
            )
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(
                f"`size` must be (height, width) with positive entries; received size={size}"
            )
        if factor is not None and (
            isinstance(factor, bool) or not isinstance(factor, int) or factor < 1
        ):
            raise ValueError(f"`factor` must be a positive integer; received factor={factor!r}")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.factor = factor

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, reference = inputs
            size = _spatial_size(reference)
        elif self.size is not None:
            x, size = inputs, self.size
        elif self.factor is not None:
            x = inputs
            h, w = _spatial_size(x)
            size = (h * self.factor, w * self.factor)
        else:
            raise ValueError(
                f"{self.name}: called on one tensor but neither `size` nor `factor` was set"
            )
        if not isinstance(size, tuple) or not all(isinstance(s, int) for s in size):
            size = tf.stack(list(size))
        # The op behind tf.compat.v1.image.resize_bilinear, called directly to avoid its
        # deprecation warning on every build.
        return tf.raw_ops.ResizeBilinear(
            images=x, size=size, align_corners=False, half_pixel_centers=False
        )

    def get_config(self):
        return {**super().get_config(), "size": self.size, "factor": self.factor}


def _spatial_size(x):
    """(H, W) as Python ints where static, else as scalar tensors."""
    static = x.shape[1:3]
    dynamic = tf.shape(x)
    return tuple(static[i] if static[i] is not None else dynamic[1 + i] for i in range(2))


@keras.utils.register_keras_serializable(package="hand3d_tf")
class Rodrigues(keras.layers.Layer):
    """Axis-angle u [B, 3] -> rotation matrix R [B, 3, 3] (docs/original.md §3).

    theta = sqrt(|u|^2 + 1e-8), axis (x, y, z) = u / theta, c = cos, s = sin, C = 1 - c;
    the standard right-handed Rodrigues matrix for column vectors. Built from
    element-wise ops and one concat (TFLite CONCATENATION) instead of the original's DynamicStitch.
    """

    def call(self, u):
        # split + per-part division: u[:, i] would become 2-D STRIDED_SLICE ops and u / theta
        # an L2_NORMALIZATION, both refused by the TFLite GPU delegate.
        theta = tf.sqrt(tf.reduce_sum(tf.square(u), axis=-1, keepdims=True) + THETA_EPS)
        ux, uy, uz = tf.split(u, 3, axis=-1)  # each [B, 1]
        x, y, z = ux / theta, uy / theta, uz / theta
        c, s = tf.cos(theta), tf.sin(theta)
        one_c = 1.0 - c
        entries = [
            c + x * x * one_c, x * y * one_c - z * s, x * z * one_c + y * s,
            y * x * one_c + z * s, c + y * y * one_c, y * z * one_c - x * s,
            z * x * one_c - y * s, z * y * one_c + x * s, c + z * z * one_c,
        ]  # fmt: skip
        return tf.reshape(tf.concat(entries, axis=-1), [-1, 3, 3])


@keras.utils.register_keras_serializable(package="hand3d_tf")
class FlipRightHand(keras.layers.Layer):
    """Negate the canonical z of right hands (argmax(hand_side) == 1), docs/original.md §3 step 2.

    Inputs: ``[xyz [B, K, 3], hand_side [B, 2] one-hot (left = [1, 0])]``. A tie counts
    as left, like argmax's first-index rule; written as a comparison and a multiply so no
    ARG_MAX / SELECT op is needed.
    """

    def call(self, inputs):
        xyz, hand_side = inputs
        left, right = tf.split(hand_side, 2, axis=-1)  # no STRIDED_SLICE (GPU delegate)
        is_right = tf.cast(right > left, xyz.dtype)  # [B, 1]
        # Per-sample factors (1, 1, +-1) without ones_like (a dynamic BROADCAST_TO).
        sign = 1.0 + is_right * tf.constant([0.0, 0.0, -2.0], dtype=xyz.dtype)  # [B, 3]
        return xyz * sign[:, None, :]


@keras.utils.register_keras_serializable(package="hand3d_tf")
class RotatePoints(keras.layers.Layer):
    """Row vectors times R: out[b, k] = xyz[b, k] @ R[b] (docs/original.md §3 step 3).

    Inputs ``[xyz [B, K, 3], R [B, 3, 3]]``. Written as broadcast multiply + sum over
    the shared axis (MUL + SUM in TFLite) rather than BATCH_MATMUL, which GPU delegates
    support less widely.
    """

    def call(self, inputs):
        xyz, rotation = inputs
        return tf.reduce_sum(xyz[:, :, :, None] * rotation[:, None, :, :], axis=2)


CUSTOM_OBJECTS = {
    "LegacyBilinearResize": LegacyBilinearResize,
    "Rodrigues": Rodrigues,
    "FlipRightHand": FlipRightHand,
    "RotatePoints": RotatePoints,
}
