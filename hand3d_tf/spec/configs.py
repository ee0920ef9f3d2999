"""Configuration dataclasses of the three networks (TF- and JAX-free; models/ and jax/ read them).

Each config called with no arguments describes exactly the paper's network (docs/original.md §1-§3).
``width`` multiplies every *hidden* channel / unit count, ``max(1, round(c * width))``;
the output sizes (2 segmentation classes, 21 score maps, 63 = 21 x 3 coordinates, the
three 1-unit rotation heads) and the 2 hand-side inputs never scale, so a tiny-width net
has the same interface as the full one (used by fast tests and smoke runs).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

from hand3d_tf.constants import LIFTING_VARIANTS

__all__ = [
    "LIFTING_VARIANTS",
    "HandSegNetConfig",
    "PoseNetConfig",
    "PosePriorConfig",
    "ViewPointNetConfig",
    "scaled",
]


_C = TypeVar("_C", bound="_Config")


def scaled(channels: int, width: float) -> int:
    """Hidden channel count ``channels`` scaled by ``width``, at least 1."""
    return max(1, int(round(channels * width)))


def _check_width(width: Any) -> None:
    if (
        isinstance(width, bool)
        or not isinstance(width, (int, float))
        or not math.isfinite(width)
        or width <= 0
    ):
        raise ValueError(f"`width` must be a finite number > 0; received width={width!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; received {name}={value!r}")


class _Config:
    """Shared dict round trip; subclasses are frozen dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_C], values: dict[str, Any]) -> _C:
        if not isinstance(values, dict):
            raise ValueError(
                f"{cls.__name__}.from_dict expects a dict; received {type(values).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} keys {unknown}; allowed keys are {sorted(known)}"
            )
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class HandSegNetConfig(_Config):
    """HandSegNet (docs/original.md §1).

    Attributes:
      width: multiplier of the hidden channel counts (1.0 = paper).
      upsample: True returns logits resized to the input size with the legacy bilinear
        resize (the original); False returns the stride-8 logits (a TFLite model whose
        host does the upsampling).
    """

    width: float = 1.0
    upsample: bool = True

    def __post_init__(self):
        _check_width(self.width)
        _check_bool("upsample", self.upsample)


@dataclasses.dataclass(frozen=True)
class PoseNetConfig(_Config):
    """PoseNet2D (docs/original.md §2).

    Attributes:
      width: multiplier of the hidden channel counts (1.0 = paper).
      num_keypoints: score maps per stage (21 in the paper; never scaled by width).
      input_size: side of the square input crop in pixels (256 in the paper); a
        multiple of 8, the network's output stride.
    """

    width: float = 1.0
    num_keypoints: int = 21
    input_size: int = 256

    def __post_init__(self):
        _check_width(self.width)
        for name in ("num_keypoints", "input_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}")
        if self.input_size % 8:
            raise ValueError(
                f"`input_size` must be a multiple of 8 (three 2x2 pools); received input_size={self.input_size}"
            )


@dataclasses.dataclass(frozen=True)
class PosePriorConfig(_Config):
    """PosePrior, and the lifting network built around it (docs/original.md §3).

    Attributes:
      width: multiplier of the hidden channel / unit counts (1.0 = paper); in a
        ``Lifting`` model it also scales the ViewpointNet branch.
      variant: one of LIFTING_VARIANTS; "bottleneck" adds the linear fc_bottleneck
        512->30 before fc_xyz, "proposed" adds the ViewpointNet branch in ``Lifting``.
      dropout: dropout after the hidden FC layers, active only when training
        (keep 0.8 here, 0.75 in ViewpointNet; the original never enabled it, docs/original.md §9).
    """

    width: float = 1.0
    variant: str = "proposed"
    dropout: bool = True

    def __post_init__(self):
        _check_width(self.width)
        if self.variant not in LIFTING_VARIANTS:
            raise ValueError(
                f"`variant` must be one of {LIFTING_VARIANTS}; received variant={self.variant!r}"
            )
        _check_bool("dropout", self.dropout)


@dataclasses.dataclass(frozen=True)
class ViewPointNetConfig(_Config):
    """ViewpointNet (docs/original.md §3).

    Attributes:
      width: multiplier of the hidden channel / unit counts (1.0 = paper).
      dropout: dropout (keep 0.75) after fc_vp0 and fc_vp1, active only when training.
    """

    width: float = 1.0
    dropout: bool = True

    def __post_init__(self):
        _check_width(self.width)
        _check_bool("dropout", self.dropout)
