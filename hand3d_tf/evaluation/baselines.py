"""Trivial baselines for the model card: statistics of a training split, and predictors.

A number means little without a baseline that uses no image. Every baseline here is
computed from the TRAINING split's annotations and masks only (never the evaluated
sample's ground truth) and predicts the same thing for every sample:

| protocol | baseline | statistic of the training split |
|---|---|---|
| segmentation | a centred disc (pixel centres within radius r of the image centre) | r = sqrt(mean hand area / pi), hand = mask class > 1, both hands |
| pose2d_gt_crop | "mean pose": the same uv in the 256x256 crop | per-keypoint mean of the ground-truth crop uv over visible entries |
| pose2d_full | "image-centre crop": the mean crop pose back-projected from a crop centred on the image centre | mean ground-truth crop scale |
| lifting3d, full3d | "mean pose": the same normalised xyz | mean palm-relative, bone-normalised camera-frame xyz |

The ground-truth crop, hand choice and normalisation follow the evaluation readers
(docs/original.md §8.3 steps 1-7, no noise): uv truncated, wrist replaced by the palm,
hand = the one with strictly more mask pixels (ties: right). NumPy and OpenCV only; nothing
is cached on disk.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hand3d_tf import geometry
from hand3d_tf import keypoints as kp
from hand3d_tf.constants import CROP_SIZE

# Ground-truth crop of docs/original.md §8.3 step 7 (= the defaults of data.pipelines.PipelineConfig,
# repeated so this module imports no TensorFlow).
CROP_SIZE_MIN, CROP_SIZE_MAX, CROP_SIZE_FALLBACK = 50.0, 500.0, 200.0
CROP_SCALE_MIN, CROP_SCALE_MAX = 1.0, 10.0
_BIG = np.finfo(np.float32).max


@dataclasses.dataclass(frozen=True)
class BaselineStats:
    """What the baselines predict, from ``num_samples`` training samples.

    image_hw: (H, W) px of the training frames. hand_area_mean: mean number of hand pixels
    (class > 1, both hands) per frame, NaN without masks. crop_uv_mean: [21, 2] px (u, v) in
    the 256x256 ground-truth crop, per keypoint over visible entries (palm at 0).
    crop_scale_mean: mean crop scale (crop px per image px). xyz_normed_mean: [21, 3]
    palm-relative camera-frame xyz divided by the bone 12-11 length (docs/original.md §6).
    """

    num_samples: int
    image_hw: tuple
    hand_area_mean: float
    crop_uv_mean: np.ndarray
    crop_scale_mean: float
    xyz_normed_mean: np.ndarray
    source: str = ""

    def to_dict(self) -> dict:
        """JSON-safe dict (lists; NaN as None)."""

        def num(v):
            return float(v) if math.isfinite(float(v)) else None

        return {
            "source": self.source,
            "num_samples": int(self.num_samples),
            "image_hw": [int(v) for v in self.image_hw],
            "hand_area_mean_px": num(self.hand_area_mean),
            "disc_radius_px": num(math.sqrt(self.hand_area_mean / math.pi)),
            "crop_scale_mean": num(self.crop_scale_mean),
            "crop_uv_mean": np.asarray(self.crop_uv_mean, float).round(4).tolist(),
            "xyz_normed_mean": np.asarray(self.xyz_normed_mean, float).round(6).tolist(),
        }


def _masks(source):
    """Yield each sample's class mask [H, W] uint8 (PNG files or RHD records)."""
    if source.mask_paths is not None:
        from hand3d_tf.data.samples import read_png

        for sid, path in zip(source.ids, source.mask_paths):
            yield read_png(path, int(sid), channels=1)
    else:
        from hand3d_tf.data import records

        opened = records.read_rhd_records(source.records_path)
        for i in range(len(source)):
            yield opened.pixels(i)[1]


def mask_statistics(source, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(hand pixels [N] int64, hand side [N] int8: 0 left, 1 right) of a Source.

    Hand pixels = class > 1 (both hands); side = left if strictly more left-hand pixels
    (classes 2-17) than right (>= 18), else right (docs/original.md §8.3 step 5), or the source's fixed
    side. Without masks (STB) the areas are -1 and the fixed side is used.
    """
    n = len(source)
    if not source.has_masks:
        return np.full(n, -1, np.int64), np.asarray(source.hand_side, np.int8)
    from tqdm import tqdm

    areas, sides = np.zeros(n, np.int64), np.zeros(n, np.int8)
    masks = tqdm(_masks(source), total=n, desc="baseline masks", disable=not progress)
    for i, mask in enumerate(masks):
        left = np.count_nonzero((mask > kp.MASK_PERSON) & (mask < kp.MASK_RIGHT_FIRST))
        right = np.count_nonzero(mask >= kp.MASK_RIGHT_FIRST)
        areas[i], sides[i] = left + right, 0 if left > right else 1
    if source.hand_side is not None:
        sides = np.asarray(source.hand_side, np.int8)
    return areas, sides


def ground_truth_crop(uv21, vis21, image_hw) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free ground-truth crop of docs/original.md §8.3 step 7: (center_rowcol [N, 2], scale [N]).

    uv21 [N, 21, 2] px (u, v), vis21 [N, 21] bool. Centre = keypoint 12 ((0, 0) if not
    finite); size = 2 x the largest distance from the centre to the extremes of the visible
    keypoints (clamped to the image), clamped to [50, 500] (200 if not finite); scale =
    clip(256 / size, 1, 10).
    """
    uv21 = np.asarray(uv21, np.float64)
    vis = np.asarray(vis21, bool)[..., None]
    center = uv21[:, 12, ::-1]
    center = np.where(np.isfinite(center), center, 0.0)
    rowcol = uv21[..., ::-1]
    limit = np.asarray(image_hw, np.float64)[None]
    cmax = np.clip(np.max(np.where(vis, rowcol, -_BIG), axis=1), 0.0, limit)
    cmin = np.clip(np.min(np.where(vis, rowcol, _BIG), axis=1), 0.0, limit)
    size = 2.0 * np.max(np.maximum(cmax - center, center - cmin), axis=-1)
    size = np.clip(size, CROP_SIZE_MIN, CROP_SIZE_MAX)
    size = np.where(np.isfinite(size), size, CROP_SIZE_FALLBACK)
    return center, np.clip(CROP_SIZE / size, CROP_SCALE_MIN, CROP_SCALE_MAX)


def _visible_mean(values, vis) -> np.ndarray:
    """Per-keypoint mean of values [N, 21, D] over visible entries (all entries if none)."""
    w = np.asarray(vis, np.float64)[..., None]
    count = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (values * w).sum(axis=0) / count
    return np.where(count > 0, mean, values.mean(axis=0))


def compute_stats(source, truncate_uv: bool = True, progress: bool = False) -> BaselineStats:
    """Baseline statistics of a :class:`~hand3d_tf.data.samples.Source` (a training split).

    truncate_uv: cast uv to int first, as the RHD reader does (docs/original.md §8.3 step 2).
    """
    n = len(source)
    areas, sides = mask_statistics(source, progress)
    uv = np.asarray(source.uv, np.float64)
    if truncate_uv:
        uv = np.trunc(np.clip(uv, -1e6, 1e6))
    xyz = np.asarray(source.xyz, np.float64)
    vis = np.asarray(source.vis, bool)
    # [N, 42, D] -> [N, 2 hands, 21, D]; pick the chosen hand.
    hands = np.arange(n), sides.astype(np.int64)
    uv = uv.reshape(n, 2, kp.NUM_KEYPOINTS, 2)[hands]
    xyz = xyz.reshape(n, 2, kp.NUM_KEYPOINTS, 3)[hands]
    vis = vis.reshape(n, 2, kp.NUM_KEYPOINTS)[hands]
    if source.root == kp.ROOT_WRIST:  # keypoint 0 -> palm centre (docs/original.md §8.3 step 1)
        uv, vis = kp.wrist_to_palm(uv, vis)
        xyz, _ = kp.wrist_to_palm(xyz)
    center, scale = ground_truth_crop(uv, vis, source.image_hw)
    uv_crop = (uv - center[:, None, ::-1]) * scale[:, None, None] + CROP_SIZE // 2
    normed, _ = geometry.normalize(xyz)
    finite = np.all(np.isfinite(normed), axis=(1, 2))
    if not finite.any():
        raise ValueError(f"source {source.name!r}: no sample has a non-zero bone 12-11")
    return BaselineStats(
        num_samples=n,
        image_hw=tuple(int(v) for v in source.image_hw),
        hand_area_mean=float(areas.mean()) if source.has_masks else float("nan"),
        crop_uv_mean=_visible_mean(uv_crop, vis),
        crop_scale_mean=float(scale.mean()),
        xyz_normed_mean=normed[finite].mean(axis=0),
        source=str(source.name),
    )


def training_stats(data_dir, max_samples: int | None = None, progress: bool = True):
    """:class:`BaselineStats` of the TRAINING split of an RHD-layout dataset (RHD or
    hand3d-make-synthetic output: a root holding training/, or an rhd_training.bin file)."""
    from hand3d_tf.evaluation import sources

    source = sources.take(sources.open_source("rhd", data_dir, "training"), max_samples)
    return compute_stats(source, truncate_uv=True, progress=progress)


# --- predictions ---------------------------------------------------------------------------


def disc_mask(stats: BaselineStats, hw) -> np.ndarray:
    """[H, W] bool disc centred on the image centre whose area is the mean training hand area.

    Pixel (r, c) is in when (r - (H-1)/2)^2 + (c - (W-1)/2)^2 <= A / pi; for frames of
    another size than the training frames, A is scaled by the ratio of pixel counts.
    """
    if not math.isfinite(stats.hand_area_mean):
        raise ValueError(
            f"the segmentation baseline needs hand masks; {stats.source!r} has none (use an "
            "RHD-layout training split)"
        )
    h, w = int(hw[0]), int(hw[1])
    area = stats.hand_area_mean * (h * w) / (stats.image_hw[0] * stats.image_hw[1])
    rows, cols = np.ogrid[:h, :w]
    return (rows - (h - 1) / 2.0) ** 2 + (cols - (w - 1) / 2.0) ** 2 <= area / math.pi


def image_centre_uv(stats: BaselineStats, frame_hw) -> np.ndarray:
    """[21, 2] (u, v) px in a ``frame_hw`` frame: the mean crop pose back-projected.

    The crop is centred on the training frame's centre (H/2, W/2) with the mean crop scale;
    p = (p_crop - 128) / scale + centre (docs/original.md §5), then scaled to ``frame_hw`` as the
    ground truth is (u x W'/W, v x H'/H; e.g. 320x320 -> 240x320 for pose2d_full).
    """
    h, w = stats.image_hw
    centre_uv = np.array([w / 2.0, h / 2.0])
    uv = (np.asarray(stats.crop_uv_mean) - CROP_SIZE // 2) / stats.crop_scale_mean + centre_uv
    return uv * np.array([frame_hw[1] / w, frame_hw[0] / h])


def _batch_size(sample: dict) -> int:
    for key in ("image", "image_crop", "scoremap_pooled", "keypoint_vis"):
        if key in sample:
            return int(np.shape(sample[key])[0])
    raise KeyError(f"cannot tell the batch size of a sample with keys {sorted(sample)}")


def make_predictor(protocol: str, stats: BaselineStats):
    """predictor(sample batch) -> the baseline's prediction, as the predictors of hand3d_tf.evaluation.predictors.

    protocol: segmentation (-> [B, H, W] bool), pose2d_gt_crop / pose2d_full (-> uv
    [B, 21, 2] px), lifting3d / full3d (-> xyz_normed [B, 21, 3]).
    """
    from hand3d_tf.evaluation import protocols as pr

    pr.check_protocol(protocol, pr.ALL_PROTOCOLS)

    def tile(values, sample):
        return np.repeat(np.asarray(values, np.float64)[None], _batch_size(sample), axis=0)

    if protocol == pr.SEGMENTATION:
        return lambda s: tile(disc_mask(stats, np.shape(s["image"])[1:3]), s).astype(bool)
    if protocol == pr.POSE2D_GT_CROP:
        return lambda s: tile(stats.crop_uv_mean, s)
    if protocol == pr.POSE2D_FULL:
        return lambda s: tile(image_centre_uv(stats, np.shape(s["image"])[1:3]), s)
    return lambda s: tile(stats.xyz_normed_mean, s)


DESCRIPTIONS = {
    "segmentation": "centred disc, area = mean training hand area (class > 1, both hands)",
    "pose2d_gt_crop": "mean training keypoint position in the 256x256 ground-truth crop",
    "pose2d_full": "crop centred on the image centre at the mean training crop scale, "
    "mean crop pose back-projected",
    "lifting3d": "mean training xyz (palm-relative, bone-normalised, camera frame)",
    "full3d": "mean training xyz (palm-relative, bone-normalised, camera frame)",
}
