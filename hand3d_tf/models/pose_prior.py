"""PosePrior: canonical 3-D keypoints from 2-D score maps and the hand side (docs/original.md §3)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.configs import PosePriorConfig, scaled
from hand3d_tf.models.layers import (
    conv,
    dense,
    flatten_with_hand_side,
    float32_outputs,
    lifting_inputs,
)

__all__ = ["PosePrior", "pose_prior_branch", "POSE_PRIOR_CONVS", "POSE_PRIOR_LAYER_PREFIXES"]

NUM_KEYPOINTS = 21
BOTTLENECK_UNITS = 30  # fc_bottleneck of the "bottleneck" variant, docs/original.md §3
DROPOUT_RATE = 0.2  # keep probability 0.8, docs/original.md §3

# (layer name, output channels, stride), all 3x3 SAME convs with leaky ReLU, docs/original.md §3.
POSE_PRIOR_CONVS = (
    ("conv_pose_0_1", 32, 1),
    ("conv_pose_0_2", 32, 2),
    ("conv_pose_1_1", 64, 1),
    ("conv_pose_1_2", 64, 2),
    ("conv_pose_2_1", 128, 1),
    ("conv_pose_2_2", 128, 2),
)

# Layer-name prefixes that belong to the PosePrior scope of the released weights.
POSE_PRIOR_LAYER_PREFIXES = ("conv_pose_", "fc_rel", "fc_xyz", "fc_bottleneck")


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
    rate = DROPOUT_RATE if cfg.dropout else 0.0
    x = dense(x, scaled(512, cfg.width), "fc_rel0", dropout_rate=rate)
    x = dense(x, scaled(512, cfg.width), "fc_rel1", dropout_rate=rate)
    if cfg.variant == "bottleneck":
        # Linear, no dropout (docs/original.md §3).
        x = dense(x, scaled(BOTTLENECK_UNITS, cfg.width), "fc_bottleneck", activation=False)
    x = dense(x, NUM_KEYPOINTS * 3, "fc_xyz", activation=False)
    return keras.layers.Reshape((NUM_KEYPOINTS, 3), name="fc_xyz_reshape", **float32_outputs())(x)


def PosePrior(config: PosePriorConfig | None = None) -> keras.Model:
    """Build PosePrior alone.

    Inputs: "scoremap" [B, 32, 32, 21] float32, "hand_side" [B, 2] one-hot.
    Output: [B, 21, 3] (fc_xyz reshaped; meaning depends on ``config.variant``).
    """
    cfg = config or PosePriorConfig()
    scoremap, hand_side = lifting_inputs()
    out = pose_prior_branch(scoremap, hand_side, cfg)
    return keras.Model([scoremap, hand_side], out, name="PosePrior")
