"""Version-2 hand surface: tapered round-cone fingers, a cushioned palm, and a forearm that
tapers into the wrist, with normals blended where the parts meet (smooth.py).

The joints are the same kinematic keypoints as version 1 (labels unchanged); only the skin
around them differs. Radii at each joint are shared by the two segments that meet there, so
a straight finger has no step at its knuckles, and the tip narrows into a rounded pad.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import hand_model
from hand3d_tf.data.synthetic.scene import NAIL_TONE, Capsule, Polygon, _palm_offset

# Cushion tilt of the palm's shading normal at its rim (faces and rim pieces alike).
PALM_BULGE = 0.3
# Width (in palm half-thicknesses) of the fillet where fingers, thumb and forearm meet the
# palm, as seen by the palm's shading.
_PALM_BLEND = 0.6
# Palm rim pieces each finger's base blends with (hand_model.palm_outline's vertices: 0 and
# 1 wrist, 2 thumb base, 3-6 index..little MCP, 7 little-finger side; piece i runs from
# vertex i to i + 1). The thumb's base lies along the wrist and thumb-side pieces.
_FINGER_RIMS = ((0, 1, 2), (2, 3), (3, 4), (4, 5), (5, 6))
_WRIST_RIMS = (7, 0, 1)
# Fingertips: the pad narrows to this fraction of the tip segment's radius, and its sphere
# centre sits this many pad radii before the tip keypoint.
_TIP_TAPER = 0.8
_TIP_INSET = 0.7


def joint_radii(hand: hand_model.Hand) -> np.ndarray:
    """[5, 4] radius (metres) at base, middle, distal joint and pad of each finger."""
    r = hand.radii
    out = np.empty((hand_model.NUM_FINGERS, 4))
    out[:, 0] = 1.04 * r[:, 0]
    out[:, 1] = np.maximum(r[:, 1], 0.5 * (r[:, 0] + r[:, 1]))
    out[:, 2] = 0.5 * (r[:, 1] + r[:, 2])
    out[:, 3] = _TIP_TAPER * r[:, 2]
    out[0, 1] = 0.5 * (r[0, 0] + r[0, 1])  # the thumb's thick base tapers to its MCP
    return out


def hand_primitives(
    hand: hand_model.Hand,
    rotation: np.ndarray,
    xyz: np.ndarray,
    skin: np.ndarray,
    nails: bool,
) -> tuple[list, list, list]:
    """(primitives, wrist rim pieces, palm faces) of a placed hand; see
    scene.hand_primitives for the frames. A forearm blends into the last two."""
    first = kp.MASK_LEFT_FIRST if hand.side == kp.HAND_LEFT else kp.MASK_RIGHT_FIRST
    palm_class = first + 15
    translation = xyz[0] - rotation @ hand.joints[0]
    palm_colour = skin + _palm_offset(skin)
    nail_colour = 0.6 * skin + 0.4 * NAIL_TONE if nails else None
    normal = rotation @ np.array([0.0, 0.0, 1.0])
    outline = hand.palm_outline @ rotation.T + translation
    h = hand.palm_half_thickness
    centre = outline.mean(axis=0)
    cushion = PALM_BULGE / float(np.linalg.norm(outline - centre, axis=1).max())
    rims = [
        Capsule(
            a=outline[i],
            b=outline[(i + 1) % len(outline)],
            radius=h,
            class_id=palm_class,
            colour=skin,
            palm_colour=palm_colour,
            palmar=normal,
            cushion_centre=centre,
            cushion=cushion,
            # A cylinder as a round cone: each joint's sphere is cast once, by the piece
            # that ends there.
            radius_b=h,
            shares_a=i > 0,
            blend_width=_PALM_BLEND * h,
        )
        for i in range(len(outline))
    ]
    radii = joint_radii(hand)
    prims: list = []
    for f, name in enumerate(kp.FINGER_NAMES):
        tip, dip, pip, mcp = kp.FINGERS[name]
        points = [xyz[mcp], xyz[pip], xyz[dip], xyz[tip]]
        axis = points[3] - points[2]
        points[3] = points[3] - _TIP_INSET * radii[f, 3] * axis / max(np.linalg.norm(axis), 1e-9)
        for seg in range(3):
            cone = Capsule(
                a=points[seg],
                b=points[seg + 1],
                radius=float(radii[f, seg]),
                radius_b=float(radii[f, seg + 1]),
                class_id=first + 3 * f + (2 - seg),  # three classes tip -> base
                colour=skin,
                palm_colour=palm_colour,
                palmar=rotation @ hand.palmar[f, seg],
                nail=nail_colour if seg == 2 else None,
                shares_a=seg > 0,
            )
            if seg == 0:  # the finger grows out of the palm without a seam
                joined = tuple(rims[i] for i in _FINGER_RIMS[f])
                cone.blend = joined
                for rim in joined:
                    rim.blend = rim.blend + (cone,)
            prims.append(cone)
    bases = tuple(prims[3 * f] for f in range(hand_model.NUM_FINGERS))
    # Faces and rim tilt away from the same mid-plane centre: no crease where they meet.
    faces = [
        Polygon(
            outline + h * normal, normal, palm_class, palm_colour, PALM_BULGE, 1.0, bases, centre
        ),
        Polygon(
            outline - h * normal,
            -normal,
            palm_class,
            skin,
            PALM_BULGE,
            1.0,
            bases,
            centre,
            _PALM_BLEND * h,
        ),
    ]
    # The thumb's metacarpal lies on the palm (the thenar eminence): no edge where it meets it.
    prims[0].blend = prims[0].blend + tuple(faces)
    # The forearm blends into the wrist's rim pieces and the thumb's base as well.
    return prims + faces + rims, [rims[i] for i in _WRIST_RIMS] + [prims[0]], faces


def forearm(
    wrist: np.ndarray,
    direction: np.ndarray,
    length: float,
    wrist_radius: float,
    elbow_radius: float,
    skin: np.ndarray,
    sleeve: np.ndarray | None,
    cuff: float,
    wrist_rims: list,
    faces: list,
) -> list:
    """Round cones wrist -> elbow (class 1): skin, then a looser sleeve from ``cuff`` (a
    fraction of the length) when ``sleeve`` is a colour. The skin part blends into the rim."""
    start = wrist + 0.005 * direction
    elbow = wrist + length * direction

    def radius(fraction: float) -> float:
        return wrist_radius + fraction * (elbow_radius - wrist_radius)

    end = cuff if sleeve is not None else 1.0
    arm = Capsule(
        start,
        wrist + end * length * direction,
        wrist_radius,
        kp.MASK_PERSON,
        skin,
        radius_b=radius(end),
        blend=tuple(wrist_rims),
    )
    arm.blend = arm.blend + tuple(faces)
    for part in wrist_rims + faces:
        part.blend = part.blend + (arm,)
    prims = [arm]
    if sleeve is not None:
        a = wrist + cuff * length * direction
        r = 1.25 * radius(cuff)
        # A loose sleeve: a plain cylinder (cheaper to cast than a cone over its large box).
        sleeve_radius = max(r, elbow_radius)
        prims.append(Capsule(a, elbow, sleeve_radius, kp.MASK_PERSON, sleeve, specular=0.15))
    return prims
