"""A rendered sample -> the fields the JAX trainer trains on (NumPy only: no JAX import).

The lent-GPU trainer's render workers call :func:`prepare` on each
hand3d_tf.data.synthetic.generate_sample dict; :data:`FIELDS` is the layout of the
prepared samples on the GPU, which hand3d_tf.jax.batches turns into training batches.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import geometry
from hand3d_tf import keypoints as kp

__all__ = ["prepare", "prepare_labelled", "FIELDS", "stack"]

FRAME = 320  # the synthetic (and RHD) frame side

# {field: (shape per sample, dtype)} of a prepared sample.
FIELDS = {
    "image": ((FRAME, FRAME, 3), np.uint8),
    "hand": ((FRAME, FRAME), np.uint8),
    "uv21": ((kp.NUM_KEYPOINTS, 2), np.float32),
    "vis21": ((kp.NUM_KEYPOINTS,), np.bool_),
    "side": ((), np.int32),
    "xyz_canonical": ((kp.NUM_KEYPOINTS, 3), np.float32),
    "rot_mat": ((3, 3), np.float32),
}


def prepare(sample: dict) -> dict:
    """One sample dict ("color", "mask", "xyz", "uv_vis") -> the FIELDS of that sample.

    What hand3d_tf.data.pipelines' target map derives before its noises (docs/original.md
    §8.3 steps 1-6): uv truncated as the RHD reader does, wrists replaced by palm centres,
    the hand side chosen from mask pixel counts (ties: right), that hand's 21 keypoints, the
    0/1 hand mask, and the "proposed" lifting targets of hand3d_tf.geometry (normalised,
    canonical frame, right hands mirrored, R = M^T).
    """
    mask = sample["mask"]
    uvv = sample["uv_vis"]
    xyz = sample["xyz"].astype(np.float32)
    uv = np.trunc(np.clip(uvv[:, :2], -1e6, 1e6)).astype(np.float32)
    vis = uvv[:, 2] == 1
    half = kp.NUM_KEYPOINTS
    a, b = kp.PALM_FROM
    for base in (0, half):
        xyz[base] = 0.5 * (xyz[base + a] + xyz[base + b])
        uv[base] = 0.5 * (uv[base + a] + uv[base + b])
        vis[base] = vis[base + a] or vis[base + b]
    m = mask.astype(np.int32)
    left = int(np.count_nonzero((m > kp.MASK_PERSON) & (m < kp.MASK_RIGHT_FIRST)))
    right = int(np.count_nonzero(m >= kp.MASK_RIGHT_FIRST))
    side = 0 if left > right else 1
    hand = slice(0, half) if side == 0 else slice(half, 2 * half)
    normed, _ = geometry.normalize(xyz[hand].astype(np.float64))
    canonical, rot = geometry.canonical_frame(normed)
    canonical = geometry.flip_right_hand(canonical, side == 1)
    return {
        "image": sample["color"],
        "hand": (m > kp.MASK_PERSON).astype(np.uint8),
        "uv21": uv[hand],
        "vis21": vis[hand],
        "side": np.int32(side),
        "xyz_canonical": np.asarray(canonical, np.float32),
        "rot_mat": np.asarray(geometry.canonical_rotation_target(rot), np.float32),
    }


def prepare_labelled(image, hand, uv21, vis21, side: int) -> dict:
    """A labelled photograph's hand (2D only: hand3d-autolabel, docs/autolabel.md) -> FIELDS.

    image uint8 [320, 320, 3]; hand uint8 [320, 320] 0/1 (zeros where the mask is not
    trusted: such a sample must not train HandSegNet); uv21 [21, 2] px and vis21 [21] bool
    of the labelled hand, RHD order; side 0 left, 1 right (the label's, no mask decides).
    The keypoints get what :func:`prepare` gives a render's (truncated uv, wrist -> palm
    centre); the lifting targets are NaN: these samples carry no 3D and the lifting never
    trains on them (a NaN loss would stop the trainer).
    """
    uv = np.trunc(np.clip(np.asarray(uv21, np.float64), -1e6, 1e6)).astype(np.float32)
    uv, vis = kp.wrist_to_palm(uv, np.asarray(vis21, bool))
    return {
        "image": np.asarray(image, np.uint8),
        "hand": (np.asarray(hand) > 0).astype(np.uint8),
        "uv21": uv.astype(np.float32),
        "vis21": vis,
        "side": np.int32(side),
        "xyz_canonical": np.full((kp.NUM_KEYPOINTS, 3), np.nan, np.float32),
        "rot_mat": np.full((3, 3), np.nan, np.float32),
    }


def stack(samples: list[dict]) -> dict:
    """Prepared samples -> {field: [N, ...] array} in the dtypes of FIELDS."""
    return {k: np.stack([s[k] for s in samples]).astype(dtype) for k, (_, dtype) in FIELDS.items()}
