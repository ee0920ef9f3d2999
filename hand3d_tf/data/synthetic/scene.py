"""Scene: camera, hand placement, second hand, forearm and body, as renderable primitives.

Camera frame as OpenCV / RHD: x right, y down, z forward (metres); a point X projects to
uv = (fx x / z + cx, fy y / z + cy). Everything a renderer needs is a ``Capsule`` (segment +
radius: finger bones, arms, torso, head) or a ``Polygon`` (a flat face: the palm's two sides).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import hand_model
from hand3d_tf.data.synthetic.config import SyntheticConfig

# Skin albedos (linear-ish RGB, 0..1) from light to dark; a hand's tone blends two neighbours.
SKIN_TONES = np.array(
    [
        [0.96, 0.80, 0.69],
        [0.92, 0.72, 0.60],
        [0.85, 0.63, 0.50],
        [0.75, 0.53, 0.40],
        [0.60, 0.40, 0.28],
        [0.45, 0.29, 0.20],
        [0.32, 0.20, 0.14],
    ]
)
# Palms and nails are lighter than the back of the hand, strongly so for dark skin.
PALM_TONE = np.array([0.93, 0.74, 0.66])
NAIL_TONE = np.array([0.95, 0.83, 0.80])
FOREARM_LENGTH_RANGE = (0.23, 0.28)
FOREARM_RADIUS_RANGE = (0.021, 0.028)
UPPER_ARM_LENGTH = 0.28
# An absent hand is put this many frame widths off-frame (or behind the camera), so that
# all its 21 points project outside the image.
ABSENT_OFFSET_FRAMES = (1.5, 3.0)
# Cushion tilt of the palm faces' shading normals (at the rim); larger shows a crease there.
PALM_BULGE = 0.35


@dataclasses.dataclass
class Capsule:
    """Segment a -> b [3] with a radius (metres), camera frame, and its surface look.

    palmar: optional unit direction; the side facing it takes ``palm_colour``. nail: optional
    nail colour, painted on the side opposite ``palmar`` near ``b``.
    Version 2 only: radius_b makes it a round cone (radius at a, radius_b at b); shares_a:
    its sphere at a is the previous segment's sphere at b, which covers it; blend lists
    neighbouring primitives whose normals blend into this one's near where they meet (a
    smooth union for shading) over about blend_width metres; cushion tilts the shading normal away from cushion_centre by
    ``cushion`` per metre, as a Polygon's bulge does.
    """

    a: np.ndarray
    b: np.ndarray
    radius: float
    class_id: int
    colour: np.ndarray
    palm_colour: np.ndarray | None = None
    palmar: np.ndarray | None = None
    nail: np.ndarray | None = None
    specular: float = 1.0
    radius_b: float | None = None
    shares_a: bool = False
    blend: tuple = ()
    blend_width: float | None = None
    cushion_centre: np.ndarray | None = None
    cushion: float = 0.0


@dataclasses.dataclass
class Polygon:
    """Planar polygon: vertices [M, 3] camera frame, outward unit ``normal`` [3].

    bulge > 0 tilts the shading normal outwards away from the centre, so a flat face shades
    like a cushion (the palm) without extra geometry. blend (version 2): capsules whose
    normals blend into this face's near where they meet it; cushion_centre: the point the
    bulge tilts away from (default: the vertices' mean); blend_width: as for Capsule.
    """

    vertices: np.ndarray
    normal: np.ndarray
    class_id: int
    colour: np.ndarray
    bulge: float = 0.0
    specular: float = 1.0
    blend: tuple = ()
    cushion_centre: np.ndarray | None = None
    blend_width: float | None = None


@dataclasses.dataclass
class PlacedHand:
    """One hand of the scene. xyz: [21, 3] camera frame; tolerance: [21] metres (joint radius
    + visibility margin); present: rendered in the view; palm_towards_camera: the palmar side
    faces the camera; view: the sampled viewpoint.View (version 2 only); partial: placed on a
    border to be cut by it."""

    side: str
    hand: hand_model.Hand
    xyz: np.ndarray
    tolerance: np.ndarray
    present: bool
    palm_towards_camera: bool
    rotation: np.ndarray
    view: object = None
    partial: bool = False


@dataclasses.dataclass
class Scene:
    """K [3, 3]; primitives to render; hands = (left, right) as RHD stores them; skin: the
    main hand's albedo RGB 0..1 (backgrounds reuse it for skin-coloured distractors);
    main_side: the side of the hand every frame shows."""

    K: np.ndarray
    image_size: int
    primitives: list
    hands: tuple[PlacedHand, PlacedHand]
    skin: np.ndarray
    main_side: str | None = None

    @property
    def xyz(self) -> np.ndarray:
        """[42, 3] float64: left hand 0-20, right hand 21-41 (docs/original.md §8.1)."""
        return np.concatenate([self.hands[0].xyz, self.hands[1].xyz], axis=0)

    @property
    def tolerance(self) -> np.ndarray:
        return np.concatenate([self.hands[0].tolerance, self.hands[1].tolerance])


def sample_intrinsics(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """K [3, 3]: fx = fy from focal_range, principal point near the image centre."""
    f = rng.uniform(*config.focal_range)
    centre = 0.5 * (config.image_size - 1)
    cx, cy = centre + rng.uniform(-1.0, 1.0, size=2) * config.principal_jitter
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform rotation [3, 3] (normalised Gaussian quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def sample_skin(rng: np.random.Generator) -> np.ndarray:
    i = rng.integers(0, len(SKIN_TONES) - 1)
    tone = SKIN_TONES[i] + rng.uniform() * (SKIN_TONES[i + 1] - SKIN_TONES[i])
    return np.clip(tone + rng.normal(0.0, 0.025, 3), 0.05, 1.0)


def joint_tolerance(hand: hand_model.Hand, forearm_radius: float, margin: float) -> np.ndarray:
    """[21] metres: how far the surface seen at a keypoint may lie in front of it.

    A keypoint sits on its bone's axis, so its own skin is one joint radius nearer the camera.
    """
    radii = hand.radii
    tol = np.zeros(kp.NUM_KEYPOINTS)
    tol[0] = max(forearm_radius, hand.palm_half_thickness)
    for f, name in enumerate(kp.FINGER_NAMES):
        tip, dip, pip, mcp = kp.FINGERS[name]
        tol[tip] = radii[f, 2]
        tol[dip] = max(radii[f, 2], radii[f, 1])
        tol[pip] = max(radii[f, 1], radii[f, 0])
        tol[mcp] = max(radii[f, 0], hand.palm_half_thickness)
    return tol + margin


def hand_primitives(
    hand: hand_model.Hand, rotation: np.ndarray, xyz: np.ndarray, skin: np.ndarray
) -> list:
    """Capsules (15 finger bones, palm rim) and the palm's two faces for a placed hand.

    rotation: [3, 3] hand frame -> camera frame; xyz: [21, 3] the placed joints (camera
    frame), i.e. rotation @ hand.joints + translation.
    """
    first = kp.MASK_LEFT_FIRST if hand.side == kp.HAND_LEFT else kp.MASK_RIGHT_FIRST
    palm_class = first + 15
    translation = xyz[0] - rotation @ hand.joints[0]
    palm_colour = skin + _palm_offset(skin)
    nail_colour = 0.6 * skin + 0.4 * NAIL_TONE
    prims: list = []
    for f, name in enumerate(kp.FINGER_NAMES):
        tip, dip, pip, mcp = kp.FINGERS[name]
        chain = (mcp, pip, dip, tip)
        for seg in range(3):
            a, b = xyz[chain[seg]], xyz[chain[seg + 1]]
            r = float(hand.radii[f, seg])
            if seg == 2:  # end the finger about at the tip keypoint, not one radius beyond
                axis = b - a
                b = b - 0.5 * r * axis / max(np.linalg.norm(axis), 1e-9)
            prims.append(
                Capsule(
                    a=a,
                    b=b,
                    radius=r,
                    class_id=first + 3 * f + (2 - seg),  # three classes tip -> base
                    colour=skin,
                    palm_colour=palm_colour,
                    palmar=rotation @ hand.palmar[f, seg],
                    nail=nail_colour if seg == 2 else None,
                )
            )
    normal = rotation @ np.array([0.0, 0.0, 1.0])
    outline = hand.palm_outline @ rotation.T + translation
    h = hand.palm_half_thickness
    prims.append(Polygon(outline + h * normal, normal, palm_class, palm_colour, bulge=PALM_BULGE))
    prims.append(Polygon(outline - h * normal, -normal, palm_class, skin, bulge=PALM_BULGE))
    for i in range(len(outline)):
        prims.append(
            Capsule(
                a=outline[i],
                b=outline[(i + 1) % len(outline)],
                radius=h,
                class_id=palm_class,
                colour=skin,
                palm_colour=palm_colour,
                palmar=normal,
            )
        )
    return prims


def _palm_offset(skin: np.ndarray) -> np.ndarray:
    """Offset from skin to palm albedo: darker skin gets a relatively lighter palm."""
    darkness = 1.0 - float(np.mean(skin))
    return (0.15 + 0.5 * darkness) * (PALM_TONE - skin)


def hand_length(hand: hand_model.Hand) -> float:
    """Wrist -> middle fingertip when straight, metres (the size the camera distance uses)."""
    return float(hand.shape.palm_length + hand.shape.bone_lengths[2].sum())


def place_hand(hand: hand_model.Hand, rotation: np.ndarray, palm_centre: np.ndarray) -> np.ndarray:
    """Joints [21, 3] in the camera frame: rotate about the palm centre, move it there."""
    centre = kp.palm_centre(hand.joints)
    return (hand.joints - centre) @ rotation.T + np.asarray(palm_centre, dtype=np.float64)


def _orientation(rng, hand, config: SyntheticConfig) -> np.ndarray:
    """Uniform viewpoint (palm and back, all sides), but not with the arm poking the camera."""
    for _ in range(32):
        rotation = random_rotation(rng)
        if -(rotation @ hand.forearm_dir)[2] <= config.max_forearm_towards_camera:
            break
    return rotation


def _visible_centre(rng, K, config: SyntheticConfig, depth: float, partial: bool) -> np.ndarray:
    size = config.image_size
    if partial:  # just inside one border: the palm shows, the rest may be cut off
        along = rng.uniform(0.1, 0.9) * size
        across = rng.uniform(0.0, 0.08) * size
        side = int(rng.integers(0, 4))
        spots = ((across, along), (size - across, along), (along, across), (along, size - across))
        u, v = spots[side]
    else:
        lo, hi = config.centre_margin * size, (1.0 - config.centre_margin) * size
        u, v = rng.uniform(lo, hi, size=2)
    return depth * (np.linalg.inv(K) @ np.array([u, v, 1.0]))


def _absent_centre(rng, K, config: SyntheticConfig) -> np.ndarray:
    """Far outside the view: behind the camera, or several frame widths off to one side."""
    if rng.uniform() < config.absent_behind_camera_probability:
        return np.array([*rng.uniform(-0.5, 0.5, size=2), -rng.uniform(0.3, 1.5)])
    angle = rng.uniform(0.0, 2.0 * np.pi)
    offset = rng.uniform(*ABSENT_OFFSET_FRAMES) * config.image_size
    centre_px = 0.5 * config.image_size + offset * np.array([np.cos(angle), np.sin(angle)])
    return rng.uniform(0.4, 2.0) * (np.linalg.inv(K) @ np.array([*centre_px, 1.0]))


def _any_inside(xyz: np.ndarray, K: np.ndarray, size: int) -> bool:
    z = xyz[:, 2]
    front = z > 0
    uv = (xyz[front] @ K.T)[:, :2] / z[front, None]
    return bool(np.any(np.all((uv > -0.5) & (uv < size - 0.5), axis=1)))


def _clothing(rng) -> np.ndarray:
    colour = rng.uniform(0.05, 0.9, size=3)
    grey = rng.uniform()
    return grey * colour.mean() + (1.0 - grey) * colour if rng.uniform() < 0.4 else colour


def _arm(rng, placed: PlacedHand, forearm_radius: float, skin, config) -> tuple[list, np.ndarray]:
    """Forearm capsules (bare skin, or skin then sleeve) as class 1; returns (prims, elbow)."""
    direction = placed.rotation @ placed.hand.forearm_dir
    wrist = placed.xyz[0]
    elbow = wrist + rng.uniform(*FOREARM_LENGTH_RANGE) * direction
    start = wrist + 0.01 * direction
    if rng.uniform() < config.sleeve_probability:
        cuff = start + rng.uniform(0.15, 0.8) * (elbow - start)
        prims = [
            Capsule(start, cuff, forearm_radius, kp.MASK_PERSON, skin),
            Capsule(
                cuff, elbow, 1.3 * forearm_radius, kp.MASK_PERSON, _clothing(rng), specular=0.2
            ),
        ]
    else:
        prims = [Capsule(start, elbow, forearm_radius, kp.MASK_PERSON, skin)]
    return prims, elbow


def _body(rng, elbow: np.ndarray, skin, behind: float) -> list:
    """Upper arm, torso, other arm and head as class-1 blobs hanging off the elbow.

    The torso, head and other arm are pushed back until they lie beyond depth ``behind``
    (the far side of the hands): a body in front of the camera would hide the hands.
    """
    roll = rng.uniform(-0.5, 0.5)
    up = np.array([np.sin(roll), -np.cos(roll), 0.0])  # image "up" is -y
    away = np.array([0.0, 0.0, 1.0])
    lateral = np.cross(up, away) * rng.choice([-1.0, 1.0])
    to_shoulder = rng.uniform(0.3, 1.0) * up + 0.6 * away + 0.4 * rng.standard_normal(3)
    shoulder = elbow + UPPER_ARM_LENGTH * to_shoulder / np.linalg.norm(to_shoulder)
    cloth, width = _clothing(rng), rng.uniform(0.12, 0.17)
    hair = rng.uniform(0.02, 0.3) * np.array([1.0, 0.8, 0.6])
    head_r = rng.uniform(0.085, 0.105)
    neck = shoulder + 0.17 * lateral
    other_shoulder = neck + 0.17 * lateral
    head = neck + 0.25 * up
    crown = head + 0.03 * up + 0.02 * away
    trunk = [
        Capsule(neck - 0.08 * up, neck - 0.45 * up, width, kp.MASK_PERSON, cloth, specular=0.2),
        Capsule(
            other_shoulder, other_shoulder - 0.3 * up, 0.045, kp.MASK_PERSON, cloth, specular=0.2
        ),
        Capsule(neck, head, 0.05, kp.MASK_PERSON, skin),
        Capsule(head, head, head_r, kp.MASK_PERSON, skin),
        Capsule(crown, crown, head_r * 1.02, kp.MASK_PERSON, hair, specular=0.3),
    ]
    nearest = min(min(c.a[2], c.b[2]) - c.radius for c in trunk)
    push = max(behind - nearest, 0.0) * away
    for cap in trunk:
        cap.a, cap.b = cap.a + push, cap.b + push
    upper_arm = Capsule(elbow, shoulder + push, 0.045, kp.MASK_PERSON, cloth, specular=0.2)
    return [upper_arm] + trunk


def _in_front(prim, near: float) -> bool:
    """Keep only primitives wholly in front of the camera (the renderer's assumption)."""
    if isinstance(prim, Capsule):
        radius = prim.radius if prim.radius_b is None else max(prim.radius, prim.radius_b)
        return min(prim.a[2], prim.b[2]) - radius > near
    return bool(np.all(prim.vertices[:, 2] > near))


def sample_scene(rng: np.random.Generator, config: SyntheticConfig, near: float = 0.05) -> Scene:
    """One random version-1 scene: camera, one or two hands (left 0-20, right 21-41), arm, body.

    Generator version 2 draws its scenes in scene_v2, which builds on this module;
    scenes.sample_scene picks the version.
    """
    if config.generator_version != 1:
        raise ValueError(
            f"scene.sample_scene draws version-1 scenes; generator_version="
            f"{config.generator_version} scenes come from scenes.sample_scene"
        )
    K = sample_intrinsics(rng, config)
    main_side = kp.HAND_SIDES[int(rng.integers(0, 2))]
    both = rng.uniform() < config.second_hand_probability
    skin = sample_skin(rng)
    other_skin = skin if rng.uniform() < 0.7 else sample_skin(rng)
    lo, hi = np.log(config.hand_size_range)
    main_fraction = float(np.exp(rng.uniform(lo, hi)))
    placed, prims, elbows = {}, [], {}
    for side in (main_side, kp.HAND_RIGHT if main_side == kp.HAND_LEFT else kp.HAND_LEFT):
        hand = hand_model.sample_hand(rng, side)
        present = side == main_side or both
        rotation = _orientation(rng, hand, config)
        forearm_radius = rng.uniform(*FOREARM_RADIUS_RANGE) * hand.shape.palm_width / 0.062
        if present:
            fraction = (
                main_fraction if side == main_side else main_fraction * rng.uniform(0.75, 1.33)
            )
            depth = K[0, 0] * hand_length(hand) / (fraction * config.image_size)
            partial = side == main_side and rng.uniform() < config.partial_probability
            centre = _visible_centre(rng, K, config, depth, partial)
        else:
            centre = _absent_centre(rng, K, config)
        xyz = place_hand(hand, rotation, centre)
        while not present and _any_inside(xyz, K, config.image_size):
            centre = centre * np.array([2.0, 2.0, 1.0])  # push it further off-frame
            xyz = place_hand(hand, rotation, centre)
        normal = rotation @ np.array([0.0, 0.0, 1.0])
        placed[side] = PlacedHand(
            side=side,
            hand=hand,
            xyz=xyz,
            tolerance=joint_tolerance(hand, forearm_radius, config.visibility_margin),
            present=present,
            palm_towards_camera=bool(normal @ -kp.palm_centre(xyz) > 0.0),
            rotation=rotation,
            partial=bool(present and partial),  # the main hand comes first and is present
        )
        if present:
            hand_skin = skin if side == main_side else other_skin
            prims += hand_primitives(hand, rotation, xyz, hand_skin)
            arm_prims, elbows[side] = _arm(rng, placed[side], forearm_radius, hand_skin, config)
            prims += arm_prims
    if rng.uniform() < config.body_probability:
        far = max(h.xyz[:, 2].max() for h in placed.values() if h.present)
        prims += _body(rng, elbows[main_side], skin, behind=far + 0.05)
    prims = [p for p in prims if _in_front(p, near)]
    return Scene(
        K=K,
        image_size=config.image_size,
        primitives=prims,
        hands=(placed[kp.HAND_LEFT], placed[kp.HAND_RIGHT]),
        skin=skin,
        main_side=main_side,
    )
