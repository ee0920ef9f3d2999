"""ViewpointNet: the axis-angle rotation u of the hand (docs/original.md §3)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.configs import ViewPointNetConfig, scaled
from hand3d_tf.models.layers import (
    conv,
    dense,
    flatten_with_hand_side,
    float32_outputs,
    lifting_inputs,
)

__all__ = ["ViewPointNet", "viewpoint_branch", "VIEWPOINT_CONVS", "VIEWPOINT_LAYER_PREFIXES"]

DROPOUT_RATE = 0.25  # keep probability 0.75, docs/original.md §3

# (layer name, output channels, stride), all 3x3 SAME convs with leaky ReLU, docs/original.md §3.
VIEWPOINT_CONVS = (
    ("conv_vp_0_1", 64, 1),
    ("conv_vp_0_2", 64, 2),
    ("conv_vp_1_1", 128, 1),
    ("conv_vp_1_2", 128, 2),
    ("conv_vp_2_1", 256, 1),
    ("conv_vp_2_2", 256, 2),
)

# Layer-name prefixes that belong to the ViewpointNet scope of the released weights.
VIEWPOINT_LAYER_PREFIXES = ("conv_vp_", "fc_vp")


def viewpoint_branch(scoremap, hand_side, cfg: ViewPointNetConfig):
    """The ViewpointNet layers on existing tensors (shared by ViewPointNet and Lifting).

    Args:
      scoremap: [B, 32, 32, 21] raw score maps.
      hand_side: [B, 2] one-hot, left = [1, 0].

    Returns:
      u [B, 3] = (ux, uy, uz), the concatenated outputs of the three linear heads.
    """
    x = scoremap
    for name, channels, stride in VIEWPOINT_CONVS:
        x = conv(x, scaled(channels, cfg.width), 3, name, stride=stride)
    x = flatten_with_hand_side(x, hand_side, "vp")  # 4*4*256 + 2 = 4098 inputs
    rate = DROPOUT_RATE if cfg.dropout else 0.0
    x = dense(x, scaled(256, cfg.width), "fc_vp0", dropout_rate=rate)
    x = dense(x, scaled(128, cfg.width), "fc_vp1", dropout_rate=rate)
    heads = [dense(x, 1, f"fc_vp_u{axis}", activation=False) for axis in "xyz"]
    return keras.layers.Concatenate(axis=-1, name="u", **float32_outputs())(heads)


def ViewPointNet(config: ViewPointNetConfig | None = None) -> keras.Model:
    """Build ViewpointNet alone.

    Inputs: "scoremap" [B, 32, 32, 21] float32, "hand_side" [B, 2] one-hot.
    Output: u [B, 3], the axis-angle vector (angle = |u|); see layers.Rodrigues.
    """
    cfg = config or ViewPointNetConfig()
    scoremap, hand_side = lifting_inputs()
    u = viewpoint_branch(scoremap, hand_side, cfg)
    return keras.Model([scoremap, hand_side], u, name="ViewpointNet")
