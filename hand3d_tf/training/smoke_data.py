"""Tiny in-memory training sets for ``--smoke`` runs and tests, built without any dataset.

Each function returns (inputs, targets, truth): dicts of NumPy arrays. inputs and targets
have the keys, dtypes and meaning of the training pipelines (hand3d_tf.data.pipelines);
truth holds what the final evaluation compares against (the keys of hand3d_tf.evaluation.protocols:
keypoints_uv_crop + keypoint_vis + crop_scale for PoseNet, keypoints_xyz + keypoint_vis for
lifting, hand_mask for HandSegNet). Few samples and
(for the image nets) a small image side so a CPU runs a step in well under a second.
The samples are simple but learnable: a skin-coloured ellipse on a textured background
(HandSegNet), bright dots at the keypoints (PoseNet), and random hand-like 3-D skeletons
with their ground-truth score maps (lifting), so a smoke run's loss visibly drops.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import geometry
from hand3d_tf import keypoints as kp
from hand3d_tf.constants import CROP_SIZE

# Gaussian width of the score-map targets at a 256-pixel crop (docs/original.md §8.3 step 8).
SIGMA_AT_256 = 25.0
SCOREMAP_SIZE = 32  # lifting input: 256 crop avg-pooled 8x8 (docs/original.md §3)


def _background(rng, n, size):
    """Low-frequency colour texture in -0.5..0.5, [n, size, size, 3] float32."""
    coarse = rng.uniform(-0.5, 0.2, size=(n, 4, 4, 3))
    idx = np.arange(size) * 4 // size
    return coarse[:, idx][:, :, idx].astype(np.float32)


def gaussian_scoremaps(uv: np.ndarray, vis: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Score-map targets [N, size, size, K]: exp(-d^2 / sigma^2) at visible keypoints.

    uv: [N, K, 2] (column, row) pixels, truncated to integers as the original; a map is zero
    unless the keypoint is visible and strictly inside the image (docs/original.md §8.3 step 8).
    """
    uv_int = np.trunc(uv).astype(np.float64)
    rows = np.arange(size, dtype=np.float64)[:, None]
    cols = np.arange(size, dtype=np.float64)[None, :]
    n, k = uv.shape[:2]
    out = np.zeros((n, size, size, k), np.float32)
    for i in range(n):
        for j in range(k):
            c, r = uv_int[i, j]
            if vis[i, j] and 0 < r < size - 1 and 0 < c < size - 1:
                d2 = (rows - r) ** 2 + (cols - c) ** 2
                out[i, :, :, j] = np.exp(-d2 / sigma**2)
    return out


def handsegnet_arrays(num_samples: int, image_size: int = 64, seed: int = 0):
    """inputs {"image" [N,S,S,3]}, targets = truth = {"hand_mask" [N,S,S,2] one-hot}."""
    rng = np.random.default_rng(seed)
    image = _background(rng, num_samples, image_size)
    rows, cols = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    hand = np.zeros((num_samples, image_size, image_size), bool)
    for i in range(num_samples):
        cy, cx = rng.uniform(0.3, 0.7, size=2) * image_size
        ry, rx = rng.uniform(0.12, 0.25, size=2) * image_size
        hand[i] = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0
        image[i][hand[i]] = np.array([0.35, 0.1, -0.05], np.float32)  # skin-like RGB
    mask = np.stack([~hand, hand], axis=-1).astype(np.float32)
    return {"image": image}, {"hand_mask": mask}, {"hand_mask": mask}


def random_skeletons(num_samples: int, rng) -> np.ndarray:
    """Hand-like 3-D keypoints [N, 21, 3] in metres, ~0.5 m in front of a camera.

    Fingers fan out from the root along random directions; not anatomically exact, but
    every bone has a plausible length and bone 12-11 is never degenerate.
    """
    out = np.zeros((num_samples, kp.NUM_KEYPOINTS, 3))
    for i in range(num_samples):
        axes = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        for f, finger in enumerate(kp.FINGERS.values()):
            direction = axes @ np.array([np.cos(0.35 * (f - 2)), np.sin(0.35 * (f - 2)), 0.0])
            curl = axes @ np.array([0.0, 0.0, rng.uniform(0.1, 0.6)])
            base = 0.04 * direction
            point = base
            for k in reversed(finger):  # base -> tip
                out[i, k] = point
                point = point + 0.025 * (direction + curl) / np.linalg.norm(direction + curl)
        out[i] += np.array([0.0, 0.0, 0.5]) + rng.normal(scale=0.02, size=3)
    return out


def _project(xyz: np.ndarray, size: int) -> np.ndarray:
    """Pinhole projection into a crop of side ``size`` centred on the root: uv [N, 21, 2].

    Focal length = ``size`` pixels: a ~14 cm hand at 0.5 m spans about a quarter of the crop
    on each side of the root.
    """
    rel = xyz - xyz[:, :1]
    uv = rel[..., :2] / xyz[..., 2:3] * float(size) + size / 2.0
    return np.clip(uv, 2, size - 3)


def posenet_arrays(num_samples: int, image_size: int = 64, seed: int = 0):
    """inputs {"image"}, targets {"scoremap" [N,S,S,21], "keypoint_vis" [N,21] bool}.

    truth: keypoints_uv_crop [N,21,2] (column, row in the image), keypoint_vis, crop_scale [N]
    (1: the image is the crop).
    """
    rng = np.random.default_rng(seed)
    xyz = random_skeletons(num_samples, rng)
    uv = _project(xyz, image_size)
    vis = rng.random((num_samples, kp.NUM_KEYPOINTS)) > 0.1
    sigma = SIGMA_AT_256 * image_size / CROP_SIZE
    scoremap = gaussian_scoremaps(uv, vis, image_size, sigma)
    image = _background(rng, num_samples, image_size)
    # Visible keypoints are drawn as bright dots: the net can find them.
    image = np.where(scoremap.max(axis=-1, keepdims=True) > 0.7, np.float32(0.49), image)
    truth = {
        "keypoints_uv_crop": np.trunc(uv).astype(np.float32),
        "keypoint_vis": vis,
        "crop_scale": np.ones(num_samples, np.float32),
    }
    image = image.astype(np.float32)
    return {"image": image}, {"scoremap": scoremap, "keypoint_vis": vis}, truth


def lifting_arrays(num_samples: int, seed: int = 0):
    """inputs {"scoremap" [N,32,32,21], "hand_side" [N,2]}, targets of every variant.

    truth: keypoints_xyz [N,21,3] metres (keypoint 0 is the root, here the "palm"), vis.

    Targets: xyz_normed, xyz_canonical (z negated for right hands), rot_mat (R_gt = M^T),
    keypoint_scale, xyz_local, all as the data pipelines define them (docs/original.md §6, §8.3).
    """
    rng = np.random.default_rng(seed)
    xyz = random_skeletons(num_samples, rng)
    is_right = rng.random(num_samples) > 0.5
    hand_side = np.where(is_right[:, None], [[0.0, 1.0]], [[1.0, 0.0]]).astype(np.float32)
    normed, scale = geometry.normalize(xyz)
    canonical, rot_mat = geometry.canonical_frame(normed)
    canonical = geometry.flip_right_hand(canonical, is_right)
    uv = _project(xyz, CROP_SIZE)
    vis = np.ones((num_samples, kp.NUM_KEYPOINTS), bool)
    full = gaussian_scoremaps(uv, vis, CROP_SIZE, SIGMA_AT_256)
    pooled = full.reshape(num_samples, SCOREMAP_SIZE, 8, SCOREMAP_SIZE, 8, -1).mean(axis=(2, 4))
    targets = {
        "xyz_normed": normed.astype(np.float32),
        "xyz_canonical": canonical.astype(np.float32),
        "rot_mat": geometry.canonical_rotation_target(rot_mat).astype(np.float32),
        "keypoint_scale": np.asarray(scale, np.float32),
        "xyz_local": geometry.bone_relative(normed).astype(np.float32),
    }
    truth = {"keypoints_xyz": xyz.astype(np.float32), "keypoint_vis": vis}
    inputs = {"scoremap": pooled.astype(np.float32), "hand_side": hand_side}
    return inputs, targets, truth


def smoke_arrays(net: str, num_samples: int, image_size: int = 64, seed: int = 0):
    """(inputs, targets, truth) for ``net`` in ("handsegnet", "posenet", "lifting")."""
    if net == "handsegnet":
        return handsegnet_arrays(num_samples, image_size, seed)
    if net == "posenet":
        return posenet_arrays(num_samples, image_size, seed)
    if net == "lifting":
        return lifting_arrays(num_samples, seed)
    raise ValueError(f"unknown net {net!r}; choose one of handsegnet, posenet, lifting")
