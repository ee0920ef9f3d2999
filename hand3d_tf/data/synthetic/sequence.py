"""Synthetic video: one version-2 scene per sequence, its hands moving smoothly. NumPy + OpenCV.

A sequence keeps what a video keeps: the camera K, background, light, skin, hand shapes,
sleeves, body, occluders and image degradations (blur, gain, JPEG quality) are drawn once.
Per frame, the hands move: the palm centre follows a smooth random path (a sum of slow
sinusoids in pixels and depth), the wrist turns (yaw, pitch and roll swing about the
sampled view of viewpoint.py), the fingers move between key poses drawn from
hand_model.sample_angles (smoothstep between keys, so the angles stay inside the joint
limits), the camera shakes a little (a small fast rotation of everything, the background
included), and sometimes the main hand leaves the frame completely and comes back. Sensor
noise is drawn anew for every frame, as a camera's is.

Labels are computed per frame exactly as generate_sample computes them (render.project,
render.keypoint_visibility on the frame's own z-buffer), so they are as exact as a single
sample's. ``static=True`` holds frame 0's pose (no motion, no shake, no exit): only the
noise changes, which is what a jitter measurement needs (docs/data.md, "Sequences").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import cv2
import numpy as np

from hand3d_tf import images
from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import (
    appearance,
    background_v2,
    hand_model,
    hand_surface,
    scene,
    scene_v2,
    viewpoint,
)
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.render import keypoint_visibility, project, render
from hand3d_tf.data.synthetic.sample import (
    _CLASS_RANGES,
    MAX_DEPTH,
    _noise_bank,
    _smooth_edges,
    sample_rng,
)

# Separates a sequence's random stream from the single sample of the same (seed, index).
_STREAM = 0x5E0
# Palm-centre path: each coordinate is a weighted sum of this many sinusoids whose periods
# (frames) lie in this range; at 30 fps a hand drifts across the frame in a few seconds.
_PATH_TERMS = 3
_PATH_PERIODS = (40.0, 160.0)
# Largest relative change of the hand's depth, and swings (degrees) of the wrist about the
# sampled view: yaw (sideways), pitch (fingers towards / away from the camera), roll.
_DEPTH_SWING = 0.1
_VIEW_SWING_DEG = np.array([25.0, 15.0, 20.0])
# Frames between two key poses of the fingers and the wrist joint.
_POSE_INTERVAL = (16, 40)
# Camera shake: rotation amplitude (degrees, per sequence) and periods (frames) of its
# terms; 0.4 degrees at fx = 300 px moves the image by about 2 px.
_SHAKE_DEG = (0.0, 0.4)
_SHAKE_PERIODS = (3.0, 10.0)
# Exits: sequences of at least _EXIT_MIN_LENGTH frames leave with this probability; the hand
# takes _EXIT_RAMP frames to go (and as many to come back) and stays out _EXIT_HOLD frames.
_EXIT_PROBABILITY = 0.5
_EXIT_MIN_LENGTH = 30
_EXIT_RAMP = (5, 10)
_EXIT_HOLD = (3, 12)
# Sensor noise floor (std, 0..255): without noise a static hand gives identical frames.
_MIN_NOISE_STD = 1.0


@dataclasses.dataclass
class _HandTrack:
    """One hand over the sequence, in the unshaken camera frame. angles: [T, 5, 4] radians;
    wrist: [T, 2] degrees; views: [T] viewpoint.View; centres: [T, 3] palm centres, metres."""

    side: str
    shape: hand_model.HandShape
    angles: np.ndarray
    wrist: np.ndarray
    views: list
    centres: np.ndarray
    skin: np.ndarray
    nails: bool
    forearm_radius: float
    arm_seed: int

    def pose(self, t: int, shake: np.ndarray, centres: np.ndarray | None = None):
        """(posed Hand, rotation [3, 3], joints [21, 3]) of frame t, the camera rotated by
        ``shake``; centres: [T, 3] palm centres to use instead of self.centres."""
        hand = hand_model.build_hand(self.shape, self.angles[t], self.side, "sequence",
                                     self.wrist[t])  # fmt: skip
        rotation = shake @ viewpoint.view_rotation(self.views[t])
        centre = (self.centres if centres is None else centres)[t]
        return hand, rotation, scene.place_hand(hand, rotation, shake @ centre)


def _sinusoids(rng, length: int, dims: int, periods, terms: int = _PATH_TERMS) -> np.ndarray:
    """[length, dims] smooth signals in [-1, 1]: weighted sums of sinusoids."""
    t = np.arange(length, dtype=np.float64)[:, None, None]
    weights = rng.uniform(0.2, 1.0, size=(dims, terms))
    weights /= weights.sum(axis=1, keepdims=True)
    period = rng.uniform(*periods, size=(dims, terms))
    phase = rng.uniform(0.0, 2.0 * math.pi, size=(dims, terms))
    return np.sum(weights * np.sin(2.0 * math.pi * t / period + phase), axis=2)


def _between_keys(keys: np.ndarray, interval: int, length: int) -> np.ndarray:
    """[length, ...] smoothstep interpolation of keys [K, ...] placed every ``interval``
    frames: a convex combination of two neighbours, so box limits on the keys hold."""
    pos = np.arange(length) / interval
    k = np.floor(pos).astype(int)
    s = pos - k
    s = (s * s * (3.0 - 2.0 * s)).reshape((-1,) + (1,) * (keys.ndim - 1))
    return keys[k] + s * (keys[k + 1] - keys[k])


def _track(rng, config, K, side, fraction, azimuth, skin, times, amplitude) -> _HandTrack:
    """A hand's motion: key poses, view swings and palm path, evaluated at ``times``."""
    length = len(times)
    shape = hand_model.sample_shape(rng)
    interval = int(rng.integers(*_POSE_INTERVAL))
    n_keys = length // interval + 2
    angles = np.stack([hand_model.sample_angles(rng)[0] for _ in range(n_keys)])
    limits = hand_model.WRIST_LIMITS_DEG
    wrists = rng.uniform(limits[:, 0], limits[:, 1], size=(n_keys, 2))
    first = hand_model.build_hand(shape, angles[0], side, "sequence", wrists[0])
    _, view = viewpoint.sample_orientation(rng, first, config)
    depth = K[0, 0] * scene.hand_length(first) / (fraction * config.image_size)
    centre = viewpoint.centre_off_axis(depth, viewpoint.sample_off_axis(rng, config), azimuth)
    centre_px = (K @ centre)[:2] / centre[2]
    # The palm centre wanders inside the central part of the frame (config.centre_margin).
    half = config.image_size * (0.5 - config.centre_margin)
    room = np.maximum(half - np.abs(centre_px - 0.5 * config.image_size), 0.0)
    reach = amplitude * rng.uniform(0.3, 1.0, size=2) * room
    depth_swing = rng.uniform(0.0, _DEPTH_SWING)
    view_swing = np.deg2rad(_VIEW_SWING_DEG * rng.uniform(0.0, 1.0, size=3)) * amplitude
    wander = _sinusoids(rng, length, 6, _PATH_PERIODS)[times]
    uv = centre_px + reach * wander[:, :2]
    z = depth * (1.0 + depth_swing * wander[:, 2])
    centres = z[:, None] * (np.c_[uv, np.ones(length)] @ np.linalg.inv(K).T)
    pitch_max = math.radians(config.pitch_max_deg)
    views = [
        viewpoint.View(
            palm=view.palm,
            yaw=view.yaw + view_swing[0] * w[3],
            pitch=float(np.clip(view.pitch + view_swing[1] * w[4], -pitch_max, pitch_max)),
            roll=view.roll + view_swing[2] * w[5],
        )
        for w in wander
    ]
    radius = rng.uniform(*scene.FOREARM_RADIUS_RANGE) * shape.palm_width / 0.062
    return _HandTrack(
        side=side,
        shape=shape,
        angles=_between_keys(angles, interval, length)[times],
        wrist=_between_keys(wrists, interval, length)[times],
        views=views,
        centres=centres,
        skin=skin,
        nails=bool(rng.uniform() < config.nail_probability),
        forearm_radius=float(radius),
        arm_seed=int(rng.integers(0, 2**63)),
    )


def _shake(rng, length: int, static: bool) -> np.ndarray:
    """[length, 3, 3] small camera rotations (identity when static)."""
    amplitude = math.radians(rng.uniform(*_SHAKE_DEG))
    angles = amplitude * _sinusoids(rng, length, 3, _SHAKE_PERIODS) * np.array([1.0, 1.0, 0.5])
    if static:
        return np.broadcast_to(np.eye(3), (length, 3, 3)).copy()
    return np.stack([viewpoint._rot_z(c) @ viewpoint._rot_x(a) @ viewpoint._rot_y(b)
                     for a, b, c in angles])  # fmt: skip


def _outside(xyz: np.ndarray, K: np.ndarray, size: int, margin: float) -> bool:
    """No point projects within ``margin`` pixels of the image (points behind count out)."""
    z = xyz[:, 2]
    uv = project(xyz[z > 0], K)
    lo, hi = -0.5 - margin, size - 0.5 + margin
    return not bool(np.any(np.all((uv > lo) & (uv < hi), axis=1)))


def _exit(rng, track: _HandTrack, K, size: int, length: int, static: bool) -> None:
    """Maybe move track.centres so that the main hand leaves the frame and comes back: its
    image offset rises (smoothstep) over a ramp, holds, and falls again."""
    # Every draw happens whether or not the hand leaves, so that a static sequence and a
    # moving one of the same (seed, index, length) share everything drawn after this.
    ramp, hold = int(rng.integers(*_EXIT_RAMP)), int(rng.integers(*_EXIT_HOLD))
    direction = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)][int(rng.integers(0, 4))]
    leaves = rng.uniform() < _EXIT_PROBABILITY
    latest = length - 2 * ramp - hold - 2
    start = int(rng.integers(2, max(latest, 2) + 1))
    if static or not leaves or length < _EXIT_MIN_LENGTH or latest < 2:
        return
    s = np.clip(np.arange(ramp + 1) / ramp, 0.0, 1.0)
    rise = s * s * (3.0 - 2.0 * s)
    profile = np.zeros(length)
    profile[start : start + ramp + 1] = rise
    profile[start + ramp : start + ramp + hold] = 1.0
    profile[start + ramp + hold - 1 : start + 2 * ramp + hold] = rise[::-1]
    held = np.arange(start + ramp, start + ramp + hold)
    # Push until the whole hand (keypoints plus the palm's rim, see _margin) is off the image.
    offset = 0.75 * size
    eye = np.eye(3)
    for _ in range(32):
        moved = _moved(track.centres, K, offset * profile, direction)
        if all(_outside(track.pose(t, eye, moved)[2], K, size, _margin(track, K, t))
               for t in held):  # fmt: skip
            break
        offset *= 1.25
    track.centres = moved


def _moved(centres: np.ndarray, K, offset_px: np.ndarray, direction) -> np.ndarray:
    """Palm centres [T, 3] shifted in the image by offset_px [T] pixels along ``direction``,
    at their own depths."""
    shift = np.c_[offset_px * direction[0], offset_px * direction[1], np.zeros(len(offset_px))]
    return centres + centres[:, 2:3] * (shift @ np.linalg.inv(K).T)


def _margin(track: _HandTrack, K, t: int) -> float:
    """Pixels the surface may reach beyond the keypoints: the palm outline's wrist corners
    lie up to half a palm width beside the wrist (hand_model.palm_outline), its rim one half
    thickness further; plus the camera shake (a few pixels)."""
    shape = track.shape
    reach = 0.5 * shape.palm_width + 2.0 * shape.palm_half_thickness
    return float(K[0, 0] * reach / (0.8 * track.centres[t, 2])) + 4.0


def _moved_primitive(prim, shake: np.ndarray):
    """A copy of a static (unblended) primitive, rotated by the camera shake."""
    if isinstance(prim, scene.Polygon):
        moved = dataclasses.replace(prim, vertices=prim.vertices @ shake.T,
                                    normal=shake @ prim.normal)  # fmt: skip
    else:
        moved = dataclasses.replace(prim, a=shake @ prim.a, b=shake @ prim.b)
        if prim.palmar is not None:
            moved.palmar = shake @ prim.palmar
    if prim.cushion_centre is not None:
        moved.cushion_centre = shake @ prim.cushion_centre
    return moved


@dataclasses.dataclass(frozen=True)
class _Camera:
    """What sample._degrade draws per image, drawn once per sequence (noise_std in 0..255;
    blur_sigma 0: no blur; jpeg_quality 0: no JPEG round trip)."""

    blur_sigma: float
    gain: float
    bias: float
    noise_std: float
    jpeg_quality: int


def _sample_camera(rng, config: SyntheticConfig) -> _Camera:
    blur = rng.uniform() < config.blur_probability
    sigma = rng.uniform(*config.blur_sigma_range)
    gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-12.0, 12.0)
    noise = max(
        rng.uniform(*config.noise_std_range), min(_MIN_NOISE_STD, config.noise_std_range[1])
    )
    jpeg = rng.uniform() < config.jpeg_probability
    quality = int(rng.integers(config.jpeg_quality_range[0], config.jpeg_quality_range[1] + 1))
    return _Camera(sigma if blur else 0.0, gain, bias, noise, quality if jpeg else 0)


def _degrade(camera: _Camera, rng, image: np.ndarray) -> np.ndarray:
    """Float RGB 0..255 -> uint8, as sample._degrade with the sequence's fixed camera and
    this frame's noise (a random window of the same noise bank)."""
    size = image.shape[0]
    if camera.blur_sigma > 0.0:
        image = cv2.GaussianBlur(image, (0, 0), camera.blur_sigma)
    image = image * camera.gain + (camera.bias + 0.5)
    r, c = rng.integers(0, size, size=2)
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    if camera.noise_std > 0.25:
        image += (sign * camera.noise_std) * _noise_bank(size)[r : r + size, c : c + size]
    image = np.clip(image, 0, 255).astype(np.uint8)
    if camera.jpeg_quality:
        params = [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality]
        ok, data = cv2.imencode(".jpg", image[..., ::-1], params)
        if not ok:
            raise RuntimeError(f"OpenCV failed to JPEG-encode a frame at quality {params[1]}")
        image = images.decode_image(data, "a frame's JPEG")
    return np.ascontiguousarray(image)


def _background_depth(rng, far: float, size: int) -> np.ndarray:
    """A tilted plane behind the farthest hand of the whole sequence (as sample.py's)."""
    base = rng.uniform(min(far + 0.3, MAX_DEPTH - 0.5), MAX_DEPTH - 0.3)
    slope = rng.uniform(-0.6, 0.6, size=2) / size
    coords = np.arange(size, dtype=np.float32) - 0.5 * size
    plane = base + slope[0] * coords[None, :] + slope[1] * coords[:, None]
    return np.clip(plane, far + 0.05, MAX_DEPTH - 1e-3).astype(np.float32)


def _placed_hand(track: _HandTrack, hand, rotation, xyz, margin: float) -> scene.PlacedHand:
    return scene.PlacedHand(
        side=track.side,
        hand=hand,
        xyz=xyz,
        tolerance=scene.joint_tolerance(hand, track.forearm_radius, margin),
        present=True,
        palm_towards_camera=bool((rotation @ [0.0, 0.0, 1.0]) @ -kp.palm_centre(xyz) > 0.0),
        rotation=rotation,
    )


def _hand_and_arm(
    track: _HandTrack, t: int, shake, config
) -> tuple[scene.PlacedHand, list, np.ndarray]:
    """(PlacedHand, primitives of hand and forearm, elbow [3]) of frame t."""
    hand, rotation, xyz = track.pose(t, shake)
    placed = _placed_hand(track, hand, rotation, xyz, config.visibility_margin)
    prims, *parts = hand_surface.hand_primitives(hand, rotation, xyz, track.skin, track.nails)
    # The same generator every frame: the same forearm length, sleeve and cuff.
    arm_rng = np.random.default_rng(track.arm_seed)
    arm, elbow = scene_v2._arm(arm_rng, placed, track.forearm_radius, track.skin, parts, config)
    return placed, prims + arm, elbow


def render_sequence(
    config: SyntheticConfig, seed: int, index: int, length: int, static: bool = False
) -> list[dict]:
    """Sequence ``index`` of stream ``seed``: ``length`` frames, deterministic in (config,
    seed, index, length, static): the list of :func:`iter_sequence`'s frames."""
    return list(iter_sequence(config, seed, index, length, static))


def iter_sequence(
    config: SyntheticConfig, seed: int, index: int, length: int, static: bool = False
) -> Iterator[dict]:
    """Sequence ``index`` of stream ``seed``: ``length`` frames, deterministic in (config,
    seed, index, length, static), rendered one at a time as they are asked for (a writer
    holds one frame in memory, not the sequence; the arguments are checked at the call).

    Each frame is a dict with generate_sample's keys (color, mask, depth, xyz, uv_vis, K;
    same shapes, dtypes and label rules) plus "frame" (int, 0-based) and "in_frame" (bool:
    some keypoint of the main hand, the one every frame shows, projects inside the image).
    static=True holds frame 0's pose without camera shake or exits; only sensor noise
    changes between frames. Needs generator_version 2 (ValueError otherwise).
    """
    if config.generator_version != 2:
        raise ValueError(
            f"sequences are rendered by generator version 2; received generator_version="
            f"{config.generator_version}"
        )
    if int(length) < 1:
        raise ValueError(f"length must be >= 1; received {length}")
    sample_rng(seed, index)  # checks seed and index
    key = [int(seed), int(index), _STREAM]
    rng = np.random.default_rng(key)
    look = np.random.default_rng(key + [0])
    size, length = config.image_size, int(length)
    times = np.zeros(length, int) if static else np.arange(length)

    K = scene.sample_intrinsics(rng, config)
    main_side = kp.HAND_SIDES[int(rng.integers(0, 2))]
    other_side = kp.HAND_RIGHT if main_side == kp.HAND_LEFT else kp.HAND_LEFT
    both = rng.uniform() < config.second_hand_probability
    skin = scene.sample_skin(rng)
    other_skin = skin if rng.uniform() < 0.7 else scene.sample_skin(rng)
    lo, hi = np.log(config.hand_size_range)
    fraction = float(np.exp(rng.uniform(lo, hi)))
    azimuth = rng.uniform(-math.pi, math.pi)
    tracks = {main_side: _track(rng, config, K, main_side, fraction, azimuth, skin, times, 1.0)}
    if both:  # the second hand across the axis, as scene_v2 places it, moving less
        spread = rng.uniform(-1.0, 1.0) * scene_v2._SECOND_HAND_AZIMUTH_SPREAD
        other = fraction * rng.uniform(0.75, 1.33)
        tracks[other_side] = _track(rng, config, K, other_side, other, azimuth + math.pi + spread,
                                    other_skin, times, 0.5)  # fmt: skip
    else:  # absent: far off-frame or behind the camera, not moving
        absent = hand_model.sample_hand(rng, other_side)
        rotation, _ = viewpoint.sample_orientation(rng, absent, config)
        centre = scene._absent_centre(rng, K, config)
        absent_xyz = scene.place_hand(absent, rotation, centre)
        while scene._any_inside(absent_xyz, K, size):
            centre = centre * np.array([2.0, 2.0, 1.0])
            absent_xyz = scene.place_hand(absent, rotation, centre)
        absent_tolerance = scene.joint_tolerance(absent, 0.025, config.visibility_margin)
    shakes = _shake(rng, length, static)
    _exit(rng, tracks[main_side], K, size, length, static)

    # Static surroundings in the unshaken frame, drawn once: body, distractors, occluder.
    eye = np.eye(3)
    world = {s: np.stack([tr.pose(t, eye)[2] for t in range(length)])
             for s, tr in tracks.items()}  # fmt: skip
    far = max(float(w[..., 2].max()) for w in world.values())
    first, _, elbow = _hand_and_arm(tracks[main_side], 0, eye, config)
    background = background_v2.make_background(look, config)
    light = appearance.sample_light(look, config, np.array(cv2.mean(background)[:3]) / 255.0)
    coarse = cv2.resize(look.standard_normal((6, 6)).astype(np.float32), (size, size))
    fine = cv2.resize(look.standard_normal((40, 40)).astype(np.float32), (size, size))
    mottling = 1.0 + 0.06 * coarse + 0.025 * fine  # appearance.compose's, fixed on screen
    body = []
    if look.uniform() < config.body_probability:
        body = scene_v2._body(look, elbow, main_side, skin, behind=far + 0.05)
    static_prims = body[1:]  # body[0] is the upper arm, which follows the elbow
    if look.uniform() < config.skin_distractor_probability:
        static_prims += scene_v2._skin_distractors(look, K, skin, far + 0.05, size)
    if look.uniform() < config.occluder_probability:
        static_prims += scene_v2._occluder(look, K, first, size, 0.05)
    camera = _sample_camera(look, config)
    background_depth = _background_depth(look, far, size)

    def frames():  # one at a time: a long sequence is written as it is rendered
        for t in range(length):
            shake = shakes[t]
            placed, prims = {}, []
            for side, track in tracks.items():
                placed[side], hand_prims, elbow = _hand_and_arm(track, t, shake, config)
                prims += hand_prims
                if side == main_side and body:
                    prims.append(dataclasses.replace(body[0], a=elbow, b=shake @ body[0].b))
            if not both:
                placed[other_side] = scene.PlacedHand(
                    other_side, absent, absent_xyz @ shake.T, absent_tolerance, False, False, eye
                )
            prims += [_moved_primitive(p, shake) for p in static_prims]
            prims = [p for p in prims if scene._in_front(p, 0.05)]
            frame_scene = scene.Scene(K=K, image_size=size, primitives=prims,
                                      hands=(placed[kp.HAND_LEFT], placed[kp.HAND_RIGHT]),
                                      skin=skin, main_side=main_side)  # fmt: skip
            yield _frame(frame_scene, config, key, t, shake, background, background_depth,
                         light, mottling, camera)  # fmt: skip

    return frames()


def _frame(frame_scene, config, key, t, shake, background, background_depth, light, mottling,
           camera) -> dict:  # fmt: skip
    """Render, shade and label one frame (generate_sample's steps, the sequence's look)."""
    size, K = config.image_size, frame_scene.K
    buf = render(frame_scene.primitives, K, size)
    # A camera rotation moves a distant background by the homography K R K^-1.
    homography = K @ shake @ np.linalg.inv(K)
    image = cv2.warpPerspective(background, homography, (size, size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    far_depth = cv2.warpPerspective(background_depth, homography, (size, size),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    rgb = appearance.shade(buf, light, appearance.contact_shadow(buf, float(K[0, 0])))
    rgb *= mottling[buf.rows, buf.cols, None]
    image[buf.rows, buf.cols] = 255.0 * np.minimum(rgb, 1.0)
    fg = buf.foreground
    image = _degrade(camera, np.random.default_rng(key + [1, t]), _smooth_edges(image, fg))
    depth = np.where(fg, buf.depth, far_depth).astype(np.float32)
    xyz = frame_scene.xyz
    present = np.repeat([h.present for h in frame_scene.hands], kp.NUM_KEYPOINTS)
    visible = keypoint_visibility(
        xyz, K, buf.depth, buf.class_map, _CLASS_RANGES, frame_scene.tolerance
    )
    visible &= present
    main = frame_scene.hands[kp.HAND_SIDES.index(frame_scene.main_side)]
    return {
        "color": image,
        "mask": buf.class_map,
        "depth": depth,
        "xyz": xyz.astype(np.float32),
        "uv_vis": np.concatenate([project(xyz, K), visible[:, None]], axis=1).astype(np.float32),
        "K": K.astype(np.float32),
        "frame": int(t),
        "in_frame": scene._any_inside(main.xyz, K, size),
    }
