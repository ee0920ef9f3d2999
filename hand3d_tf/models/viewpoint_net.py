"""ViewpointNet: the axis-angle rotation u of the hand (docs/original.md §3; tables in spec.nets)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.layers import (
    conv,
    dense,
    flatten_with_hand_side,
    float32_outputs,
    lifting_inputs,
)
from hand3d_tf.spec.configs import ViewPointNetConfig, scaled
from hand3d_tf.spec.nets import (
    VIEWPOINT_CONVS,
    VIEWPOINT_DROPOUT_RATE,
    VIEWPOINT_FC,
    VIEWPOINT_HEADS,
    VIEWPOINT_LAYER_PREFIXES,
    VIEWPOINT_SCOPE,
)

__all__ = ["ViewPointNet", "viewpoint_branch", "VIEWPOINT_CONVS", "VIEWPOINT_LAYER_PREFIXES"]


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
    rate = VIEWPOINT_DROPOUT_RATE if cfg.dropout else 0.0
    for name, units in VIEWPOINT_FC:
        x = dense(x, scaled(units, cfg.width), name, dropout_rate=rate)
    heads = [dense(x, 1, name, activation=False) for name in VIEWPOINT_HEADS]
    return keras.layers.Concatenate(axis=-1, name="u", **float32_outputs())(heads)


def ViewPointNet(config: ViewPointNetConfig | None = None) -> keras.Model:
    """Build ViewpointNet alone.

    Inputs: "scoremap" [B, 32, 32, 21] float32, "hand_side" [B, 2] one-hot.
    Output: u [B, 3], the axis-angle vector (angle = |u|); see layers.Rodrigues.
    """
    cfg = config or ViewPointNetConfig()
    scoremap, hand_side = lifting_inputs()
    u = viewpoint_branch(scoremap, hand_side, cfg)
    return keras.Model([scoremap, hand_side], u, name=VIEWPOINT_SCOPE)
