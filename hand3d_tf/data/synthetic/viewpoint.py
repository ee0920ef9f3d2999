"""View distribution of generator version 2: hands held up in front of a person who faces
the camera, near the optical axis. NumPy only.

Camera frame as OpenCV (x right, y down, z forward); hand frame as hand_model (+y wrist ->
middle MCP, +z palm normal). The hand's rotation is R = Rz(roll) Rx(pitch) Ry(yaw) R0, with
R0 showing the palm or the back to the camera, fingers up. Ry and Rx keep the wrist -> middle
MCP direction in the y-z plane, so under orthographic projection the image angle of that
direction from image-up is exactly ``roll``; the statistics below measure it from the
projected keypoints, so perspective and the rejection of arms pointing at the camera are part
of what a test checks.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic.config import SyntheticConfig

# Hand frame -> camera frame with fingers up (-y): palm normal towards the camera (-z), or
# away from it (back of the hand seen). Both are proper rotations (det +1).
PALM_TO_CAMERA = np.diag([1.0, -1.0, -1.0])
BACK_TO_CAMERA = np.diag([-1.0, -1.0, 1.0])
# Redraws of a view whose forearm points at the camera before the last draw is kept.
_MAX_REDRAWS = 32
# The middle finger's base joint: wrist -> it is the hand's "up" (hand_model's +y).
_MIDDLE_MCP = kp.FINGERS["middle"][3]


@dataclasses.dataclass(frozen=True)
class View:
    """Sampled view of one hand, radians; palm: R0 shows the palm (before yaw)."""

    palm: bool
    yaw: float
    pitch: float
    roll: float


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _wrap(angle: float) -> float:
    """Angle in radians wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def sample_view(rng: np.random.Generator, config: SyntheticConfig) -> View:
    """One draw of (palm/back, yaw, pitch, roll) from the config's distribution."""
    palm = bool(rng.uniform() < config.palm_probability)
    yaw = _wrap(math.radians(config.yaw_sigma_deg) * rng.standard_normal())
    pitch_max = math.radians(config.pitch_max_deg)
    pitch = float(
        np.clip(math.radians(config.pitch_sigma_deg) * rng.standard_normal(), -pitch_max, pitch_max)
    )
    if rng.uniform() < config.roll_uniform_probability:
        roll = rng.uniform(-math.pi, math.pi)
    else:
        roll = _wrap(math.radians(config.roll_sigma_deg) * rng.standard_normal())
    return View(palm=palm, yaw=yaw, pitch=pitch, roll=float(roll))


def view_rotation(view: View) -> np.ndarray:
    """[3, 3] hand frame -> camera frame."""
    base = PALM_TO_CAMERA if view.palm else BACK_TO_CAMERA
    return _rot_z(view.roll) @ _rot_x(view.pitch) @ _rot_y(view.yaw) @ base


def sample_orientation(rng: np.random.Generator, hand, config: SyntheticConfig):
    """(rotation [3, 3], View) for ``hand``: redrawn while its forearm points at the camera
    more steeply than config.max_forearm_towards_camera (a person's arm comes from behind
    the hand). Roll about the viewing axis does not change that test, so the roll
    distribution is exactly the configured one."""
    for _ in range(_MAX_REDRAWS):
        view = sample_view(rng, config)
        rotation = view_rotation(view)
        if -(rotation @ hand.forearm_dir)[2] <= config.max_forearm_towards_camera:
            break
    return rotation, view


def sample_off_axis(rng: np.random.Generator, config: SyntheticConfig) -> float:
    """Angle (radians) from the optical axis: |N(0, sigma)| truncated at the configured max."""
    sigma, limit = math.radians(config.off_axis_sigma_deg), math.radians(config.off_axis_max_deg)
    for _ in range(_MAX_REDRAWS):
        angle = abs(sigma * rng.standard_normal())
        if angle <= limit:
            return angle
    return rng.uniform(0.0, limit)


def centre_off_axis(depth: float, angle: float, azimuth: float) -> np.ndarray:
    """[3] camera-frame point at depth ``depth`` (metres, z) whose ray makes ``angle`` with
    the optical axis, turned by ``azimuth`` about it (radians)."""
    t = math.tan(angle)
    return depth * np.array([t * math.cos(azimuth), t * math.sin(azimuth), 1.0])


# --- statistics: what the config promises, and what a placed hand shows -------------------


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _wrapped_normal_within(sigma_deg: float, limit_deg: float) -> float:
    """P(|wrap(N(0, sigma))| <= limit) for limit <= 180, degrees."""
    if sigma_deg <= 0.0:
        return 1.0
    total = 0.0
    for k in range(-3, 4):  # the normal's mass beyond +-3 full turns is negligible
        centre = 360.0 * k
        total += _normal_cdf((centre + limit_deg) / sigma_deg) - _normal_cdf(
            (centre - limit_deg) / sigma_deg
        )
    return total


def expected_roll_within(config: SyntheticConfig, limit_deg: float) -> float:
    """Fraction of hands whose roll lies within +-limit_deg of fingers-up (0 <= limit <= 180)."""
    p = config.roll_uniform_probability
    return p * limit_deg / 180.0 + (1.0 - p) * _wrapped_normal_within(
        config.roll_sigma_deg, limit_deg
    )


def expected_palm_fraction(config: SyntheticConfig) -> float:
    """Fraction of hands that show the palm: R0 shows it and |yaw| < 90, or R0 shows the back
    and |yaw| > 90 (the pitch stays below 90 degrees and does not flip it)."""
    q = _wrapped_normal_within(config.yaw_sigma_deg, 90.0)
    p = config.palm_probability
    return p * q + (1.0 - p) * (1.0 - q)


def measured_roll_deg(uv: np.ndarray) -> float:
    """Image angle (degrees, (-180, 180]) of wrist -> middle MCP from image-up, clockwise
    positive; uv: [21, 2] pixels, RHD order."""
    du, dv = uv[_MIDDLE_MCP] - uv[0]
    return math.degrees(math.atan2(du, -dv))


def measured_off_axis_deg(xyz: np.ndarray) -> float:
    """Angle (degrees) between the optical axis and the ray to the palm centre; xyz [21, 3]."""
    centre = kp.palm_centre(np.asarray(xyz, np.float64))
    return math.degrees(math.atan2(math.hypot(centre[0], centre[1]), centre[2]))
