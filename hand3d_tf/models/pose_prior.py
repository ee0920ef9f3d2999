"""PosePrior: canonical 3-D keypoints from 2-D score maps and the hand side (docs/original.md §3; tables in spec.nets)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.keypoints import NUM_KEYPOINTS
from hand3d_tf.models.layers import (
    conv,
    dense,
    flatten_with_hand_side,
    float32_outputs,
    lifting_inputs,
)
from hand3d_tf.spec.configs import PosePriorConfig, scaled
from hand3d_tf.spec.nets import (
    BOTTLENECK,
    POSE_PRIOR_CONVS,
    POSE_PRIOR_DROPOUT_RATE,
    POSE_PRIOR_FC,
    POSE_PRIOR_LAYER_PREFIXES,
    POSE_PRIOR_OUTPUT,
    POSE_PRIOR_SCOPE,
)

__all__ = ["PosePrior", "pose_prior_branch", "POSE_PRIOR_CONVS", "POSE_PRIOR_LAYER_PREFIXES"]


def pose_prior_branch(scoremap, hand_side, cfg: PosePriorConfig):
    """The PosePrior layers on existing tensors (shared by PosePrior and Lifting).

    Args:
      scoremap: [B, 32, 32, 21] raw score maps.
      hand_side: [B, 2] one-hot, left = [1, 0].
      cfg: width, variant ("bottleneck" inserts fc_bottleneck) and dropout.

    Returns:
      [B, 21, 3]: canonical coordinates for "proposed", root-relative normalised xyz for
      "direct"/"bottleneck", bone-local (length, angle_x, angle_y) for the "local"
      variants (docs/original.md §3).
    """
    x = scoremap
    for name, channels, stride in POSE_PRIOR_CONVS:
        x = conv(x, scaled(channels, cfg.width), 3, name, stride=stride)
    x = flatten_with_hand_side(x, hand_side, "pose")
    rate = POSE_PRIOR_DROPOUT_RATE if cfg.dropout else 0.0
    for name, units in POSE_PRIOR_FC:
        x = dense(x, scaled(units, cfg.width), name, dropout_rate=rate)
    if cfg.variant == "bottleneck":
        name, units = BOTTLENECK  # linear, no dropout (docs/original.md §3)
        x = dense(x, scaled(units, cfg.width), name, activation=False)
    x = dense(x, NUM_KEYPOINTS * 3, POSE_PRIOR_OUTPUT, activation=False)
    return keras.layers.Reshape(
        (NUM_KEYPOINTS, 3), name=f"{POSE_PRIOR_OUTPUT}_reshape", **float32_outputs()
    )(x)


def PosePrior(config: PosePriorConfig | None = None) -> keras.Model:
    """Build PosePrior alone.

    Inputs: "scoremap" [B, 32, 32, 21] float32, "hand_side" [B, 2] one-hot.
    Output: [B, 21, 3] (fc_xyz reshaped; meaning depends on ``config.variant``).
    """
    cfg = config or PosePriorConfig()
    scoremap, hand_side = lifting_inputs()
    out = pose_prior_branch(scoremap, hand_side, cfg)
    return keras.Model([scoremap, hand_side], out, name=POSE_PRIOR_SCOPE)
