"""Scenes of generator version 2: a person facing the camera holds up one or two hands.

Same camera, hand model, arm and body as version 1 (scene.py), but every hand's orientation
comes from viewpoint.sample_orientation (palm and back both common, fingers mostly up) and
the main hand sits near the optical axis (viewpoint.sample_off_axis), as in RHD, unless the
frame is one of the rare ones where it is cut by a border.
"""

from __future__ import annotations

import math

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import hand_model, hand_surface, scene, viewpoint
from hand3d_tf.data.synthetic.config import SyntheticConfig

# The second hand sits on the far side of the axis from the main one, within this many
# radians of the opposite direction, so the two overlap only sometimes.
_SECOND_HAND_AZIMUTH_SPREAD = 0.8
# Forearm radius at the elbow relative to version 1's uniform radius; at the wrist it is a
# little more than the palm's half thickness, so the arm tapers into the hand.
_ELBOW_RADIUS_FACTOR = 1.15
_WRIST_RADIUS_FACTOR = 1.1


def _arm(rng, placed: scene.PlacedHand, radius: float, skin, parts, config: SyntheticConfig):
    """Forearm round cones (bare, or skin then a sleeve) and the elbow point."""
    direction = placed.rotation @ placed.hand.forearm_dir
    length = rng.uniform(*scene.FOREARM_LENGTH_RANGE)
    sleeve = scene._clothing(rng) if rng.uniform() < config.sleeve_probability else None
    cuff = rng.uniform(0.1, 0.8)
    wrist_radius = _WRIST_RADIUS_FACTOR * placed.hand.palm_half_thickness
    prims = hand_surface.forearm(
        placed.xyz[0],
        direction,
        length,
        wrist_radius,
        max(_ELBOW_RADIUS_FACTOR * radius, wrist_radius),
        skin,
        sleeve,
        cuff,
        *parts,
    )
    return prims, placed.xyz[0] + length * direction


def _body(rng, elbow: np.ndarray, main_side: str, skin, behind: float) -> list:
    """The person the hand belongs to, facing the camera and upright behind the hands:
    torso, shoulders, neck and head (class 1), and the upper arm up to the elbow.

    A person's right hand is on the image's left, so the torso sits to the image right of a
    right hand's elbow (and left of a left one's). Pushed back until it lies beyond depth
    ``behind``: a body in front of the camera would hide the hands.
    """
    sign = 1.0 if main_side == kp.HAND_RIGHT else -1.0
    up = np.array([rng.normal(0.0, 0.1), -1.0, 0.0])
    up /= np.linalg.norm(up)
    across = np.array([-up[1], up[0], 0.0])  # image right
    half_width = rng.uniform(0.16, 0.21)
    shoulder = elbow + rng.uniform(0.18, 0.28) * up + np.array([0, 0, rng.uniform(0.05, 0.25)])
    centre = shoulder + sign * half_width * across
    cloth = scene._clothing(rng)
    hair = rng.uniform(0.02, 0.3) * np.array([1.0, 0.8, 0.6])
    chest = rng.uniform(0.13, 0.17)
    head_r = rng.uniform(0.085, 0.1)
    head = centre + rng.uniform(0.24, 0.28) * up
    crown = head + 0.03 * up + np.array([0.0, 0.0, 0.02])
    parts = [
        scene.Capsule(
            centre - 0.08 * up, centre - 0.5 * up, chest, kp.MASK_PERSON, cloth,
            specular=0.15,
        ),
        scene.Capsule(
            centre - half_width * across, centre + half_width * across, 0.065,
            kp.MASK_PERSON, cloth, specular=0.15,
        ),
        scene.Capsule(centre, head, 0.05, kp.MASK_PERSON, skin),
        scene.Capsule(head, head, head_r, kp.MASK_PERSON, skin),
        scene.Capsule(crown, crown, 1.02 * head_r, kp.MASK_PERSON, hair, specular=0.3),
    ]  # fmt: skip
    nearest = min(min(c.a[2], c.b[2]) - max(c.radius, c.radius_b or 0.0) for c in parts)
    push = np.array([0.0, 0.0, max(behind - nearest, 0.0)])
    for part in parts:
        part.a, part.b = part.a + push, part.b + push
    near_shoulder = centre - sign * (half_width - 0.03) * across + push
    upper_arm = scene.Capsule(elbow, near_shoulder, 0.05, kp.MASK_PERSON, cloth, specular=0.15)
    return [upper_arm] + parts


def _occluder(rng, K, main: scene.PlacedHand, size: int, near: float) -> list:
    """An object between the camera and the main hand (class 0: it hides what it covers):
    a rod (pen, bottle, table edge) or a flat card, crossing near the hand."""
    centre = kp.palm_centre(main.xyz)
    depth = centre[2] * rng.uniform(0.45, 0.85)
    span = 0.6 * np.linalg.norm(main.xyz[12] - main.xyz[0]) * depth / centre[2]
    across = rng.uniform(0.3, 1.2) * span * np.array([*rng.standard_normal(2), 0.0])
    mid = centre * depth / centre[2] + across
    angle = rng.uniform(0.0, np.pi)
    along = np.array([np.cos(angle), np.sin(angle), rng.uniform(-0.3, 0.3)])
    half = rng.uniform(1.0, 3.0) * span * along
    colour = scene._clothing(rng)
    if rng.uniform() < 0.6:
        radius = min(rng.uniform(0.08, 0.5) * span, 0.8 * (mid[2] - near))
        return [
            scene.Capsule(mid - half, mid + half, radius, kp.MASK_BACKGROUND, colour, specular=0.5)
        ]
    side = np.cross(along, [0.0, 0.0, 1.0])
    side *= rng.uniform(0.3, 1.0) * span / max(np.linalg.norm(side), 1e-9)
    corners = np.array([mid - half - side, mid + half - side, mid + half + side, mid - half + side])
    normal = np.cross(corners[1] - corners[0], corners[3] - corners[0])
    normal /= np.linalg.norm(normal)
    if normal[2] > 0:  # face the camera
        normal = -normal
    return [scene.Polygon(corners, normal, kp.MASK_BACKGROUND, colour, specular=0.3)]


def _skin_distractors(rng, K, skin, behind: float, size: int) -> list:
    """Skin-coloured shapes behind the hands that are not hands (class 0): faces, knees,
    other people's arms."""
    prims = []
    for _ in range(int(rng.integers(1, 3))):
        depth = behind + rng.uniform(0.1, 1.5)
        u, v = rng.uniform(-0.1, 1.1, size=2) * size
        a = depth * (np.linalg.inv(K) @ np.array([u, v, 1.0]))
        tone = np.clip(skin * rng.uniform(0.8, 1.15, size=3), 0.05, 1.0)
        radius = rng.uniform(0.04, 0.11)
        if rng.uniform() < 0.5:
            prims.append(scene.Capsule(a, a, radius, kp.MASK_BACKGROUND, tone))
        else:
            b = a + rng.uniform(0.1, 0.35) * np.array([*rng.standard_normal(2), 0.3])
            prims.append(scene.Capsule(a, b, radius, kp.MASK_BACKGROUND, tone))
    return prims


def _centre(rng, K, config: SyntheticConfig, depth: float, partial: bool, azimuth: float):
    if partial:
        return scene._visible_centre(rng, K, config, depth, partial=True)
    return viewpoint.centre_off_axis(depth, viewpoint.sample_off_axis(rng, config), azimuth)


def sample_scene(rng: np.random.Generator, config: SyntheticConfig, near: float = 0.05):
    """One random version-2 scene (scene.Scene): camera, hands, forearms, maybe a body."""
    K = scene.sample_intrinsics(rng, config)
    main_side = kp.HAND_SIDES[int(rng.integers(0, 2))]
    both = rng.uniform() < config.second_hand_probability
    skin = scene.sample_skin(rng)
    other_skin = skin if rng.uniform() < 0.7 else scene.sample_skin(rng)
    lo, hi = np.log(config.hand_size_range)
    main_fraction = float(np.exp(rng.uniform(lo, hi)))
    partial = rng.uniform() < config.partial_probability
    azimuth = rng.uniform(-math.pi, math.pi)
    placed, prims, elbows = {}, [], {}
    for side in (main_side, kp.HAND_RIGHT if main_side == kp.HAND_LEFT else kp.HAND_LEFT):
        is_main = side == main_side
        hand = hand_model.sample_hand(rng, side)
        present = is_main or both
        rotation, view = viewpoint.sample_orientation(rng, hand, config)
        forearm_radius = rng.uniform(*scene.FOREARM_RADIUS_RANGE) * hand.shape.palm_width / 0.062
        if present:
            fraction = main_fraction if is_main else main_fraction * rng.uniform(0.75, 1.33)
            depth = K[0, 0] * scene.hand_length(hand) / (fraction * config.image_size)
            if not is_main:
                azimuth += math.pi + rng.uniform(-1.0, 1.0) * _SECOND_HAND_AZIMUTH_SPREAD
            centre = _centre(rng, K, config, depth, partial and is_main, azimuth)
        else:
            centre = scene._absent_centre(rng, K, config)
        xyz = scene.place_hand(hand, rotation, centre)
        while not present and scene._any_inside(xyz, K, config.image_size):
            centre = centre * np.array([2.0, 2.0, 1.0])  # push it further off-frame
            xyz = scene.place_hand(hand, rotation, centre)
        normal = rotation @ np.array([0.0, 0.0, 1.0])
        placed[side] = scene.PlacedHand(
            side=side,
            hand=hand,
            xyz=xyz,
            tolerance=scene.joint_tolerance(hand, forearm_radius, config.visibility_margin),
            present=present,
            palm_towards_camera=bool(normal @ -kp.palm_centre(xyz) > 0.0),
            rotation=rotation,
            view=view,
            partial=bool(partial and is_main),
        )
        if present:
            hand_skin = skin if is_main else other_skin
            nails = rng.uniform() < config.nail_probability
            hand_prims, *parts = hand_surface.hand_primitives(hand, rotation, xyz, hand_skin, nails)
            arm, elbows[side] = _arm(rng, placed[side], forearm_radius, hand_skin, parts, config)
            prims += hand_prims + arm
    far = max(h.xyz[:, 2].max() for h in placed.values() if h.present)
    if rng.uniform() < config.body_probability:
        prims += _body(rng, elbows[main_side], main_side, skin, behind=far + 0.05)
    if rng.uniform() < config.skin_distractor_probability:
        prims += _skin_distractors(rng, K, skin, far + 0.05, config.image_size)
    if rng.uniform() < config.occluder_probability:
        prims += _occluder(rng, K, placed[main_side], config.image_size, near)
    prims = [p for p in prims if scene._in_front(p, near)]
    return scene.Scene(
        K=K,
        image_size=config.image_size,
        primitives=prims,
        hands=(placed[kp.HAND_LEFT], placed[kp.HAND_RIGHT]),
        skin=skin,
        main_side=main_side,
    )
