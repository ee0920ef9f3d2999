"""Training targets of docs/original.md §8.3 as batched TensorFlow ops (used inside tf.data maps).

Frames and units: ``uv`` is (u = column, v = row) in pixels; ``center_rowcol`` is
(row, column) as the original returns it; ``scale`` is crop pixels per image pixel; the
crop is ``crop_size`` x ``crop_size`` (256). Every function takes a leading batch axis B.
"""

from __future__ import annotations

import tensorflow as tf

from hand3d_tf import keypoints as kp
from hand3d_tf.spec.targets import COORD_LIMIT as _COORD_LIMIT


def truncate(x: tf.Tensor) -> tf.Tensor:
    """Float -> int32 -> float, i.e. truncation toward zero, as the original's casts."""
    x = tf.clip_by_value(x, -_COORD_LIMIT, _COORD_LIMIT)
    return tf.cast(tf.cast(x, tf.int32), tf.float32)


def palm_replace(points: tf.Tensor, vis: tf.Tensor | None = None):
    """Replace both hands' wrists (0 and 21) by palm centres (docs/original.md §6, §8.3 step 1).

    points: [B, 42, D]; vis: [B, 42] bool or None. Palm = mean of 0 and 12 (resp. 21, 33);
    palm visibility = OR of the two.
    """
    a, b = kp.PALM_FROM
    half = kp.NUM_KEYPOINTS
    left = 0.5 * (points[:, a] + points[:, b])
    right = 0.5 * (points[:, half + a] + points[:, half + b])
    out = tf.concat(
        [left[:, None], points[:, 1:half], right[:, None], points[:, half + 1 :]], axis=1
    )
    if vis is None:
        return out, None
    lv = tf.logical_or(vis[:, a], vis[:, b])
    rv = tf.logical_or(vis[:, half + a], vis[:, half + b])
    return out, tf.concat([lv[:, None], vis[:, 1:half], rv[:, None], vis[:, half + 1 :]], 1)


def hand_side_from_mask(mask: tf.Tensor) -> tf.Tensor:
    """0 (left) if strictly more left-hand than right-hand pixels, else 1 (right).

    mask: [..., H, W] integer RHD classes (docs/original.md §8.1: left 2-17, right >= 18); ties and
    masks without hand pixels give right (docs/original.md §8.3 step 5). Returns int32 [...].
    """
    m = tf.cast(mask, tf.int32)
    left = tf.reduce_sum(
        tf.cast((m > kp.MASK_PERSON) & (m < kp.MASK_RIGHT_FIRST), tf.int32), [-2, -1]
    )
    right = tf.reduce_sum(tf.cast(m >= kp.MASK_RIGHT_FIRST, tf.int32), [-2, -1])
    return tf.where(left > right, 0, 1)


def hand_mask_one_hot(mask: tf.Tensor) -> tf.Tensor:
    """[..., H, W] classes -> float32 [..., H, W, 2]: background (<= 1), hand (> 1)."""
    hand = tf.cast(mask, tf.int32) > kp.MASK_PERSON
    return tf.stack([tf.cast(~hand, tf.float32), tf.cast(hand, tf.float32)], axis=-1)


def select_hand(points42: tf.Tensor, side: tf.Tensor) -> tf.Tensor:
    """[B, 42, ...] -> [B, 21, ...]: the left (side 0) or right (side 1) half."""
    left, right = points42[:, : kp.NUM_KEYPOINTS], points42[:, kp.NUM_KEYPOINTS :]
    shape = tf.concat([tf.shape(side), tf.ones(tf.rank(left) - 1, tf.int32)], 0)
    return tf.where(tf.reshape(side == 0, shape), left, right)


def crop_center_and_scale(
    uv21, vis21, image_hw, config, center_noise=None, scale_noise=None, offset_noise=None
):
    """Ground-truth hand crop of docs/original.md §8.3 step 7: (center_rowcol [B, 2], scale [B]).

    uv21 [B, 21, 2] (after uv noise), vis21 [B, 21] bool. Centre = (v, u) of keypoint 12,
    (0, 0) if not finite, plus ``center_noise`` [B, 2]; size = 2 * the largest distance from
    the centre to the extremes of the visible keypoints (coordinates clamped to the image),
    clamped to [size_min, size_max], ``size_fallback`` if not finite; scale =
    clip(crop_size / size, scale_min, scale_max) * ``scale_noise`` [B]; ``offset_noise``
    [B, 2] moves the centre after sizing. ``config`` supplies the limits (PipelineConfig).
    """
    center = tf.reverse(uv21[:, 12], axis=[-1])  # (row, col)
    center = tf.where(tf.math.is_finite(center), center, 0.0)
    if center_noise is not None:
        center = center + center_noise
    rowcol = tf.reverse(uv21, axis=[-1])
    vis = vis21[..., None]
    limit = tf.cast(tf.reshape(image_hw, [1, 2]), tf.float32)
    big = tf.float32.max
    cmax = tf.clip_by_value(tf.reduce_max(tf.where(vis, rowcol, -big), 1), 0.0, limit)
    cmin = tf.clip_by_value(tf.reduce_min(tf.where(vis, rowcol, big), 1), 0.0, limit)
    extent = tf.maximum(cmax - center, center - cmin)  # [B, 2]
    size = 2.0 * tf.reduce_max(extent, axis=-1)
    size = tf.clip_by_value(size, config.crop_size_min, config.crop_size_max)
    size = tf.where(tf.math.is_finite(size), size, config.crop_size_fallback)
    scale = tf.clip_by_value(config.crop_size / size, config.crop_scale_min, config.crop_scale_max)
    if scale_noise is not None:
        scale = scale * scale_noise
    if offset_noise is not None:
        center = center + offset_noise
    return center, scale


def crop_boxes(center_rowcol, scale, image_hw, crop_size: int):
    """Normalised crop_and_resize boxes of the original's crop_image_from_xy (docs/original.md §5.5).

    Side S = crop_size / scale; corner = centre - floor(S / 2); boxes [B, 4] =
    (y1 / H, x1 / W, y2 / H, x2 / W), divided by H and W (not H - 1), as the original.
    """
    side = crop_size / scale
    half = tf.floor(side / 2.0)
    y1 = center_rowcol[:, 0] - half
    x1 = center_rowcol[:, 1] - half
    h = tf.cast(image_hw[0], tf.float32)
    w = tf.cast(image_hw[1], tf.float32)
    return tf.stack([y1 / h, x1 / w, (y1 + side) / h, (x1 + side) / w], axis=-1)


def crop_images(images, center_rowcol, scale, crop_size: int):
    """Bilinear crop [B, H, W, C] -> [B, crop_size, crop_size, C]; outside = 0 (docs/original.md §5.5).

    ``images`` are the -0.5..0.5 normalised images, so the zero fill is mid-grey.
    """
    boxes = crop_boxes(center_rowcol, scale, tf.shape(images)[1:3], crop_size)
    index = tf.range(tf.shape(images)[0])
    return tf.image.crop_and_resize(
        images, boxes, index, [crop_size, crop_size], method="bilinear", extrapolation_value=0.0
    )


def uv_to_crop(uv, center_rowcol, scale, crop_size: int):
    """Image uv [B, N, 2] -> crop uv: (u - c_col) * s + crop_size // 2 (docs/original.md §8.3 step 7)."""
    center_uv = tf.reverse(center_rowcol, axis=[-1])[:, None]
    return (uv - center_uv) * scale[:, None, None] + float(crop_size // 2)


def uv_from_crop(uv_crop, center_rowcol, scale, crop_size: int):
    """Inverse of :func:`uv_to_crop`: (p - crop_size // 2) / s + centre (docs/original.md §5)."""
    center_uv = tf.reverse(center_rowcol, axis=[-1])[:, None]
    return (uv_crop - float(crop_size // 2)) / scale[:, None, None] + center_uv


def intrinsics_to_crop(K, center_rowcol, scale, crop_size: int):
    """K' = T diag(s, s, 1) K with T translating by -(c * s - crop_size // 2) (docs/original.md §8.3)."""
    s = scale
    half = float(crop_size // 2)
    z, o = tf.zeros_like(s), tf.ones_like(s)
    tu = -(center_rowcol[:, 1] * s - half)
    tv = -(center_rowcol[:, 0] * s - half)
    m = tf.stack([tf.stack([s, z, tu], -1), tf.stack([z, s, tv], -1), tf.stack([z, z, o], -1)], -2)
    return tf.linalg.matmul(m, K)


def _profiles(coords_rowcol, vis, size: int, sigma: float):
    """1-D Gaussian profiles along rows and columns: ([B, K, size], [B, K, size]) and the
    validity [B, K] (visible and strictly inside, docs/original.md §8.3 step 8)."""
    pos = truncate(coords_rowcol)  # positions are truncated to integers first
    r, c = pos[..., 0], pos[..., 1]
    limit = float(size - 1)
    valid = tf.cast(vis, tf.bool) & (r > 0) & (r < limit) & (c > 0) & (c < limit)
    grid = tf.range(size, dtype=tf.float32)
    inv = 1.0 / (sigma * sigma)
    prof_r = tf.exp(-tf.square(grid - r[..., None]) * inv)
    prof_c = tf.exp(-tf.square(grid - c[..., None]) * inv)
    return prof_r * tf.cast(valid, tf.float32)[..., None], prof_c


def scoremaps(coords_rowcol, vis, size: int, sigma: float):
    """Gaussian score maps [B, size, size, K]: exp(-((r - r_k)^2 + (c - c_k)^2) / sigma^2).

    coords_rowcol [B, K, 2] in map pixels (truncated to integers first); a map is all zero
    unless the keypoint is visible and 0 < r_k, c_k < size - 1 (docs/original.md §8.3 step 8). The
    Gaussian is separable, so it is built as an outer product of two 1-D profiles.
    """
    prof_r, prof_c = _profiles(coords_rowcol, vis, size, sigma)
    return _outer(prof_r, prof_c)


def pooled_scoremaps(coords_rowcol, vis, size: int, sigma: float, pool: int):
    """:func:`scoremaps` average-pooled pool x pool, stride pool, SAME: [B, size/pool, ..., K].

    The lifting input (docs/original.md §3: 256 -> 32 with an 8x8 window). A block mean of a separable
    map is the product of the 1-D block means, so the 256x256 map is never built.
    """
    if size % pool:
        raise ValueError(f"score map size {size} must be a multiple of the pool size {pool}")
    prof_r, prof_c = _profiles(coords_rowcol, vis, size, sigma)
    shape = tf.concat([tf.shape(prof_r)[:2], [size // pool, pool]], 0)
    mean_r = tf.reduce_mean(tf.reshape(prof_r, shape), -1)
    mean_c = tf.reduce_mean(tf.reshape(prof_c, shape), -1)
    return _outer(mean_r, mean_c)


def _outer(prof_r, prof_c):
    """[B, K, R], [B, K, C] -> [B, R, C, K] by broadcasting (one pass, no big transpose)."""
    rows = tf.transpose(prof_r, [0, 2, 1])[:, :, None, :]
    cols = tf.transpose(prof_c, [0, 2, 1])[:, None, :, :]
    return rows * cols
