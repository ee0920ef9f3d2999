"""The training targets' ops in JAX, as hand3d_tf.data.targets and .pipelines compute them.

Frames and units as there: ``uv`` is (u = column, v = row) in pixels, ``center`` is
(row, column), ``scale`` crop pixels per image pixel; every function takes a leading batch
axis B. The numbers (crop limits, sigma, pool) come from hand3d_tf.spec.targets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hand3d_tf.spec.targets import (
    COORD_LIMIT,
    CROP_SCALE_MAX,
    CROP_SCALE_MIN,
    CROP_SIZE,
    CROP_SIZE_FALLBACK,
    CROP_SIZE_MAX,
    CROP_SIZE_MIN,
    LIFTING_POOL,
    SCOREMAP_SIGMA,
)

__all__ = [
    "truncate",
    "hand_mask_one_hot",
    "crop_center_and_scale",
    "crop_images",
    "uv_to_crop",
    "scoremaps",
    "pooled_scoremaps",
    "adjust_hue",
]


def truncate(x):
    """Float -> int32 -> float (toward zero) after clipping to +-COORD_LIMIT (targets.truncate)."""
    return jnp.trunc(jnp.clip(x, -COORD_LIMIT, COORD_LIMIT))


def hand_mask_one_hot(hand):
    """[..., H, W] 0/1 hand mask (samples.prepare's "hand") -> float32 [..., H, W, 2]
    (background, hand), as targets.hand_mask_one_hot of the class mask."""
    handf = (hand > 0).astype(jnp.float32)
    return jnp.stack([1.0 - handf, handf], axis=-1)


def crop_center_and_scale(uv21, vis21, image_hw, center_noise, scale_noise, offset_noise):
    """targets.crop_center_and_scale (docs/original.md §8.3 step 7): ((row, col) [B, 2], scale [B]).

    uv21 [B, 21, 2] after the uv noise, vis21 [B, 21] bool; the noises [B, 2], [B], [B, 2]
    (zeros, ones, zeros for none).
    """
    center = uv21[:, 12, ::-1]
    center = jnp.where(jnp.isfinite(center), center, 0.0) + center_noise
    rowcol = uv21[..., ::-1]
    vis = vis21[..., None]
    limit = jnp.asarray(image_hw, jnp.float32)[None]
    big = jnp.finfo(jnp.float32).max
    cmax = jnp.clip(jnp.max(jnp.where(vis, rowcol, -big), 1), 0.0, limit)
    cmin = jnp.clip(jnp.min(jnp.where(vis, rowcol, big), 1), 0.0, limit)
    extent = jnp.maximum(cmax - center, center - cmin)
    size = jnp.clip(2.0 * jnp.max(extent, -1), CROP_SIZE_MIN, CROP_SIZE_MAX)
    size = jnp.where(jnp.isfinite(size), size, CROP_SIZE_FALLBACK)
    scale = jnp.clip(CROP_SIZE / size, CROP_SCALE_MIN, CROP_SCALE_MAX) * scale_noise
    return center + offset_noise, scale


def crop_images(images, center, scale, crop_size: int = CROP_SIZE):
    """targets.crop_images: TF's crop_and_resize (bilinear, 0 outside) of the boxes of
    targets.crop_boxes (corner centre - floor(S / 2), divided by H and W, sampled over
    H - 1 and W - 1). images [B, H, W, C] float -> [B, crop_size, crop_size, C]."""
    h, w = images.shape[1], images.shape[2]
    side = crop_size / scale
    half = jnp.floor(side / 2.0)
    y1n, x1n = (center[:, 0] - half) / h, (center[:, 1] - half) / w
    y2n, x2n = (center[:, 0] - half + side) / h, (center[:, 1] - half + side) / w
    grid = jnp.arange(crop_size, dtype=jnp.float32)
    ys = y1n[:, None] * (h - 1) + grid[None] * ((y2n - y1n) * (h - 1) / (crop_size - 1))[:, None]
    xs = x1n[:, None] * (w - 1) + grid[None] * ((x2n - x1n) * (w - 1) / (crop_size - 1))[:, None]

    def one(image, y, x):
        inside = ((y >= 0) & (y <= h - 1))[:, None] & ((x >= 0) & (x <= w - 1))[None, :]
        y0, x0 = jnp.floor(y), jnp.floor(x)
        dy, dx = (y - y0)[:, None, None], (x - x0)[None, :, None]
        yi0 = jnp.clip(y0, 0, h - 1).astype(jnp.int32)
        yi1 = jnp.clip(jnp.ceil(y), 0, h - 1).astype(jnp.int32)
        xi0 = jnp.clip(x0, 0, w - 1).astype(jnp.int32)
        xi1 = jnp.clip(jnp.ceil(x), 0, w - 1).astype(jnp.int32)
        top, bottom = image[yi0], image[yi1]
        t = top[:, xi0] + (top[:, xi1] - top[:, xi0]) * dx
        b = bottom[:, xi0] + (bottom[:, xi1] - bottom[:, xi0]) * dx
        return jnp.where(inside[..., None], t + (b - t) * dy, 0.0)

    return jax.vmap(one)(images, ys, xs)


def uv_to_crop(uv, center, scale, crop_size: int = CROP_SIZE):
    """Image uv [B, N, 2] -> crop uv: (u - c_col) * s + crop_size // 2 (targets.uv_to_crop)."""
    return (uv - center[:, None, ::-1]) * scale[:, None, None] + float(crop_size // 2)


def _profiles(rowcol, vis, size, sigma):
    pos = truncate(rowcol)
    r, c = pos[..., 0], pos[..., 1]
    limit = float(size - 1)
    valid = vis & (r > 0) & (r < limit) & (c > 0) & (c < limit)
    grid = jnp.arange(size, dtype=jnp.float32)
    inv = 1.0 / (sigma * sigma)
    prof_r = jnp.exp(-jnp.square(grid - r[..., None]) * inv) * valid[..., None]
    prof_c = jnp.exp(-jnp.square(grid - c[..., None]) * inv)
    return prof_r, prof_c


def scoremaps(rowcol, vis, size: int = CROP_SIZE, sigma: float = SCOREMAP_SIGMA):
    """targets.scoremaps: Gaussians exp(-d^2 / sigma^2) at the truncated positions,
    zero unless visible and strictly inside; rowcol [B, K, 2] -> [B, size, size, K]."""
    prof_r, prof_c = _profiles(rowcol, vis, size, sigma)
    return jnp.einsum("bky,bkx->byxk", prof_r, prof_c)


def pooled_scoremaps(
    rowcol, vis, size: int = CROP_SIZE, sigma: float = SCOREMAP_SIGMA, pool: int = LIFTING_POOL
):
    """targets.pooled_scoremaps: the pool x pool block mean of :func:`scoremaps` (the lifting input)."""
    prof_r, prof_c = _profiles(rowcol, vis, size, sigma)
    b, k = prof_r.shape[:2]
    mean_r = prof_r.reshape(b, k, size // pool, pool).mean(-1)
    mean_c = prof_c.reshape(b, k, size // pool, pool).mean(-1)
    return jnp.einsum("bky,bkx->byxk", mean_r, mean_c)


def adjust_hue(image, delta):
    """TF's AdjustHue kernel on [B, H, W, 3] with delta [B]. It only orders the channels, so
    it is defined on any value range: the original applies it to the -0.5..0.5 image
    (docs/original.md §11.10)."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    rg = r < g
    # the categories of TF's rgb_to_hv_range, in its branch order
    c1 = rg & (b < r)
    c3 = rg & ~(b < r) & (b > g)
    c2 = rg & ~(b < r) & ~(b > g)
    c0 = ~rg & (b < g)
    c4 = ~rg & ~(b < g) & (b > r)
    c5 = ~rg & ~(b < g) & ~(b > r)
    cases = [c0, c1, c2, c3, c4, c5]
    v_max = jnp.select(cases, [r, g, g, b, b, r])
    v_mid = jnp.select(cases, [g, r, b, g, r, b])
    v_min = jnp.select(cases, [b, b, r, r, g, g])
    cat = jnp.select(cases, [0, 1, 2, 3, 4, 5]).astype(jnp.float32)
    span = v_max - v_min
    flat = span == 0
    ratio = (v_mid - v_min) / jnp.where(flat, 1.0, span)
    increase = (cat.astype(jnp.int32) & 1) == 0
    h = jnp.where(flat, 0.0, cat + jnp.where(increase, ratio, 1.0 - ratio))
    h = jnp.mod(h + delta[:, None, None] * 6.0, 6.0)
    h = jnp.where(h >= 6.0, h - 6.0, h)
    hc = jnp.floor(h)
    hci = hc.astype(jnp.int32)
    ratio = jnp.where((hci & 1) == 0, h - hc, 1.0 - (h - hc))
    mid = v_min + ratio * (v_max - v_min)
    conds = [hci == 0, hci == 1, hci == 2, hci == 3, hci == 4]
    out_r = jnp.select(conds, [v_max, mid, v_min, v_min, mid], v_max)
    out_g = jnp.select(conds, [mid, v_max, v_max, mid, v_min], v_min)
    out_b = jnp.select(conds, [v_min, v_min, mid, v_max, v_max], mid)
    return jnp.stack([out_r, out_g, out_b], axis=-1)
