"""The three ColorHandPose3D networks as functional tf_keras models (docs/original.md §1-§3).

``build(net, config)`` is the single entry point used by the CLIs and the weight files;
the builders themselves (``HandSegNet``, ``PoseNet``, ``PosePrior``, ``ViewPointNet``,
``Lifting``) take the config dataclasses of ``hand3d_tf.spec.configs`` (re-exported by
``hand3d_tf.models.configs``) and build the layer tables of ``hand3d_tf.spec.nets``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

from hand3d_tf.constants import NETS
from hand3d_tf.keras import keras
from hand3d_tf.models.hand_seg_net import HandSegNet
from hand3d_tf.models.layers import CUSTOM_OBJECTS
from hand3d_tf.models.lifting import Lifting, lifting_output_keys
from hand3d_tf.models.pose_net import PoseNet
from hand3d_tf.models.pose_prior import PosePrior
from hand3d_tf.models.viewpoint_net import ViewPointNet
from hand3d_tf.spec.configs import (
    LIFTING_VARIANTS,
    HandSegNetConfig,
    PoseNetConfig,
    PosePriorConfig,
    ViewPointNetConfig,
)

__all__ = [
    "NETS",
    "CONFIG_CLASSES",
    "CUSTOM_OBJECTS",
    "LIFTING_VARIANTS",
    "build",
    "config_for",
    "HandSegNet",
    "HandSegNetConfig",
    "Lifting",
    "lifting_output_keys",
    "PoseNet",
    "PoseNetConfig",
    "PosePrior",
    "PosePriorConfig",
    "ViewPointNet",
    "ViewPointNetConfig",
]


# The lifting net is configured by PosePriorConfig (its variant picks the branches).
CONFIG_CLASSES = {
    "handsegnet": HandSegNetConfig,
    "posenet": PoseNetConfig,
    "lifting": PosePriorConfig,
}
_BUILDERS = {
    "handsegnet": HandSegNet,
    "posenet": PoseNet,
    "lifting": lambda cfg: Lifting(config=cfg),
}

ConfigLike = Union[dict, HandSegNetConfig, PoseNetConfig, PosePriorConfig, None]


def _check_net(net: Any) -> str:
    if net not in NETS:
        raise ValueError(f"`net` must be one of {NETS}; received net={net!r}")
    return net


def config_for(net: str, config: ConfigLike = None):
    """The config dataclass of ``net`` from a dict, a dataclass of the right type, or None."""
    cls = CONFIG_CLASSES[_check_net(net)]
    if config is None:
        return cls()
    if isinstance(config, dict):
        return cls.from_dict(config)
    if isinstance(config, cls):
        return config
    kind = type(config).__name__ if dataclasses.is_dataclass(config) else repr(config)
    raise ValueError(f"config for net={net!r} must be a dict or {cls.__name__}; received {kind}")


def build(net: str, config: ConfigLike = None) -> keras.Model:
    """Build ``net`` in ("handsegnet", "posenet", "lifting"); the lifting variant is in config.

    Example: ``build("lifting", {"variant": "bottleneck", "width": 0.25})``.
    """
    return _BUILDERS[_check_net(net)](config_for(net, config))
