"""The lifting network: PosePrior (+ ViewpointNet) as ONE flat functional model (docs/original.md §3).

Flat on purpose: tensorflow-model-optimization's ``quantize_model`` refuses models that
contain nested models, so the branches are built from the same layer-building functions
as the stand-alone PosePrior / ViewPointNet instead of nesting those models.
"""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.layers import (
    FlipRightHand,
    Rodrigues,
    RotatePoints,
    float32_outputs,
    lifting_inputs,
)
from hand3d_tf.models.pose_prior import pose_prior_branch
from hand3d_tf.models.viewpoint_net import viewpoint_branch
from hand3d_tf.spec.configs import PosePriorConfig, ViewPointNetConfig
from hand3d_tf.spec.nets import LIFTING_OUTPUT_KEYS

__all__ = ["Lifting", "lifting_output_keys"]


def lifting_output_keys(variant: str) -> tuple[str, ...]:
    """Keys of the output dict of ``Lifting(variant)``."""
    PosePriorConfig(variant=variant)  # validates the name
    return LIFTING_OUTPUT_KEYS[variant]


def Lifting(variant: str | None = None, config: PosePriorConfig | None = None) -> keras.Model:
    """Build the lifting network of one variant.

    Args:
      variant: one of configs.LIFTING_VARIANTS; None takes ``config.variant``
        (default "proposed", what the full pipeline uses).
      config: width / variant / dropout; width and dropout also apply to the
        ViewpointNet branch of "proposed".

    Inputs: "scoremap" [B, 32, 32, 21] float32 (PoseNet's raw S3), "hand_side" [B, 2]
    one-hot (left = [1, 0]).

    Outputs (dict):
      "proposed": "xyz" [B, 21, 3] root-relative, scale-normalised, camera axes;
        "xyz_canonical" [B, 21, 3] the PosePrior output before the right-hand flip;
        "rotation" [B, 3, 3] R = Rodrigues(u). xyz = flip(canonical) @ R (row vectors).
      "direct" / "bottleneck": "xyz" [B, 21, 3] directly.
      "local" / "local_w_xyz_loss": "local" [B, 21, 3] raw bone-local
        (length, angle_x, angle_y); xyz needs the NumPy inverse bone-relative
        transform of hand3d_tf.geometry (docs/original.md §6), which is not part of the graph.
    """
    if config is None:
        config = PosePriorConfig(variant=variant or "proposed")
    elif variant is not None and variant != config.variant:
        raise ValueError(
            f"`variant` and `config.variant` disagree; received variant={variant!r}, "
            f"config.variant={config.variant!r}"
        )
    scoremap, hand_side = lifting_inputs()
    coords = pose_prior_branch(scoremap, hand_side, config)
    if config.variant == "proposed":
        vp_cfg = ViewPointNetConfig(width=config.width, dropout=config.dropout)
        u = viewpoint_branch(scoremap, hand_side, vp_cfg)
        rotation = Rodrigues(name="rotation", **float32_outputs())(u)
        flipped = FlipRightHand(name="flip_right_hand", **float32_outputs())([coords, hand_side])
        xyz = RotatePoints(name="rotate", **float32_outputs())([flipped, rotation])
        outputs = {"xyz": xyz, "xyz_canonical": coords, "rotation": rotation}
    elif config.variant in ("direct", "bottleneck"):
        outputs = {"xyz": coords}
    else:
        outputs = {"local": coords}
    return keras.Model([scoremap, hand_side], outputs, name="Lifting")
