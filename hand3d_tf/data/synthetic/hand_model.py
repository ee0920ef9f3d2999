"""Kinematic hand: bone lengths, joint angles, grips, forward kinematics. NumPy only.

Hand frame (metres), built for a right hand and mirrored (x -> -x) for a left one:
origin = wrist (RHD keypoint 0), +y = wrist -> middle MCP, +z = palm normal (the palmar side,
the direction fingers curl towards), +x = towards the thumb for a right hand. Keypoints come
out in RHD order (hand3d_tf.keypoints): wrist, then each finger tip -> base.

Each finger has three segments (base, middle, tip) and four angles (abduction, flexion of
the three joints). The thumb's first two angles drive its carpometacarpal base (palmar
abduction, flexion across the palm); its RHD keypoint 4 sits at that base near the wrist.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hand3d_tf import keypoints as kp

NUM_FINGERS = 5
# Segment order inside a finger, base -> tip (index 0 is the proximal bone).
SEGMENTS = ("base", "middle", "tip")

# Human bone lengths in metres, per finger (thumb, index, middle, ring, little) and segment
# (base, middle, tip); the thumb's base bone is its metacarpal. Adult ranges from
# anthropometric tables, rounded outwards a little so that small and large hands both occur.
BONE_LENGTH_RANGES = np.array(
    [
        [(0.036, 0.052), (0.026, 0.038), (0.020, 0.030)],  # thumb
        [(0.036, 0.050), (0.020, 0.030), (0.016, 0.025)],  # index
        [(0.040, 0.054), (0.024, 0.034), (0.017, 0.026)],  # middle
        [(0.037, 0.051), (0.022, 0.032), (0.017, 0.026)],  # ring
        [(0.029, 0.042), (0.015, 0.024), (0.015, 0.023)],  # little
    ]
)
# Wrist -> middle MCP, and index MCP <-> little MCP (centres), metres.
PALM_LENGTH_RANGE = (0.080, 0.105)
PALM_WIDTH_RANGE = (0.052, 0.072)
# Finger radius at the base segment, metres (thumb, index, middle, ring, little); the middle
# and tip segments taper by SEGMENT_TAPER. The thumb's metacarpal is thicker (thenar muscle).
FINGER_RADIUS = np.array([0.0105, 0.0095, 0.0098, 0.0092, 0.0080])
SEGMENT_TAPER = np.array([1.0, 0.9, 0.82])
THUMB_BASE_RADIUS_FACTOR = 1.35
PALM_HALF_THICKNESS_RANGE = (0.013, 0.017)
# Per-hand size factor and per-bone jitter (relative) before clipping to the ranges above.
HAND_SCALE_RANGE = (0.88, 1.12)
BONE_JITTER = 0.04

# Joint limits in degrees, per finger: (abduction, flexion base, flexion middle, flexion tip).
# Abduction > 0 turns a finger towards the thumb side; flexion > 0 curls it to the palm.
# Thumb: (CMC palmar abduction, CMC flexion across the palm, MCP flexion, IP flexion).
JOINT_LIMITS_DEG = np.array(
    [
        [(-10.0, 55.0), (-20.0, 50.0), (-10.0, 65.0), (-15.0, 85.0)],  # thumb
        [(-15.0, 25.0), (-25.0, 90.0), (0.0, 110.0), (-10.0, 85.0)],  # index
        [(-15.0, 15.0), (-25.0, 90.0), (0.0, 110.0), (-10.0, 85.0)],  # middle
        [(-15.0, 15.0), (-25.0, 90.0), (0.0, 110.0), (-10.0, 85.0)],  # ring
        [(-30.0, 15.0), (-25.0, 90.0), (0.0, 110.0), (-10.0, 85.0)],  # little
    ]
)
JOINT_LIMITS = np.deg2rad(JOINT_LIMITS_DEG)
# Wrist: flexion (palm towards forearm) and radial(+)/ulnar(-) deviation, degrees.
WRIST_LIMITS_DEG = np.array([(-60.0, 60.0), (-30.0, 20.0)])

# Grip mixture: fists, open hands, pointing and pinching all occur (weights sum to 1).
GRIPS = ("open", "relaxed", "fist", "point", "pinch", "victory", "grasp", "random")
GRIP_WEIGHTS = np.array([0.16, 0.14, 0.16, 0.12, 0.13, 0.06, 0.10, 0.13])

# Finger curl c in [0, 1] per state, mapped linearly onto the flexion limits.
_CURL_STATES = {
    "extended": (0.0, 0.12),
    "relaxed": (0.12, 0.45),
    "half": (0.3, 0.65),
    "curled": (0.78, 1.0),
}
# Thumb states: ranges (degrees) of the four thumb angles.
_THUMB_STATES = {
    "extended": [(0, 30), (-20, 5), (-10, 15), (-15, 15)],
    "relaxed": [(10, 35), (0, 25), (5, 30), (5, 30)],
    "tucked": [(10, 35), (30, 50), (30, 65), (20, 75)],
    "opposed": [(35, 55), (15, 45), (5, 35), (0, 40)],
}


@dataclasses.dataclass(frozen=True)
class HandShape:
    """Per-hand anatomy, metres. bone_lengths/radii: [5, 3] (finger, segment base -> tip)."""

    palm_length: float
    palm_width: float
    palm_half_thickness: float
    bone_lengths: np.ndarray
    radii: np.ndarray
    thumb_splay: float  # radians: thumb metacarpal direction in the palm plane, from +y
    thumb_pronation: float  # radians: tilt of the thumb's flexion plane across the palm


@dataclasses.dataclass(frozen=True)
class Hand:
    """A posed hand in its own frame (see module docstring), metres.

    joints: [21, 3] RHD order (0 = wrist). radii: [5, 3] segment radii. palmar: [5, 3, 3]
    unit palmar direction of each segment (for shading and nails). palm_outline: [M, 3]
    palm polygon in the z = 0 plane. forearm_dir: [3] unit, wrist -> elbow.
    angles: [5, 4] radians (abduction, three flexions). grip: name from GRIPS.
    """

    side: str
    joints: np.ndarray
    radii: np.ndarray
    palmar: np.ndarray
    palm_outline: np.ndarray
    palm_half_thickness: float
    forearm_dir: np.ndarray
    angles: np.ndarray
    grip: str
    shape: HandShape


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def sample_shape(rng: np.random.Generator) -> HandShape:
    """Random adult hand: one size factor for the hand plus small per-bone jitter, clipped."""
    scale = rng.uniform(*HAND_SCALE_RANGE)
    lo, hi = BONE_LENGTH_RANGES[..., 0], BONE_LENGTH_RANGES[..., 1]
    bones = 0.5 * (lo + hi) * scale * (1.0 + BONE_JITTER * rng.standard_normal(lo.shape))
    bones = np.clip(bones, lo, hi)

    def _scaled(rng_pair):
        mid = 0.5 * (rng_pair[0] + rng_pair[1])
        value = mid * scale * (1.0 + BONE_JITTER * rng.standard_normal())
        return float(np.clip(value, *rng_pair))

    radius = FINGER_RADIUS * scale * rng.uniform(0.92, 1.1)
    radii = radius[:, None] * SEGMENT_TAPER[None, :]
    radii[0, 0] *= THUMB_BASE_RADIUS_FACTOR
    return HandShape(
        palm_length=_scaled(PALM_LENGTH_RANGE),
        palm_width=_scaled(PALM_WIDTH_RANGE),
        palm_half_thickness=float(rng.uniform(*PALM_HALF_THICKNESS_RANGE) * scale),
        bone_lengths=bones,
        radii=radii,
        thumb_splay=float(np.deg2rad(rng.uniform(34.0, 46.0))),
        thumb_pronation=float(np.deg2rad(rng.uniform(50.0, 65.0))),
    )


def _finger_angles(rng, curl_state: str, spread: float, finger: int) -> np.ndarray:
    lo, hi = _CURL_STATES[curl_state]
    lim = JOINT_LIMITS_DEG[finger]
    # Base and middle joint curl loosely together, the tip joint follows the middle one
    # (DIP ~ 2/3 PIP in real hands), each with its own noise.
    c_base = np.clip(rng.uniform(lo, hi) + 0.08 * rng.standard_normal(), 0.0, 1.0)
    c_mid = np.clip(rng.uniform(lo, hi) + 0.08 * rng.standard_normal(), 0.0, 1.0)
    mcp = -10.0 + c_base * (lim[1][1] + 10.0)
    pip = c_mid * lim[2][1]
    dip = pip * rng.uniform(0.5, 0.85) + 5.0 * rng.standard_normal()
    # Spreading opens the hand like a fan: index to the thumb side, ring/little away from it.
    fan = {1: 14.0, 2: 0.0, 3: -9.0, 4: -22.0}[finger] * spread
    abd = fan + 4.0 * rng.standard_normal()
    return np.array([abd, mcp, pip, dip])


def sample_angles(rng: np.random.Generator, grip: str | None = None):
    """Joint angles [5, 4] radians (inside JOINT_LIMITS) and the grip name used.

    grip: one of GRIPS, or None to draw it from GRIP_WEIGHTS.
    """
    if grip is None:
        grip = str(rng.choice(GRIPS, p=GRIP_WEIGHTS))
    if grip not in GRIPS:
        raise ValueError(f"grip must be one of {GRIPS}; received {grip!r}")
    spread = rng.uniform(0.0, 0.4)
    if grip == "open":
        states, thumb, spread = ["extended"] * 4, "extended", rng.uniform(0.3, 1.0)
    elif grip == "relaxed":
        states = [str(rng.choice(["relaxed", "half"])) for _ in range(4)]
        thumb = str(rng.choice(["relaxed", "extended"]))
    elif grip == "fist":
        states, spread = ["curled"] * 4, 0.0
        thumb = "extended" if rng.uniform() < 0.25 else "tucked"  # sometimes a thumbs-up
    elif grip == "point":
        states = ["extended"] + ["curled"] * 3
        thumb = str(rng.choice(["tucked", "relaxed", "extended"], p=[0.5, 0.3, 0.2]))
    elif grip == "pinch":
        others = str(rng.choice(["extended", "half", "curled"]))
        states, thumb = ["half"] + [others] * 3, "opposed"
    elif grip == "victory":
        states, thumb = ["extended", "extended", "curled", "curled"], "tucked"
        spread = rng.uniform(0.6, 1.0)
    elif grip == "grasp":
        states, thumb = ["half"] * 4, "opposed"
    else:  # random: every finger on its own
        states = [str(rng.choice(list(_CURL_STATES))) for _ in range(4)]
        thumb, spread = str(rng.choice(list(_THUMB_STATES))), rng.uniform(0.0, 1.0)
    angles = np.zeros((NUM_FINGERS, 4))
    angles[0] = [rng.uniform(a, b) for a, b in _THUMB_STATES[thumb]]
    for f in range(1, NUM_FINGERS):
        angles[f] = _finger_angles(rng, states[f - 1], spread, f)
    angles = np.clip(angles, JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1])
    return np.deg2rad(angles), grip


def _finger_bases(shape: HandShape) -> tuple[np.ndarray, np.ndarray]:
    """Base joint positions [5, 3] and rest frames [5, 3, 3] (columns x, y=bone, z=palmar)."""
    s, length = shape.palm_width / 3.0, shape.palm_length
    bases = np.array(
        [
            [0.30 * shape.palm_width, 0.22 * length, 0.010],  # thumb CMC, near the wrist
            [s, 0.96 * length, 0.002],
            [0.0, length, 0.0],
            [-s, 0.95 * length, 0.0],
            [-2.0 * s, 0.86 * length, 0.003],
        ]
    )
    frames = np.zeros((NUM_FINGERS, 3, 3))
    # Fingers fan out slightly at rest (degrees towards the thumb side).
    for f, splay in zip(range(1, NUM_FINGERS), (6.0, 0.0, -6.0, -13.0)):
        frames[f] = rot_z(-np.deg2rad(splay))  # rot_z(-a) turns +y towards +x by a
    # Thumb: metacarpal direction in the palm plane, its curl direction tilted across the palm.
    a, b = shape.thumb_splay, shape.thumb_pronation
    y_t = np.array([np.sin(a), np.cos(a), 0.0])
    across = np.array([-np.cos(a), np.sin(a), 0.0])  # in-plane, perpendicular, ulnar-pointing
    z_t = np.cos(b) * np.array([0.0, 0.0, 1.0]) + np.sin(b) * across
    frames[0] = np.stack([np.cross(y_t, z_t), y_t, z_t], axis=1)
    return bases, frames


def forward_kinematics(shape: HandShape, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-hand joints [21, 3] (RHD order) and palmar directions [5, 3, 3] from angles [5, 4].

    Every joint rotates its parent frame: base R1 = R0 . Rz(-abduction) . Rx(flexion),
    then Rx(flexion) for the middle and tip joints (flexion turns +y towards +z, the palm).
    """
    bases, frames = _finger_bases(shape)
    joints = np.zeros((kp.NUM_KEYPOINTS, 3))
    palmar = np.zeros((NUM_FINGERS, 3, 3))
    for f in range(NUM_FINGERS):
        abd, f1, f2, f3 = angles[f]
        rot = frames[f] @ rot_z(-abd) @ rot_x(f1)
        point = bases[f]
        idx = kp.FINGERS[kp.FINGER_NAMES[f]]  # tip -> base
        joints[idx[3]] = point
        for seg, (flex, child) in enumerate(zip((0.0, f2, f3), (idx[2], idx[1], idx[0]))):
            rot = rot @ rot_x(flex)
            point = point + shape.bone_lengths[f, seg] * rot[:, 1]
            joints[child] = point
            palmar[f, seg] = rot[:, 2]
    return joints, palmar


def palm_outline(shape: HandShape, joints: np.ndarray) -> np.ndarray:
    """Palm polygon [8, 3] in the z = 0 plane, inset so its rounded rim hugs the knuckles."""
    w = shape.palm_width
    pts = np.array(
        [
            [-0.42 * w, 0.0, 0.0],  # wrist, little-finger side
            [0.30 * w, 0.0, 0.0],  # wrist, thumb side
            [joints[4, 0] + 0.1 * w, joints[4, 1] + 0.05 * shape.palm_length, 0.0],
            [joints[8, 0], joints[8, 1], 0.0],
            [joints[12, 0], joints[12, 1], 0.0],
            [joints[16, 0], joints[16, 1], 0.0],
            [joints[20, 0], joints[20, 1], 0.0],
            [joints[20, 0] - 0.02 * w, 0.45 * shape.palm_length, 0.0],
        ]
    )
    centre = pts.mean(axis=0)
    inset = shape.palm_half_thickness - 0.8 * float(np.mean(shape.radii[1:, 0]))
    offset = centre - pts
    offset /= np.linalg.norm(offset, axis=1, keepdims=True)
    return pts + max(inset, 0.0) * offset


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Mirror [..., 3] points or directions through the y-z plane (right <-> left hand)."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] *= -1.0
    return out


def sample_hand(rng: np.random.Generator, side: str, grip: str | None = None) -> Hand:
    """A random hand of the given side ("left"/"right") in its own frame."""
    if side not in kp.HAND_SIDES:
        raise ValueError(f"side must be one of {kp.HAND_SIDES}; received {side!r}")
    shape = sample_shape(rng)
    angles, grip = sample_angles(rng, grip)
    return build_hand(shape, angles, side, grip, wrist_deg=_sample_wrist(rng))


def _sample_wrist(rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(lo, hi) for lo, hi in WRIST_LIMITS_DEG])


def build_hand(
    shape: HandShape, angles: np.ndarray, side: str, grip: str = "custom", wrist_deg=(0.0, 0.0)
) -> Hand:
    """Pose ``shape`` with ``angles`` [5, 4] radians; mirror for a left hand.

    wrist_deg: (flexion, deviation) in degrees; sets the forearm direction.
    """
    joints, palmar = forward_kinematics(shape, np.asarray(angles, dtype=np.float64))
    outline = palm_outline(shape, joints)
    flex, dev = np.deg2rad(np.asarray(wrist_deg, dtype=np.float64))
    # Flexion (palm towards forearm) tilts the forearm axis to the palmar side (+z) as seen
    # from the hand; deviation turns it in the palm plane.
    forearm = rot_z(dev) @ rot_x(-flex) @ np.array([0.0, -1.0, 0.0])
    if side == kp.HAND_LEFT:
        joints, palmar, outline, forearm = (mirror_x(a) for a in (joints, palmar, outline, forearm))
    return Hand(
        side=side,
        joints=joints,
        radii=shape.radii.copy(),
        palmar=palmar,
        palm_outline=outline,
        palm_half_thickness=shape.palm_half_thickness,
        forearm_dir=forearm,
        angles=np.asarray(angles, dtype=np.float64),
        grip=grip,
        shape=shape,
    )


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Measured finger bone lengths [5, 3] (base, middle, tip) of [21, 3] joints."""
    out = np.zeros((NUM_FINGERS, 3))
    for f, name in enumerate(kp.FINGER_NAMES):
        tip, dip, pip, mcp = kp.FINGERS[name]
        chain = joints[[mcp, pip, dip, tip]]
        out[f] = np.linalg.norm(np.diff(chain, axis=0), axis=1)
    return out
