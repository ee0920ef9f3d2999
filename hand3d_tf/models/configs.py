"""The nets' config dataclasses; their home is hand3d_tf.spec.configs (kept importable here)."""

from hand3d_tf.spec.configs import (
    LIFTING_VARIANTS,
    HandSegNetConfig,
    PoseNetConfig,
    PosePriorConfig,
    ViewPointNetConfig,
    scaled,
)

__all__ = [
    "LIFTING_VARIANTS",
    "HandSegNetConfig",
    "PoseNetConfig",
    "PosePriorConfig",
    "ViewPointNetConfig",
    "scaled",
]
