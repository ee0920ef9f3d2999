"""Version-2 backgrounds: rooms, surface textures, clutter and photos, lit and muted like a
photograph. NumPy/OpenCV.

Version 1's backgrounds (background.py) are saturated noise under flat shapes. Here a scene
is a room (wall and floor or a corner, under a light falloff), a close-up texture (wood,
fabric, tiles, stone) or a photo from ``SyntheticConfig.background_files``; shapes from
version 1 go on top; then one illumination field, a pull towards grey and sometimes a
defocus blur apply to it all, as they would to a photograph.
"""

from __future__ import annotations

import cv2
import numpy as np

from hand3d_tf.data.synthetic import background as v1
from hand3d_tf.data.synthetic.config import SyntheticConfig

_KINDS = ("room", "texture", "noise")
_KIND_WEIGHTS = (0.45, 0.35, 0.2)
_TEXTURES = ("wood", "fabric", "tiles", "stone")


def _muted(rng, lo: float = 0.15, hi: float = 0.85) -> np.ndarray:
    """An RGB colour 0..255 of low to moderate saturation, as most surfaces are."""
    value = rng.uniform(lo, hi)
    hue = rng.uniform(0.3, 1.0, size=3)
    saturation = rng.beta(1.3, 3.0)
    return 255.0 * value * (1.0 - saturation + saturation * hue / hue.max())


def _axis(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.float32)


def _wood(rng, size: int) -> np.ndarray:
    """Grain bands along a random direction, warped; built at half size (the bands are
    several pixels wide) and resized."""
    half = size // 2
    xx, yy = _axis(half)[None, :], _axis(half)[:, None]
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * xx + np.sin(angle) * yy
    warp = cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (half, half)) * 6.0
    period = rng.uniform(3.0, 9.0)
    grain = 0.75 + 0.15 * np.sin((along + warp) * np.float32(2 * np.pi / period))
    grain = cv2.resize(grain, (size, size), interpolation=cv2.INTER_LINEAR)
    base = np.array([rng.uniform(120, 200), rng.uniform(70, 130), rng.uniform(30, 80)])
    if rng.uniform() < 0.3:
        base = _muted(rng)
    return grain[..., None] * base.astype(np.float32)


def _fabric(rng, size: int) -> np.ndarray:
    """A weave (separable: an outer product of two waves), sometimes a plaid."""
    period = rng.uniform(2.5, 6.0)
    wave = np.sin(_axis(size) * np.float32(2 * np.pi / period))
    weave = 0.85 + 0.12 * np.outer(wave, wave)
    image = weave[..., None] * _muted(rng).astype(np.float32)
    if rng.uniform() < 0.4:  # a plaid: bands of another colour woven in both ways
        bx = (_axis(size) % rng.uniform(16, 48)) < rng.uniform(3, 10)
        by = (_axis(size) % rng.uniform(16, 48)) < rng.uniform(3, 10)
        band = (bx[None, :] | by[:, None])[..., None]
        np.copyto(image, image * 0.75 + 0.25 * _muted(rng).astype(np.float32), where=band)
    return image


def _tiles(rng, size: int) -> np.ndarray:
    step, width = rng.uniform(20.0, 80.0), rng.uniform(1.0, 3.0)
    line = (_axis(size) % step) < width
    grout = line[None, :] | line[:, None]
    image = np.empty((size, size, 3), np.float32)
    image[...] = _muted(rng, 0.4, 0.95)
    np.copyto(image, _muted(rng, 0.2, 0.7).astype(np.float32), where=grout[..., None])
    return image


def _stone(rng, size: int) -> np.ndarray:
    mean = cv2.transform(v1._noise(rng, size), np.full((1, 3), 1.0 / 3.0, np.float32))
    veins = np.abs(mean - 127.5) / 127.5
    return _muted(rng, 0.4, 0.9) * (0.7 + 0.35 * veins[..., None])


def _texture(rng, size: int) -> np.ndarray:
    kind = _TEXTURES[int(rng.integers(0, len(_TEXTURES)))]
    return {"wood": _wood, "fabric": _fabric, "tiles": _tiles, "stone": _stone}[kind](rng, size)


def _room(rng, size: int) -> np.ndarray:
    """A wall over a floor (or a corner of two walls), each a colour or a texture."""
    image = np.empty((size, size, 3), np.float32)
    image[...] = _muted(rng, 0.35, 0.95)
    other = _texture(rng, size) if rng.uniform() < 0.6 else None
    tilt = rng.uniform(-0.3, 0.3)
    xx, yy = _axis(size)[None, :], _axis(size)[:, None]
    if rng.uniform() < 0.6:  # floor below a horizon
        split = yy > rng.uniform(0.3, 1.1) * size + tilt * (xx - size / 2)
    else:  # corner: another wall to one side
        split = xx > rng.uniform(0.1, 0.9) * size + tilt * (yy - size / 2)
    if other is None:
        np.copyto(image, _muted(rng).astype(np.float32), where=split[..., None])
    else:
        np.copyto(image, other, where=split[..., None])
    # Furniture and frames: a few large boxes with their own shading.
    for _ in range(int(rng.integers(0, 4))):
        r0, c0 = rng.integers(-size // 4, size, size=2)
        h, w = rng.integers(size // 8, size // 1, size=2)
        box = image[max(r0, 0) : r0 + h, max(c0, 0) : c0 + w]
        if box.size:
            ramp = np.linspace(1.0, rng.uniform(0.6, 1.1), box.shape[0], dtype=np.float32)
            box[...] = _muted(rng).astype(np.float32) * ramp[:, None, None]
    return image


def _illumination(rng, size: int) -> np.ndarray:
    """[S, S, 1] smooth gain 0.55..1.2: the light falls off across the scene."""
    field = rng.uniform(0.55, 1.2, size=(3, 3)).astype(np.float32)
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]


def make_background(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """Background [S, S, 3] float32 in 0..255 (RGB), S = config.image_size."""
    size = config.image_size
    files = config.background_files
    if files and rng.uniform() < config.background_image_probability:
        image = v1._photo(rng, size, files)
        count = int(rng.integers(0, 4))
    else:
        kind = _KINDS[int(rng.choice(len(_KINDS), p=_KIND_WEIGHTS))]
        if kind == "room":
            image = _room(rng, size)
        elif kind == "texture":
            image = _texture(rng, size)
        else:
            image = v1._noise(rng, size)
        # Half as many loose shapes as version 1: the base is a scene, not plain noise.
        lo, hi = config.clutter_range
        count = (int(np.exp(rng.uniform(np.log(lo + 1), np.log(hi + 1)))) - 1) // 2
    image = np.ascontiguousarray(image, dtype=np.float32)
    v1._clutter(rng, image, count)
    # Light falloff and a pull towards grey: gain (sat in + (1 - sat) mean(in)).
    saturation = np.float32(rng.uniform(0.45, 0.95))
    gain = _illumination(rng, size)
    grey = cv2.transform(image, np.full((1, 3), (1.0 - saturation) / 3.0, np.float32))
    image *= saturation
    image += grey[..., None]
    image *= gain
    if rng.uniform() < 0.4:  # the camera focused on the hand: blurred at half size
        half = cv2.resize(image, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
        half = cv2.GaussianBlur(half, (0, 0), rng.uniform(0.3, 1.5))
        image = cv2.resize(half, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.clip(image, 0.0, 255.0, out=image)
