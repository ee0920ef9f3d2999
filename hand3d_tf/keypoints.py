"""Keypoint names, order, skeleton and dataset layouts (docs/original.md §6, §8.1, §8.4). No TensorFlow.

The project uses RHD order everywhere: index 0 is the root, then each finger from tip to
base (thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20).

Index 0 means two different points depending on the data setting:
- the **wrist** in raw RHD annotations (``ROOT_WRIST``);
- the **palm centre** = midpoint of wrist (0) and middle MCP (12) when the original's
  ``use_wrist_coord=False`` is used (``ROOT_PALM``; the setting PoseNet and the lifting
  networks were trained with, and STB's native index 0).
"""

from __future__ import annotations

import numpy as np

from hand3d_tf.constants import KEYPOINT_NAMES  # noqa: F401 (re-exported: kp.KEYPOINT_NAMES)

NUM_KEYPOINTS = 21

ROOT_WRIST = "wrist"
ROOT_PALM = "palm"
ROOTS = (ROOT_WRIST, ROOT_PALM)

# RHD order (docs/original.md §6); defined in hand3d_tf.constants. Index 0 is named "root":
# wrist or palm centre, see module docstring.
FINGER_NAMES = ("thumb", "index", "middle", "ring", "little")

# Keypoint indices of each finger, tip -> base.
FINGERS = {name: tuple(range(4 * i + 1, 4 * i + 5)) for i, name in enumerate(FINGER_NAMES)}

# Parent of each keypoint in the kinematic chain: finger bases hang off the root,
# every other joint off the next joint towards the base. Root has parent -1.
PARENTS = tuple([-1] + [0 if (k % 4 == 0) else k + 1 for k in range(1, NUM_KEYPOINTS)])

# Skeleton edges (parent, child) for drawing: 0->4->3->2->1, 0->8->7->6->5, ...
SKELETON_EDGES = tuple((PARENTS[k], k) for finger in FINGERS.values() for k in reversed(finger))

# One colour per finger (RGB in 0..1) and the finger index of each edge, for plots.
FINGER_COLORS = (
    (0.90, 0.10, 0.10),  # thumb: red
    (0.95, 0.60, 0.05),  # index: orange
    (0.10, 0.70, 0.10),  # middle: green
    (0.10, 0.45, 0.95),  # ring: blue
    (0.70, 0.10, 0.85),  # little: purple
)
EDGE_FINGER = tuple((child - 1) // 4 for _, child in SKELETON_EDGES)

# Bone used as the scale of normalised coordinates: middle MCP (12) -> middle PIP (11)
# (docs/original.md §6; the original calls it the "index root bone", a misnomer).
SCALE_BONE = (12, 11)

# The two points whose midpoint is the palm centre (docs/original.md §6).
PALM_FROM = (0, 12)

# RHD stores 42 points per frame: left hand 0-20, right hand 21-41 (docs/original.md §8.1).
RHD_NUM_POINTS = 42
RHD_LEFT = slice(0, 21)
RHD_RIGHT = slice(21, 42)

# RHD mask classes (docs/original.md §8.1): 0 background, 1 person, 2-17 left hand, 18-33 right hand.
# Within a hand: three classes per finger (tip -> base segments), then the palm.
MASK_BACKGROUND = 0
MASK_PERSON = 1
MASK_LEFT_FIRST = 2
MASK_LEFT_PALM = 17
MASK_RIGHT_FIRST = 18
MASK_RIGHT_PALM = 33
MASK_NUM_CLASSES = 34

# STB -> RHD reordering (docs/original.md §8.4): new[0] = old[0], new[i] = old[21 - i].
# STB's order is palm, then little, ring, middle, index, thumb, each base -> tip.
STB_TO_RHD = np.array([0] + [21 - i for i in range(1, NUM_KEYPOINTS)], dtype=np.int64)

HAND_LEFT = "left"
HAND_RIGHT = "right"
HAND_SIDES = (HAND_LEFT, HAND_RIGHT)


def hand_side_one_hot(side: str) -> np.ndarray:
    """One-hot hand side [2] float32: left = [1, 0], right = [0, 1] (docs/original.md §3)."""
    if side not in HAND_SIDES:
        raise ValueError(f"hand side must be one of {HAND_SIDES}; received {side!r}")
    return np.array([1.0, 0.0] if side == HAND_LEFT else [0.0, 1.0], dtype=np.float32)


def palm_centre(points: np.ndarray) -> np.ndarray:
    """Midpoint of wrist (0) and middle MCP (12) of [..., 21, D] points -> [..., D]."""
    points = np.asarray(points)
    return 0.5 * (points[..., PALM_FROM[0], :] + points[..., PALM_FROM[1], :])


def wrist_to_palm(points: np.ndarray, visible: np.ndarray | None = None):
    """Replace index 0 (wrist) by the palm centre, as the original's use_wrist_coord=False.

    points: [..., 21, D]; visible: optional [..., 21] bool. Returns (points, visible) copies;
    the palm is visible if the wrist or the middle MCP is (docs/original.md §6).
    """
    out = np.array(points, copy=True)
    out[..., 0, :] = palm_centre(points)
    if visible is None:
        return out, None
    vis = np.array(visible, dtype=bool, copy=True)
    vis[..., 0] = np.logical_or(vis[..., PALM_FROM[0]], vis[..., PALM_FROM[1]])
    return out, vis
