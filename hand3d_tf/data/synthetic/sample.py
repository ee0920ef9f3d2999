"""One synthetic RHD-like sample: scene -> render -> shade -> background -> degrade -> labels."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from hand3d_tf import images
from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import appearance
from hand3d_tf.data.synthetic.background import make_background
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.render import Light, keypoint_visibility, project, render, shade
from hand3d_tf.data.synthetic.scene import Scene
from hand3d_tf.data.synthetic.scenes import sample_scene

# RHD's depth encoding saturates at 5 m (docs/original.md §8.1); background depth stays below it.
MAX_DEPTH = 5.0
# Inclusive mask-class range of each of the 42 keypoints' hand (left 2-17, right 18-33).
_CLASS_RANGES = np.array(
    [(kp.MASK_LEFT_FIRST, kp.MASK_LEFT_PALM)] * kp.NUM_KEYPOINTS
    + [(kp.MASK_RIGHT_FIRST, kp.MASK_RIGHT_PALM)] * kp.NUM_KEYPOINTS
)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index``: a pure function of (seed, index), so any worker
    split of the indices gives the same samples."""
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be non-negative; received {seed}, {index}")
    return np.random.default_rng([int(seed), int(index)])


def _light(rng, config: SyntheticConfig) -> Light:
    direction = rng.standard_normal(3)
    if rng.uniform() < 0.85:  # mostly lit from the camera's side, sometimes from behind
        direction[2] = -abs(direction[2]) - 0.5
    direction /= np.linalg.norm(direction)
    return Light(
        direction=direction,
        colour=np.clip(1.0 + rng.normal(0.0, 0.06, 3), 0.8, 1.2),
        ambient=rng.uniform(*config.ambient_range),
        diffuse=rng.uniform(*config.diffuse_range),
        specular=rng.uniform(*config.specular_range),
        shininess=rng.uniform(*config.shininess_range),
    )


def _background_depth(rng, scene: Scene, size: int) -> np.ndarray:
    """A tilted plane behind the nearest-to-far extent of the present hands, metres."""
    far = max((h.xyz[:, 2].max() for h in scene.hands if h.present), default=1.0)
    base = rng.uniform(min(far + 0.3, MAX_DEPTH - 0.5), MAX_DEPTH - 0.3)
    slope = rng.uniform(-0.6, 0.6, size=2) / size
    coords = np.arange(size, dtype=np.float32) - 0.5 * size
    plane = base + slope[0] * coords[None, :] + slope[1] * coords[:, None]
    return np.clip(plane, far + 0.05, MAX_DEPTH - 1e-3).astype(np.float32)


def _smooth_edges(image: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Anti-alias the silhouettes: box-blur the one-pixel band around foreground edges."""
    fg8 = fg.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(fg8, kernel) != cv2.erode(fg8, kernel)
    blurred = cv2.blur(image, (3, 3))
    image[band] = blurred[band]
    return image


@functools.lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed unit Gaussian noise [2S, 2S, 3] float32; samples take random windows of it.

    Drawing fresh noise for every image costs more than rendering the hand; random windows
    and signs of one fixed field are as good for training and keep samples deterministic.
    """
    return np.random.default_rng(20170101).standard_normal((2 * size, 2 * size, 3), np.float32)


def _degrade(rng, image: np.ndarray, config: SyntheticConfig) -> np.ndarray:
    """Float RGB 0..255 -> uint8 after blur, gain, sensor noise and a JPEG round trip."""
    size = image.shape[0]
    if rng.uniform() < config.blur_probability:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*config.blur_sigma_range))
    gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-12.0, 12.0)
    image = image * gain + (bias + 0.5)  # + 0.5: round, not truncate, below
    sigma = rng.uniform(*config.noise_std_range)
    if sigma > 0.25:
        r, c = rng.integers(0, size, size=2)
        sign = 1.0 if rng.uniform() < 0.5 else -1.0
        image += (sign * sigma) * _noise_bank(size)[r : r + size, c : c + size]
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.uniform() < config.jpeg_probability:
        quality = int(rng.integers(config.jpeg_quality_range[0], config.jpeg_quality_range[1] + 1))
        ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"OpenCV failed to JPEG-encode a sample at quality {quality}")
        image = images.decode_image(data, "a sample's JPEG")
    return np.ascontiguousarray(image)


def generate_sample(config: SyntheticConfig, seed: int, index: int) -> dict:
    """Sample ``index`` of stream ``seed``, deterministic in (config, seed, index).

    Returns dict with color [S, S, 3] uint8 RGB; mask [S, S] uint8 RHD classes (docs/original.md §8.1);
    depth [S, S] float32 metres; xyz [42, 3] float32 metres, camera frame (left hand 0-20,
    right 21-41, index 0 of each = wrist); uv_vis [42, 3] float32 (u, v in pixels = K xyz / z,
    visible 0/1); K [3, 3] float32. S = config.image_size.
    """
    rng = sample_rng(seed, index)
    size = config.image_size
    scene = sample_scene(rng, config)
    buf = render(scene.primitives, scene.K, size)
    if config.generator_version == 1:
        rgb = shade(buf, _light(rng, config))
        # Blotchy skin: a smooth random +-7 % albedo field over the foreground.
        blotches = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (size, size))
        rgb *= 1.0 + 0.07 * blotches[buf.rows, buf.cols, None]
        image = make_background(rng, config, scene.skin)
        image[buf.rows, buf.cols] = 255.0 * np.minimum(rgb, 1.0)
    else:
        image = appearance.compose(rng, config, scene, buf)
    fg = buf.foreground
    image = _degrade(rng, _smooth_edges(image, fg), config)
    depth = np.where(fg, buf.depth, _background_depth(rng, scene, size)).astype(np.float32)

    xyz = scene.xyz
    present = np.repeat([h.present for h in scene.hands], kp.NUM_KEYPOINTS)
    visible = keypoint_visibility(
        xyz, scene.K, buf.depth, buf.class_map, _CLASS_RANGES, scene.tolerance
    )
    visible &= present
    uv_vis = np.concatenate([project(xyz, scene.K), visible[:, None]], axis=1)
    return {
        "color": image,
        "mask": buf.class_map,
        "depth": depth,
        "xyz": xyz.astype(np.float32),
        "uv_vis": uv_vis.astype(np.float32),
        "K": scene.K.astype(np.float32),
    }


def iterate_samples(config: SyntheticConfig, seed: int, start: int, count: int):
    """Yield generate_sample(config, seed, i) for i in [start, start + count)."""
    for index in range(int(start), int(start) + int(count)):
        yield generate_sample(config, seed, index)
