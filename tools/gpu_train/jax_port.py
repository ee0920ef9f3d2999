"""The three networks, their losses and their training targets in JAX, for a lent GPU.

Why this exists: the GPU machines this project is sometimes lent (docs/training.md, "Training
on a lent GPU") carry JAX but no TensorFlow, and a TensorFlow wheel is far over what can be
taken there. So the default model's longer training runs there through this port, which
reads and writes the project's own ``<net>.npz`` weight files (arrays keyed by the
original's weight names, kernels HWIO, dense [in, out]) and reproduces, operation for
operation, what the TensorFlow side computes:

- the networks of hand3d_tf/models/ (docs/original.md §0-§3): SAME convolutions, 2x2 VALID
  max pools, leaky ReLU 0.01, the legacy (non half-pixel) bilinear upsampling, PoseNet's
  [score map, encoding] stage inputs, the lifting's (h, w, c) flatten with the hand side
  appended last, Rodrigues;
- the losses of hand3d_tf/training/losses.py (docs/original.md §9);
- the targets of hand3d_tf/data/targets.py and the pipelines' noises
  (hand3d_tf/data/pipelines.py presets ``<net>_rhd``, docs/original.md §8.3): the
  ground-truth crop with TF's crop_and_resize sampling, truncated score-map positions,
  the 8x8-pooled lifting input, HandSegNet's random 256 crop and TF's hue kernel.

tools/gpu_train/check_port.py checks all of this against the TensorFlow code on CPU
(the numbers are in docs/training.md). Nothing under hand3d_tf/ imports this module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

LEAKY = 0.01
NUM_KEYPOINTS = 21

# (name, kernel, pool after) of the 3x3 trunks; channels come from the weight files.
HANDSEG_TRUNK = (
    ("conv1_1", False), ("conv1_2", True), ("conv2_1", False), ("conv2_2", True),
    ("conv3_1", False), ("conv3_2", False), ("conv3_3", False), ("conv3_4", True),
    ("conv4_1", False), ("conv4_2", False), ("conv4_3", False), ("conv4_4", False),
    ("conv5_1", False), ("conv5_2", False), ("conv6_1", False),
)  # fmt: skip
POSENET_TRUNK = (
    ("conv1_1", False), ("conv1_2", True), ("conv2_1", False), ("conv2_2", True),
    ("conv3_1", False), ("conv3_2", False), ("conv3_3", False), ("conv3_4", True),
    ("conv4_1", False), ("conv4_2", False), ("conv4_3", False), ("conv4_4", False),
    ("conv4_5", False), ("conv4_6", False), ("conv4_7", False),
)  # fmt: skip
PRIOR_CONVS = (("conv_pose_0_1", 1), ("conv_pose_0_2", 2), ("conv_pose_1_1", 1),
               ("conv_pose_1_2", 2), ("conv_pose_2_1", 1), ("conv_pose_2_2", 2))  # fmt: skip
VP_CONVS = (("conv_vp_0_1", 1), ("conv_vp_0_2", 2), ("conv_vp_1_1", 1),
            ("conv_vp_1_2", 2), ("conv_vp_2_1", 1), ("conv_vp_2_2", 2))  # fmt: skip


# ------------------------------------------------------------------ weights
def load_npz(path) -> dict[str, np.ndarray]:
    """{weight name: float32 array} of a ``<net>.npz`` (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k], np.float32) for k in z.files}


def save_npz(path, params: dict) -> None:
    """Write float32 arrays under the same names (a temporary file renamed into place)."""
    import os

    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **{k: np.asarray(v, np.float32) for k, v in params.items()})
    os.replace(tmp, path)


# ------------------------------------------------------------------ layers
def _lrelu(x):
    return jnp.maximum(x, LEAKY * x)


def conv(p: dict, name: str, x, stride: int = 1, act: bool = True, dtype=jnp.float32):
    """SAME conv + bias (+ leaky ReLU); TF's SAME padding rule, NHWC / HWIO."""
    w, b = p[f"{name}/weights"].astype(dtype), p[f"{name}/biases"].astype(dtype)
    y = lax.conv_general_dilated(
        x.astype(dtype), w, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    y = y + b
    return _lrelu(y) if act else y


def dense(p: dict, name: str, x, act: bool = True, dtype=jnp.float32):
    y = x.astype(dtype) @ p[f"{name}/weights"].astype(dtype) + p[f"{name}/biases"].astype(dtype)
    return _lrelu(y) if act else y


def max_pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def legacy_resize_matrix(out_size: int, in_size: int) -> np.ndarray:
    """[out, in] weights of TF1 bilinear resize, align_corners=False, legacy sampling:
    output i samples source i * in / out; past the last source row the edge repeats."""
    scale = in_size / out_size
    m = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        src = i * scale
        lo = int(np.floor(src))
        hi = min(lo + 1, in_size - 1)
        frac = src - lo
        m[i, lo] += 1.0 - frac
        m[i, hi] += frac
    return m


def legacy_resize(x, out_hw):
    """[B, h, w, C] -> [B, H, W, C] by the legacy bilinear resize (float32)."""
    my = jnp.asarray(legacy_resize_matrix(out_hw[0], x.shape[1]))
    mx = jnp.asarray(legacy_resize_matrix(out_hw[1], x.shape[2]))
    x = x.astype(jnp.float32)
    return jnp.einsum("oh,bhwc,pw->bopc", my, x, mx)


# ------------------------------------------------------------------ networks
def handsegnet(p: dict, image, dtype=jnp.float32, upsample: bool = True):
    """Logits [B, H, W, 2] (or stride 8 with upsample=False) of hand_seg_net.HandSegNet."""
    x = image
    for name, pool in HANDSEG_TRUNK:
        x = conv(p, f"HandSegNet/{name}", x, dtype=dtype)
        if pool:
            x = max_pool(x)
    logits = conv(p, "HandSegNet/conv6_2", x.astype(jnp.float32), act=False)
    return legacy_resize(logits, image.shape[1:3]) if upsample else logits


def posenet(p: dict, image, dtype=jnp.float32):
    """[S1, S2, S3] raw score maps [B, 32, 32, 21] of pose_net.PoseNet."""
    x = image
    for name, pool in POSENET_TRUNK:
        x = conv(p, f"PoseNet2D/{name}", x, dtype=dtype)
        if pool:
            x = max_pool(x)
    encoding = x
    x = conv(p, "PoseNet2D/conv5_1", encoding, dtype=dtype)
    maps = [conv(p, "PoseNet2D/conv5_2", x.astype(jnp.float32), act=False)]
    for stage in (6, 7):
        x = jnp.concatenate([maps[-1].astype(dtype), encoding.astype(dtype)], axis=-1)
        for suffix in range(1, 7):
            x = conv(p, f"PoseNet2D/conv{stage}_{suffix}", x, dtype=dtype)
        maps.append(conv(p, f"PoseNet2D/conv{stage}_7", x.astype(jnp.float32), act=False))
    return maps


def _flatten_side(x, hand_side):
    return jnp.concatenate([x.reshape(x.shape[0], -1).astype(jnp.float32), hand_side], axis=-1)


def rodrigues(u):
    """Axis-angle [B, 3] -> R [B, 3, 3], as layers.Rodrigues (theta eps 1e-8)."""
    theta = jnp.sqrt(jnp.sum(u * u, axis=-1, keepdims=True) + 1e-8)
    x, y, z = (u[:, i : i + 1] / theta for i in range(3))
    c, s = jnp.cos(theta), jnp.sin(theta)
    o = 1.0 - c
    entries = [
        c + x * x * o, x * y * o - z * s, x * z * o + y * s,
        y * x * o + z * s, c + y * y * o, y * z * o - x * s,
        z * x * o - y * s, z * y * o + x * s, c + z * z * o,
    ]  # fmt: skip
    return jnp.concatenate(entries, axis=-1).reshape(-1, 3, 3)


def lifting(p: dict, scoremap, hand_side, dtype=jnp.float32):
    """{"xyz_canonical" [B, 21, 3], "rotation" [B, 3, 3]} of lifting.Lifting("proposed"),
    dropout off (the shipped config)."""
    x = scoremap
    for name, stride in PRIOR_CONVS:
        x = conv(p, f"PosePrior/{name}", x, stride, dtype=dtype)
    x = _flatten_side(x, hand_side)
    x = dense(p, "PosePrior/fc_rel0", x, dtype=dtype)
    x = dense(p, "PosePrior/fc_rel1", x, dtype=dtype)
    coords = dense(p, "PosePrior/fc_xyz", x.astype(jnp.float32), act=False)
    v = scoremap
    for name, stride in VP_CONVS:
        v = conv(p, f"ViewpointNet/{name}", v, stride, dtype=dtype)
    v = _flatten_side(v, hand_side)
    v = dense(p, "ViewpointNet/fc_vp0", v, dtype=dtype)
    v = dense(p, "ViewpointNet/fc_vp1", v, dtype=dtype).astype(jnp.float32)
    u = jnp.concatenate([dense(p, f"ViewpointNet/fc_vp_u{a}", v, act=False) for a in "xyz"], -1)
    return {"xyz_canonical": coords.reshape(-1, NUM_KEYPOINTS, 3), "rotation": rodrigues(u)}


# ------------------------------------------------------------------ losses
def handsegnet_loss(logits, hand_mask):
    """Mean softmax cross-entropy over pixels; hand_mask [B, H, W, 2] one-hot."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.sum(hand_mask * logp, axis=-1))


def posenet_loss(stages, scoremap, vis):
    """Sum over stages of sum(vis * per-keypoint RMS) / (visible + 0.001)."""
    vis = vis.astype(jnp.float32)
    denominator = jnp.sum(vis) + 0.001
    total = 0.0
    for stage in stages:
        pred = legacy_resize(stage, scoremap.shape[1:3])
        rms = jnp.sqrt(jnp.mean(jnp.square(pred - scoremap), axis=(1, 2)))
        total = total + jnp.sum(vis * rms) / denominator
    return total


def lifting_loss(out, xyz_canonical, rot_mat):
    canonical = jnp.mean(jnp.square(out["xyz_canonical"] - xyz_canonical))
    rotation = jnp.mean(jnp.square(out["rotation"] - rot_mat))
    return canonical + rotation


# ------------------------------------------------------------------ targets
def truncate(x):
    """Float -> int32 -> float (toward zero), after clipping to +-1e6 (targets.truncate)."""
    return jnp.trunc(jnp.clip(x, -1.0e6, 1.0e6))


def crop_center_and_scale(uv21, vis21, image_hw, center_noise, scale_noise, offset_noise,
                          crop_size=256, size_min=50.0, size_max=500.0, fallback=200.0,
                          scale_min=1.0, scale_max=10.0):  # fmt: skip
    """targets.crop_center_and_scale: ((row, col) centre [B, 2], scale [B])."""
    center = uv21[:, 12, ::-1]
    center = jnp.where(jnp.isfinite(center), center, 0.0) + center_noise
    rowcol = uv21[..., ::-1]
    vis = vis21[..., None]
    limit = jnp.asarray(image_hw, jnp.float32)[None]
    big = jnp.finfo(jnp.float32).max
    cmax = jnp.clip(jnp.max(jnp.where(vis, rowcol, -big), 1), 0.0, limit)
    cmin = jnp.clip(jnp.min(jnp.where(vis, rowcol, big), 1), 0.0, limit)
    extent = jnp.maximum(cmax - center, center - cmin)
    size = jnp.clip(2.0 * jnp.max(extent, -1), size_min, size_max)
    size = jnp.where(jnp.isfinite(size), size, fallback)
    scale = jnp.clip(crop_size / size, scale_min, scale_max) * scale_noise
    return center + offset_noise, scale


def crop_images(images, center, scale, crop_size=256):
    """targets.crop_images: TF crop_and_resize (bilinear, extrapolation 0) of the boxes
    targets.crop_boxes builds (divided by H and W, sampled over H - 1 and W - 1)."""
    h, w = images.shape[1], images.shape[2]
    side = crop_size / scale
    half = jnp.floor(side / 2.0)
    y1n, x1n = (center[:, 0] - half) / h, (center[:, 1] - half) / w
    y2n, x2n = (center[:, 0] - half + side) / h, (center[:, 1] - half + side) / w
    grid = jnp.arange(crop_size, dtype=jnp.float32)
    ys = y1n[:, None] * (h - 1) + grid[None] * ((y2n - y1n) * (h - 1) / (crop_size - 1))[:, None]
    xs = x1n[:, None] * (w - 1) + grid[None] * ((x2n - x1n) * (w - 1) / (crop_size - 1))[:, None]

    def one(image, y, x):
        y_ok = (y >= 0) & (y <= h - 1)
        x_ok = (x >= 0) & (x <= w - 1)
        y0, x0 = jnp.floor(y), jnp.floor(x)
        y1c, x1c = jnp.ceil(y), jnp.ceil(x)
        dy, dx = (y - y0)[:, None, None], (x - x0)[None, :, None]
        yi0 = jnp.clip(y0, 0, h - 1).astype(jnp.int32)
        yi1 = jnp.clip(y1c, 0, h - 1).astype(jnp.int32)
        xi0 = jnp.clip(x0, 0, w - 1).astype(jnp.int32)
        xi1 = jnp.clip(x1c, 0, w - 1).astype(jnp.int32)
        top = image[yi0]
        bottom = image[yi1]
        tl, tr = top[:, xi0], top[:, xi1]
        bl, br = bottom[:, xi0], bottom[:, xi1]
        t = tl + (tr - tl) * dx
        b = bl + (br - bl) * dx
        out = t + (b - t) * dy
        ok = (y_ok[:, None] & x_ok[None, :])[..., None]
        return jnp.where(ok, out, 0.0)

    return jax.vmap(one)(images, ys, xs)


def uv_to_crop(uv, center, scale, crop_size=256):
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


def scoremaps(rowcol, vis, size=256, sigma=25.0):
    """targets.scoremaps: [B, size, size, K]."""
    prof_r, prof_c = _profiles(rowcol, vis, size, sigma)
    return jnp.einsum("bky,bkx->byxk", prof_r, prof_c)


def pooled_scoremaps(rowcol, vis, size=256, sigma=25.0, pool=8):
    """targets.pooled_scoremaps: the 8x8 block mean of the 256 map, [B, 32, 32, K]."""
    prof_r, prof_c = _profiles(rowcol, vis, size, sigma)
    b, k = prof_r.shape[:2]
    mean_r = prof_r.reshape(b, k, size // pool, pool).mean(-1)
    mean_c = prof_c.reshape(b, k, size // pool, pool).mean(-1)
    return jnp.einsum("bky,bkx->byxk", mean_r, mean_c)


def adjust_hue(image, delta):
    """TF's AdjustHue kernel on [B, H, W, 3] with delta [B] (any value range: it only
    orders the channels, which is why the original's hue on the -0.5..0.5 image is
    well defined, docs/original.md §11.10)."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    rg = r < g
    # categories of TF's rgb_to_hv_range, in its branch order
    c1 = rg & (b < r)
    c3 = rg & ~(b < r) & (b > g)
    c2 = rg & ~(b < r) & ~(b > g)
    c0 = ~rg & (b < g)
    c4 = ~rg & ~(b < g) & (b > r)
    c5 = ~rg & ~(b < g) & ~(b > r)
    v_max = jnp.select([c0, c1, c2, c3, c4, c5], [r, g, g, b, b, r])
    v_mid = jnp.select([c0, c1, c2, c3, c4, c5], [g, r, b, g, r, b])
    v_min = jnp.select([c0, c1, c2, c3, c4, c5], [b, b, r, r, g, g])
    cat = jnp.select([c0, c1, c2, c3, c4, c5], [0, 1, 2, 3, 4, 5]).astype(jnp.float32)
    span = v_max - v_min
    flat = span == 0
    ratio = (v_mid - v_min) / jnp.where(flat, 1.0, span)
    increase = (cat.astype(jnp.int32) & 1) == 0
    h = jnp.where(flat, 0.0, cat + jnp.where(increase, ratio, 1.0 - ratio))
    h = h + delta[:, None, None] * 6.0
    h = jnp.mod(h, 6.0)
    h = jnp.where(h >= 6.0, h - 6.0, h)
    hc = jnp.floor(h)
    ratio = h - hc
    hci = hc.astype(jnp.int32)
    ratio = jnp.where((hci & 1) == 0, ratio, 1.0 - ratio)
    mid = v_min + ratio * (v_max - v_min)
    conds = [hci == 0, hci == 1, hci == 2, hci == 3, hci == 4]
    out_r = jnp.select(conds, [v_max, mid, v_min, v_min, mid], v_max)
    out_g = jnp.select(conds, [mid, v_max, v_max, mid, v_min], v_min)
    out_b = jnp.select(conds, [v_min, v_min, mid, v_max, v_max], mid)
    return jnp.stack([out_r, out_g, out_b], axis=-1)
