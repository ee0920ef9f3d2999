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
from hand3d_tf.data.synthetic import hand_model, scene, viewpoint
from hand3d_tf.data.synthetic.config import SyntheticConfig

# The second hand sits on the far side of the axis from the main one, within this many
# radians of the opposite direction, so the two overlap only sometimes.
_SECOND_HAND_AZIMUTH_SPREAD = 0.8


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
            prims += scene.hand_primitives(hand, rotation, xyz, hand_skin)
            arm, elbows[side] = scene._arm(rng, placed[side], forearm_radius, hand_skin, config)
            prims += arm
    if rng.uniform() < config.body_probability:
        far = max(h.xyz[:, 2].max() for h in placed.values() if h.present)
        prims += scene._body(rng, elbows[main_side], skin, behind=far + 0.05)
    prims = [p for p in prims if scene._in_front(p, near)]
    return scene.Scene(
        K=K,
        image_size=config.image_size,
        primitives=prims,
        hands=(placed[kp.HAND_LEFT], placed[kp.HAND_RIGHT]),
        skin=skin,
        main_side=main_side,
    )
