"""The training targets' constants (docs/original.md §8.3, §9), read by both trainers.

hand3d_tf.data (tf.data pipelines) and hand3d_tf.jax (the lent-GPU trainer) build the same
targets from these numbers: the ground-truth hand crop, the Gaussian score maps, the
lifting's pooled input, the augmentations of the original's ``<net>_rhd`` training and
the PoseNet loss's denominator.
"""

from __future__ import annotations

from hand3d_tf.constants import CROP_SIZE

__all__ = [
    "CROP_SIZE",
    "CROP_SIZE_MIN",
    "CROP_SIZE_MAX",
    "CROP_SIZE_FALLBACK",
    "CROP_SCALE_MIN",
    "CROP_SCALE_MAX",
    "SCOREMAP_SIGMA",
    "LIFTING_POOL",
    "COORD_LIMIT",
    "NOISE_TRUNCATION",
    "RHD_AUGMENTATION",
    "POSENET_VISIBLE_EPS",
    "LIFTING_LOSS_TERMS",
]

# The hand crop (docs/original.md §8.3 step 7): size = 2 x the visible keypoints' extent
# around keypoint 12, clamped to [50, 500] px (200 if not finite); scale = 256 / size
# clamped to [1, 10], so a crop is never downsampled.
CROP_SIZE_MIN = 50.0
CROP_SIZE_MAX = 500.0
CROP_SIZE_FALLBACK = 200.0
CROP_SCALE_MIN = 1.0
CROP_SCALE_MAX = 10.0

# Score maps exp(-d^2 / sigma^2) on the 256 crop (docs/original.md §8.3 step 8), and the
# lifting input: their 8 x 8 block mean, 256 -> 32 (docs/original.md §3).
SCOREMAP_SIGMA = 25.0
LIFTING_POOL = 8

# Largest |coordinate| before the int cast of score-map positions: keeps huge (noisy or
# degenerate) positions from overflowing int32; anything that far out is invisible anyway.
COORD_LIMIT = 1.0e6

# The noises are truncated normals re-drawn beyond 2 sigma (docs/original.md §8.3 table).
NOISE_TRUNCATION = 2.0

# The augmentations of the original's training per net (docs/original.md §8.3 table, §9):
# hand3d_tf.data.pipelines' ``<net>_rhd`` presets, in PipelineConfig's field names.
RHD_AUGMENTATION = {
    "handsegnet": {"hue_max_delta": 0.1, "random_crop_size": CROP_SIZE},
    "posenet": {"uv_noise_sigma": 2.5, "crop_center_noise_sigma": 20.0},
    "lifting": {
        "uv_noise_sigma": 2.5,
        "crop_center_noise_sigma": 20.0,
        "crop_scale_noise_max": 1.2,
        "crop_offset_noise_sigma": 10.0,
    },
}

# Added to the visible-keypoint count so a batch without visible keypoints gives 0, not NaN
# (docs/original.md §9, PoseNet loss).
POSENET_VISIBLE_EPS = 0.001


# The lifting's loss per variant (docs/original.md §3, §9): the sum of these plain mean
# squared errors, each (term name, output key, target key, through local_to_xyz first?).
LIFTING_LOSS_TERMS = {
    "proposed": (
        ("canonical", "xyz_canonical", "xyz_canonical", False),
        ("rotation", "rotation", "rot_mat", False),
    ),
    "direct": (("xyz", "xyz", "xyz_normed", False),),
    "bottleneck": (("xyz", "xyz", "xyz_normed", False),),
    "local": (("local", "local", "xyz_local", False),),
    "local_w_xyz_loss": (("xyz", "local", "xyz_normed", True),),
}
