"""Version-2 look: light, skin shading, contact shadows and the composite over a background.

Skin is lit by a soft key light of varied direction and colour temperature plus an ambient
term tinted by the surroundings (the background's mean colour), with wrapped diffuse and a
reddish terminator (light scattered under the skin), a weak broad highlight, screen-space
contact shadows from the depth buffer, and a soft shoulder instead of hard clipping. NumPy/OpenCV.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from hand3d_tf.data.synthetic import background_v2
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.render import GBuffer

# Light colours (RGB gains) from warm indoor bulbs through daylight to cool shade.
_WARM = np.array([1.0, 0.84, 0.68])
_COOL = np.array([0.84, 0.92, 1.0])
# Where wrapped diffuse falls off, light that travelled under the skin comes out red.
_SCATTER = np.array([0.0, 0.16, 0.24])
# Contact shadow: depth recess (metres) that darkens fully, and how much it darkens.
_AO_RECESS = 0.015
_AO_STRENGTH = 0.45
# Soft shoulder instead of clipping: f(x) = x (1 + c) / (1 + c x), so f(1) = 1.
_SHOULDER = 0.35


@dataclasses.dataclass(frozen=True)
class SoftLight:
    """direction: unit, camera frame, towards the light; colour, ambient_colour: RGB gains."""

    direction: np.ndarray
    colour: np.ndarray
    ambient_colour: np.ndarray
    ambient: float
    diffuse: float
    specular: float
    shininess: float
    wrap: float
    exposure: float


def sample_light(rng: np.random.Generator, config: SyntheticConfig, surround) -> SoftLight:
    """A key light mostly from above and the camera's side; surround: RGB 0..1 the ambient
    light takes some colour from."""
    if rng.uniform() < 0.8:
        direction = np.array([rng.normal(0.0, 0.7), -rng.uniform(0.1, 1.0), -rng.uniform(0.3, 1.2)])
    else:  # from the side or behind: rim-lit hands
        direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    t = rng.uniform(-1.0, 1.0)
    colour = 1.0 + abs(t) * ((_WARM if t > 0 else _COOL) - 1.0)
    surround = np.asarray(surround, np.float64)
    tint = surround / max(float(surround.mean()), 1e-3)
    ambient_colour = np.clip(1.0 + rng.uniform(0.1, 0.4) * (tint - 1.0), 0.6, 1.4)
    ambient = rng.uniform(0.22, 0.45)
    diffuse = rng.uniform(0.55, 0.9)
    return SoftLight(
        direction=direction,
        colour=colour / colour.mean(),
        ambient_colour=ambient_colour / ambient_colour.mean(),
        ambient=ambient,
        diffuse=diffuse,
        specular=rng.uniform(0.03, 0.14),
        shininess=rng.uniform(8.0, 30.0),
        wrap=rng.uniform(0.3, 0.6),
        exposure=rng.uniform(0.8, 1.1) / (0.55 * ambient + diffuse),
    )


def contact_shadow(buf: GBuffer, focal: float) -> np.ndarray:
    """[N] factor in (0, 1] for the hit pixels: darker where the surface lies behind its
    neighbourhood (a finger over the palm, the gap between two fingers)."""
    fg = buf.foreground
    if not fg.any():
        return np.ones(0, np.float32)
    depth = buf.depth
    near = float(depth[fg].min())
    filled = np.where(fg, depth, np.float32(depth[fg].max() + 0.05)).astype(np.float32)
    sigma = float(np.clip(0.012 * focal / near, 1.0, 8.0))
    # A wide blur is as good at half resolution, and four times cheaper.
    size = depth.shape[1], depth.shape[0]
    half = cv2.resize(filled, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(half, (0, 0), 0.5 * sigma), size)
    recess = (depth - blurred)[buf.rows, buf.cols]
    return 1.0 - _AO_STRENGTH * np.clip(recess / _AO_RECESS, 0.0, 1.0)


def shade(buf: GBuffer, light: SoftLight, occlusion: np.ndarray) -> np.ndarray:
    """RGB [N, 3] float32 in 0..1 of the hit pixels."""
    f32 = np.float32
    direction = np.asarray(light.direction, f32)
    n_l = buf.normal @ direction
    wrapped = np.clip((n_l + f32(light.wrap)) * f32(1.0 / (1.0 + light.wrap)), 0.0, 1.0)
    half = direction + np.array([0.0, 0.0, -1.0], f32)
    half /= max(float(np.linalg.norm(half)), 1e-6)
    n_h = buf.normal @ half
    spec = np.zeros_like(n_h)
    lit = np.nonzero((n_h > 0.5) & (n_l > 0))[0]  # elsewhere n_h^shininess < 0.4 %
    spec[lit] = f32(light.specular) * buf.specular[lit] * n_h[lit] ** f32(light.shininess)
    sky = 1.0 - f32(0.2) * buf.normal[:, 1]  # a little more light from above
    ambient = f32(light.ambient) * sky * occlusion
    key = f32(light.diffuse) * wrapped * np.sqrt(occlusion)
    # Per channel c: albedo (ambient A_c + key L_c (1 - 2 S_c w (1 - w))) + spec L_c.
    terminator = f32(2.0) * wrapped * (1.0 - wrapped)
    exposure = f32(light.exposure)
    rgb = np.empty_like(buf.albedo)
    for c in range(3):
        lit_c = ambient * f32(light.ambient_colour[c]) + key * f32(light.colour[c]) * (
            1.0 - f32(_SCATTER[c]) * terminator
        )
        rgb[:, c] = exposure * (buf.albedo[:, c] * lit_c + spec * f32(light.colour[c]))
    rgb *= (1.0 + f32(_SHOULDER)) / (1.0 + f32(_SHOULDER) * rgb)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def compose(rng: np.random.Generator, config: SyntheticConfig, scene, buf: GBuffer):
    """Float RGB 0..255 [S, S, 3]: background, then the shaded hands, arms and objects."""
    size = config.image_size
    background = background_v2.make_background(rng, config)
    surround = np.array(cv2.mean(background)[:3]) / 255.0
    light = sample_light(rng, config, surround)
    rgb = shade(buf, light, contact_shadow(buf, float(scene.K[0, 0])))
    # Blotchy skin: a smooth random +-6 % albedo field, and finer mottling.
    coarse = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (size, size))
    fine = cv2.resize(rng.standard_normal((40, 40)).astype(np.float32), (size, size))
    rows, cols = buf.rows, buf.cols
    rgb *= (1.0 + 0.06 * coarse[rows, cols] + 0.025 * fine[rows, cols])[:, None]
    background[buf.rows, buf.cols] = 255.0 * np.minimum(rgb, 1.0)
    return background
