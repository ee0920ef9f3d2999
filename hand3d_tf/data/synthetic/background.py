"""Random backgrounds: gradients, multi-scale noise, clutter, stripes, photos. NumPy/OpenCV.

RHD composites its renders over photographs; here a procedural base (or a photo from
``SyntheticConfig.background_files``) gets random shapes on top, so that edges, textures and
skin-coloured distractors are everywhere and a network cannot segment hands by "anything
that is not smooth".
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from hand3d_tf import images
from hand3d_tf.data.synthetic.config import SyntheticConfig

# Photos are shrunk once to this longest side before random crops are taken from them.
_PHOTO_MAX_SIDE = 640
_SHAPES = ("rect", "circle", "ellipse", "line", "polygon", "stripes", "blob")


def _colour(rng) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


def _gradient(rng, size: int) -> np.ndarray:
    # Built at 2 x 2 and resized: bilinear interpolation of the corners is a linear ramp.
    corners = rng.uniform(0.0, 255.0, size=(2, 2, 3)).astype(np.float32)
    return cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)


def _noise(rng, size: int) -> np.ndarray:
    """Sum of 2-4 octaves of smooth random colour fields around a muted palette.

    Summed at half resolution, then one resize: the octaves are smooth anyway.
    """
    half = size // 2
    out = np.zeros((half, half, 3), np.float32)
    cells = int(rng.integers(2, 6))
    weight, total = 1.0, 0.0
    for _ in range(int(rng.integers(2, 5))):
        grid = rng.uniform(0.0, 255.0, size=(cells, cells, 3)).astype(np.float32)
        out += weight * cv2.resize(grid, (half, half), interpolation=cv2.INTER_LINEAR)
        total += weight
        cells, weight = cells * 3, weight * rng.uniform(0.3, 0.7)
    out /= total
    # Photographs are far less saturated than independent RGB noise: pull towards grey.
    grey = out.mean(axis=2, keepdims=True)
    out = grey + rng.uniform(0.2, 0.8) * (out - grey)
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=32)
def _load_photo(path: str) -> np.ndarray:
    try:
        image = images.read_image(path)  # RGB; a decompression bomb is refused unread
    except images.ImageTooLargeError as err:
        raise ValueError(f"background file {err}") from None
    except images.ImageError:
        raise ValueError(f"background file {path!r} is not an image OpenCV can read") from None
    scale = _PHOTO_MAX_SIDE / max(image.shape[:2])
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def _photo(rng, size: int, files: tuple[str, ...]) -> np.ndarray:
    image = _load_photo(files[int(rng.integers(0, len(files)))])
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = cv2.resize(
        image[r : r + side, c : c + side], (size, size), interpolation=cv2.INTER_LINEAR
    )
    return (crop[:, ::-1] if rng.uniform() < 0.5 else crop).astype(np.float32)


def _stripes(rng, image: np.ndarray) -> None:
    size = image.shape[0]
    r0, c0 = rng.integers(0, size, size=2)
    h, w = rng.integers(size // 8, size // 2, size=2)
    patch = image[r0 : r0 + h, c0 : c0 + w]
    if patch.size == 0:
        return
    yy, xx = np.mgrid[: patch.shape[0], : patch.shape[1]].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(3.0, 20.0)
    wave = np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * (2 * np.pi / period)) > 0
    c0_, c1_ = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    patch[...] = np.where(wave[..., None], c0_, c1_)


def _clutter(rng, image: np.ndarray, count: int) -> None:
    size = image.shape[0]
    for _ in range(count):
        kind = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
        colour = _colour(rng)
        p = rng.integers(-size // 4, size + size // 4, size=2)
        extent = int(rng.integers(4, size // 3))
        filled = -1 if rng.uniform() < 0.7 else int(rng.integers(1, 6))
        if kind == "rect":
            q = p + rng.integers(4, size // 2, size=2)
            cv2.rectangle(image, tuple(map(int, p)), tuple(map(int, q)), colour, filled)
        elif kind == "circle":
            cv2.circle(image, tuple(map(int, p)), extent, colour, filled, cv2.LINE_AA)
        elif kind == "ellipse":
            axes = tuple(int(a) for a in rng.integers(3, size // 4, size=2))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(image, tuple(map(int, p)), axes, angle, 0, 360, colour, filled, cv2.LINE_AA)
        elif kind == "line":
            q = p + rng.integers(-size // 2, size // 2, size=2)
            width = int(rng.integers(1, 8))
            cv2.line(image, tuple(map(int, p)), tuple(map(int, q)), colour, width, cv2.LINE_AA)
        elif kind == "polygon":
            pts = p + rng.integers(-extent, extent + 1, size=(int(rng.integers(3, 7)), 2))
            cv2.fillPoly(image, [pts.astype(np.int32)], colour, cv2.LINE_AA)
        elif kind == "stripes":
            _stripes(rng, image)
        else:  # soft blob: a blurred disc drawn at 1/8 scale (cheap blur), blended in its box
            c0, r0 = np.clip(p - 2 * extent, 0, size)
            c1, r1 = np.clip(p + 2 * extent, 0, size)
            if c1 - c0 < 2 or r1 - r0 < 2:
                continue
            small = np.zeros(((r1 - r0) // 8 + 1, (c1 - c0) // 8 + 1), np.float32)
            centre = (int(p[0] - c0) // 8, int(p[1] - r0) // 8)
            cv2.circle(small, centre, max(extent // 8, 1), 1.0, -1)
            small = cv2.GaussianBlur(small, (0, 0), max(extent / 24.0, 0.5))
            layer = cv2.resize(small, (int(c1 - c0), int(r1 - r0)), interpolation=cv2.INTER_LINEAR)
            region = image[r0:r1, c0:c1]
            region += layer[..., None] * (np.array(colour, np.float32) - region)


def _skin_distractors(rng, image: np.ndarray, skin_rgb: np.ndarray) -> None:
    """Skin-toned ellipses (faces, knees, wood) that are not hands: class 0 all the same."""
    size = image.shape[0]
    for _ in range(int(rng.integers(1, 4))):
        tone = np.clip(skin_rgb * rng.uniform(0.7, 1.15) * 255.0, 0, 255)
        centre = tuple(int(c) for c in rng.integers(0, size, size=2))
        axes = tuple(int(a) for a in rng.integers(6, size // 5, size=2))
        cv2.ellipse(
            image,
            centre,
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            tuple(float(c) for c in tone),
            -1,
            cv2.LINE_AA,
        )


def make_background(rng: np.random.Generator, config: SyntheticConfig, skin_rgb) -> np.ndarray:
    """Background [S, S, 3] float32 in 0..255 (RGB), S = config.image_size."""
    size = config.image_size
    files = config.background_files
    if files and rng.uniform() < config.background_image_probability:
        image = _photo(rng, size, files)
        count = int(rng.integers(0, max(config.clutter_range[0], 1) + 3))
    else:
        image = _gradient(rng, size) if rng.uniform() < 0.3 else _noise(rng, size)
        lo, hi = config.clutter_range
        count = int(np.exp(rng.uniform(np.log(lo + 1), np.log(hi + 1)))) - 1
    image = np.ascontiguousarray(image, dtype=np.float32)
    _clutter(rng, image, count)
    if rng.uniform() < config.skin_distractor_probability:
        _skin_distractors(rng, image, np.asarray(skin_rgb, np.float32))
    if rng.uniform() < 0.3:  # out-of-focus background
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.5))
    return image
