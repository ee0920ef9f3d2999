"""Real photographs in, an RHD-format dataset out: 2D labels from a teacher, masks where they
can be trusted (docs/autolabel.md). No TensorFlow.

``autolabel(config)`` reads a folder of photos (or a video), asks the teacher
(:mod:`hand3d_tf.teacher`, MediaPipe's hand models) for every hand's 2D keypoints and
handedness, keeps a label only when the teacher is confident and stable (``LabelRule``),
makes a hand mask, and writes ``<output_dir>/<split>/`` in RHD's layout so that the project's
readers, pipelines and trainers use it unchanged:

- ``color/%05d.png``: the photo letterboxed into ``frame`` x ``frame`` (320, RHD's size);
- ``mask/%05d.png``: RHD's class map (0 background, 1 the arm beyond the wrist, 2 a left
  hand, 18 a right hand: the hand as one region, not RHD's finger parts);
- ``anno_<split>.pickle``: per sample ``uv_vis`` [42, 3] (the labelled hand's slot, RHD
  order, wrist first), ``xyz`` None (no 3D label is made up: such samples train PoseNet and
  HandSegNet, never the lifting), ``K`` the identity placeholder, ``hand_side`` 0/1 (the
  teacher's handedness) and ``mask_trusted`` (True only for a keyed plain background);
- ``labels.json``: per sample its source file, the teacher's scores and the mask's origin;
  and per dropped photo or hand the reason;
- ``manifest.json`` (checked by the reader) and ``preview.png`` (labels drawn).

The split is written into a temporary folder and renamed into place when complete.

Masks (``mask_mode``): ``auto`` keys a plain background (a smooth colour field fitted to the
pixels away from the hand; trusted when the keyed region holds the keypoints), else seeds
OpenCV's grabCut with the keypoints (kept, marked untrusted); ``key`` keys or leaves the mask
empty; ``grabcut`` always grabCut; ``none`` writes empty masks (PoseNet only).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import pickle
import shutil
import tempfile

import cv2
import numpy as np

from hand3d_tf import images
from hand3d_tf import teacher as tc
from hand3d_tf.atomic import atomic_write
from hand3d_tf.constants import CLASS_ARM, CLASS_LEFT, CLASS_RIGHT  # noqa: F401 (re-exported)
from hand3d_tf.data import manifest
from hand3d_tf.images import IMAGE_SUFFIXES  # noqa: F401 (re-exported)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
MASK_MODES = ("auto", "key", "grabcut", "none")
GENERATOR = "hand3d-autolabel"
GENERATOR_VERSION = 1
# RHD indices used for the forearm cut: wrist and middle-finger base.
WRIST, MIDDLE_MCP = 0, 12


class AutolabelInputError(ValueError):
    """The input folder, file or video cannot be used (one line naming it)."""


@dataclasses.dataclass(frozen=True)
class AutolabelConfig:
    input: str
    output_dir: str
    split: str = "training"
    rule: tc.LabelRule = tc.LabelRule()
    mask_mode: str = "auto"
    max_hands: int = 2
    frame: int = 320
    video_every: int = 10
    max_images: int = 0
    overwrite: bool = False
    preview: int = 16
    teacher_dir: str | None = None
    threads: int = 2

    def __post_init__(self):
        if self.split not in ("training", "evaluation"):
            raise ValueError(f"split must be training or evaluation; received {self.split!r}")
        if self.mask_mode not in MASK_MODES:
            raise ValueError(f"mask_mode must be one of {MASK_MODES}; received {self.mask_mode!r}")
        for name, low in (("max_hands", 1), ("frame", 64), ("video_every", 1), ("threads", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}; received {getattr(self, name)}")
        if self.max_images < 0 or self.preview < 0:
            raise ValueError("max_images and preview must be >= 0")


# ---------------------------------------------------------------- inputs
def list_inputs(path) -> list[pathlib.Path]:
    """The image files under a folder (recursive, sorted) or the single image/video given."""
    path = pathlib.Path(path)
    if not path.exists():
        raise AutolabelInputError(f"input {path} does not exist")
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise AutolabelInputError(
                f"input {path} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                f"({', '.join(VIDEO_SUFFIXES)})"
            )
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise AutolabelInputError(
            f"input folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)})"
        )
    return files


read_image = images.decode_file  # an image file as RGB uint8, or None when it does not decode


def frames(files: list[pathlib.Path], video_every: int):
    """(name, RGB image or None) for every image file, and every n-th frame of a video."""
    for path in files:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise AutolabelInputError(f"video {path} cannot be opened")
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if index % video_every == 0:
                    yield f"{path}#frame{index}", np.ascontiguousarray(frame[..., ::-1])
                index += 1
            cap.release()
        else:
            yield str(path), read_image(path)


# ---------------------------------------------------------------- masks
def _hull_mask(shape, points: np.ndarray, grow: float) -> np.ndarray:
    hull = cv2.convexHull(points.astype(np.float32)).astype(np.int32)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    size = max(tc.hand_size(points), 1.0)
    k = max(int(grow * size), 1) * 2 + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0


def _skeleton_mask(shape, uv: np.ndarray, thickness: int) -> np.ndarray:
    from hand3d_tf.keypoints import SKELETON_EDGES

    mask = np.zeros(shape[:2], np.uint8)
    for a, b in SKELETON_EDGES:
        pa, pb = tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b])
        cv2.line(mask, pa, pb, 1, thickness)
    return mask > 0


def _design(h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    y, x = ys / h - 0.5, xs / w - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)


def key_mask(image: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The hand (and arm) on a plain background: (foreground bool [H, W] or None, residual).

    A smooth colour field (a quadratic in x, y per Lab channel) is fitted to the pixels away
    from the hand, twice, the second time without the worst fitting fifth; the background is
    plain when the fit's 90th-percentile residual is small. Foreground = pixels far from the
    field, in the components that touch the keypoints' hull, holes filled.
    """
    h, w = image.shape[:2]
    scale = min(1.0, 256.0 / max(h, w))
    small = cv2.resize(
        image, (max(int(w * scale), 8), max(int(h * scale), 8)), interpolation=cv2.INTER_AREA
    )
    sh, sw = small.shape[:2]
    uv_s = uv * np.array([sw / w, sh / h])
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    away = ~_hull_mask(small.shape, uv_s, grow=0.35)
    if away.mean() < 0.2:  # a hand that fills the photo: fit to what is left of it
        away = ~_hull_mask(small.shape, uv_s, grow=0.15)
    ys, xs = np.nonzero(away)
    if len(ys) < 0.1 * sh * sw:
        return None, float("inf")
    design = _design(sh, sw, ys, xs)
    values = lab[ys, xs]
    keep = np.ones(len(ys), bool)
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        resid = np.linalg.norm(values - design @ coef, axis=1)
        keep = resid <= np.percentile(resid, 80)
    noise = float(np.percentile(resid, 90))
    yy, xx = np.mgrid[0:sh, 0:sw]
    field = (_design(sh, sw, yy.ravel(), xx.ravel()) @ coef).reshape(sh, sw, 3)
    dist = np.linalg.norm(lab - field, axis=2)
    fg = (dist > max(2.5 * noise, 12.0)).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels = cv2.connectedComponents(fg)
    core = _hull_mask(small.shape, uv_s, grow=0.0)
    touching = np.unique(labels[core & (fg > 0)])
    fg = np.isin(labels, touching[touching > 0]).astype(np.uint8)
    # Fill holes: background reachable from the border stays background.
    flood = np.pad(1 - fg, 1, constant_values=1)
    reach = np.zeros((sh + 4, sw + 4), np.uint8)
    cv2.floodFill(flood, reach, (0, 0), 2)
    fg = (flood[1:-1, 1:-1] != 2).astype(np.uint8)
    full = cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return full, noise


def grabcut_mask(image: np.ndarray, uv: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Hand (and arm) pixels by grabCut seeded with the keypoints: the bones are certain
    foreground, their hull probable foreground, far from the hand certain background."""
    h, w = image.shape[:2]
    scale = min(1.0, 320.0 / max(h, w))
    small = cv2.resize(
        image, (max(int(w * scale), 8), max(int(h * scale), 8)), interpolation=cv2.INTER_AREA
    )
    uv_s = uv * np.array([small.shape[1] / w, small.shape[0] / h])
    size = max(tc.hand_size(uv_s), 4.0)
    gc = np.full(small.shape[:2], cv2.GC_PR_BGD, np.uint8)
    gc[~_hull_mask(small.shape, uv_s, grow=0.6)] = cv2.GC_BGD
    gc[_hull_mask(small.shape, uv_s, grow=0.05)] = cv2.GC_PR_FGD
    gc[_skeleton_mask(small.shape, uv_s, max(int(size * 0.05), 2))] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, iterations,
                    cv2.GC_INIT_WITH_MASK)  # fmt: skip
    except cv2.error:
        return _hull_mask(image.shape, uv, grow=0.05)
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST) > 0


def split_arm(fg: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hand, arm): foreground beyond a line across the wrist (perpendicular to wrist ->
    middle-finger base, a fifth of that length below the wrist) is the arm."""
    wrist, mcp = uv[WRIST], uv[MIDDLE_MCP]
    axis = mcp - wrist
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        return fg, np.zeros_like(fg)
    axis = axis / length
    h, w = fg.shape
    yy, xx = np.mgrid[0:h, 0:w]
    along = (xx - wrist[0]) * axis[0] + (yy - wrist[1]) * axis[1]
    beyond = along < -0.2 * length
    return fg & ~beyond, fg & beyond


def keypoints_inside(mask: np.ndarray, uv: np.ndarray, grow_px: int) -> int:
    k = grow_px * 2 + 1
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    h, w = mask.shape
    inside = 0
    for x, y in uv:
        xi, yi = int(round(x)), int(round(y))
        inside += bool(0 <= xi < w and 0 <= yi < h and grown[yi, xi])
    return inside


def make_mask(image: np.ndarray, uv: np.ndarray, mode: str) -> tuple[np.ndarray | None, str, bool]:
    """(foreground bool [H, W] or None, origin, trusted) for one labelled hand."""
    if mode == "none":
        return None, "none", False
    if mode in ("auto", "key"):
        fg, noise = key_mask(image, uv)
        if fg is not None and noise <= 10.0:
            hand, _ = split_arm(fg, uv)
            hull = _hull_mask(image.shape, uv, grow=0.0).sum()
            ratio = hand.sum() / max(hull, 1)
            grow = max(int(0.03 * tc.hand_size(uv)), 1)
            if keypoints_inside(hand, uv, grow) >= 20 and 0.8 <= ratio <= 4.0:
                return fg, "key", True
        if mode == "key":
            return None, "none (background not plain)", False
    return grabcut_mask(image, uv), "grabcut", False


# ---------------------------------------------------------------- frames
def letterbox_geometry(hw, side: int) -> tuple[float, int, int, np.ndarray]:
    """(scale, scaled width, scaled height, offset (x, y)) of an H x W image letterboxed into
    ``side`` x ``side``: image pixel p lands at p * scale + offset."""
    h, w = hw
    s = side / max(h, w)
    nw, nh = max(int(round(w * s)), 1), max(int(round(h * s)), 1)
    return s, nw, nh, np.array([(side - nw) // 2, (side - nh) // 2], np.float64)


def letterbox(image: np.ndarray, side: int) -> tuple[np.ndarray, float, np.ndarray]:
    """(the image scaled so its longer side is ``side`` and centred on black, scale, offset
    (x, y))."""
    s, nw, nh, offset = letterbox_geometry(image.shape[:2], side)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.zeros((side, side) + image.shape[2:], image.dtype)
    ox, oy = int(offset[0]), int(offset[1])
    out[oy : oy + nh, ox : ox + nw] = scaled
    return out, s, offset


@dataclasses.dataclass
class Report:
    """What a run kept and dropped."""

    images: int = 0
    unreadable: int = 0
    no_hand: int = 0
    kept: int = 0
    dropped: dict = dataclasses.field(default_factory=dict)
    masks: dict = dataclasses.field(default_factory=dict)
    sides: dict = dataclasses.field(default_factory=lambda: {"left": 0, "right": 0})

    def drop(self, reason: str) -> None:
        key = reason.split(" ")[0] if reason[:1].isalpha() else reason
        key = {
            "presence": "low presence",
            "passes": "passes disagree",
            "handedness": "handedness unsure",
            "hand": "hand too small",
        }.get(key, reason)
        self.dropped[key] = self.dropped.get(key, 0) + 1

    def summary(self) -> str:
        drops = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        masks = ", ".join(f"{k} {v}" for k, v in sorted(self.masks.items())) or "none"
        return (
            f"{self.images} images: {self.kept} labelled samples kept ({self.sides['left']} left, "
            f"{self.sides['right']} right); no hand found in {self.no_hand}, unreadable "
            f"{self.unreadable}; hands dropped: {drops}; masks: {masks}"
        )


def label_sample(image: np.ndarray, hands: list[tc.HandLabel], frame: int, mode: str):
    """The RHD sample of a photo's kept hands (the first; a second of the other side fills
    the other slot), or None when no hand was kept."""
    kept = [h for h in hands if h.kept]
    if not kept:
        return None
    main = kept[0]
    other = next((h for h in kept[1:] if h.side != main.side), None)
    fg, origin, trusted = make_mask(image, main.uv, mode)
    # A second hand in view that is not labelled, or a mask of only one of two: untrusted.
    if len([h for h in hands if h.presence >= 0.5]) > 1 + (other is not None):
        trusted = False
    if other is not None:
        trusted = False
    boxed, s, offset = letterbox(image, frame)
    uv_vis = np.zeros((42, 3), np.float32)
    cls = np.zeros((frame, frame), np.uint8)
    for hand in [main] + ([other] if other is not None else []):
        uv = hand.uv * s + offset
        slot = slice(21 * hand.side, 21 * hand.side + 21)
        inside = (
            (uv[:, 0] >= 0) & (uv[:, 0] <= frame - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= frame - 1)
        )
        uv_vis[slot, :2] = uv
        uv_vis[slot, 2] = inside
    if fg is not None:
        hand_px, arm_px = split_arm(fg, main.uv)
        cls_full = np.zeros(image.shape[:2], np.uint8)
        cls_full[arm_px] = CLASS_ARM
        cls_full[hand_px] = CLASS_RIGHT if main.side else CLASS_LEFT
        boxed_cls, _, _ = letterbox(cls_full, frame)
        cls = boxed_cls
    anno = {
        "xyz": None,
        "uv_vis": uv_vis,
        "K": np.eye(3, dtype=np.float32),
        "hand_side": int(main.side),
        "mask_trusted": bool(trusted),
    }
    meta = {
        "presence": round(main.presence, 4),
        "right_prob": round(main.right_prob, 4),
        "spread": round(main.spread, 4),
        "hand_px": round(main.size, 1),
        "roi": main.roi_source,
        "mask": origin,
        "mask_trusted": bool(trusted),
        "hands_labelled": 1 + (other is not None),
    }
    return boxed, cls, anno, meta


def draw_labels(image: np.ndarray, uv: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The image with a mask tint and the skeleton drawn (RHD order, RGB)."""
    from hand3d_tf.keypoints import EDGE_FINGER, FINGER_COLORS, SKELETON_EDGES

    out = image.copy()
    if mask is not None:
        tint = out.astype(np.float32)
        tint[mask >= CLASS_LEFT] = 0.5 * tint[mask >= CLASS_LEFT] + 0.5 * np.array([0, 200, 255])
        tint[mask == CLASS_ARM] = 0.6 * tint[mask == CLASS_ARM] + 0.4 * np.array([120, 120, 120])
        out = tint.astype(np.uint8)
    for (a, b), finger in zip(SKELETON_EDGES, EDGE_FINGER):
        color = tuple(int(255 * c) for c in FINGER_COLORS[finger])
        cv2.line(out, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), color, 2)
    for x, y in uv:
        cv2.circle(out, (int(x), int(y)), 3, (255, 255, 255), -1)
    return out


def preview_grid(tiles: list[np.ndarray], columns: int = 4) -> np.ndarray:
    side = tiles[0].shape[0]
    rows = math.ceil(len(tiles) / columns)
    grid = np.zeros((rows * side, columns * side, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * side : (r + 1) * side, c * side : (c + 1) * side] = tile
    return grid


# ---------------------------------------------------------------- the run
def planned_manifest(config: AutolabelConfig, count: int) -> dict:
    rule = dataclasses.asdict(config.rule)
    return {
        "split": config.split,
        "count": count,
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": None,
        "config": {
            "input": os.fspath(config.input),
            "mask_mode": config.mask_mode,
            "max_hands": config.max_hands,
            "frame": config.frame,
            "video_every": config.video_every,
            "max_images": config.max_images,
            "rule": rule,
            "teacher": {k: v[0] for k, v in tc.FILES.items()} | {"wheel": tc.WHEEL},
        },
        "labels_2d_only": True,
    }


def check_output(config: AutolabelConfig) -> pathlib.Path:
    """The split folder to write; refuses a non-empty one unless ``overwrite``."""
    root = pathlib.Path(config.output_dir)
    split_dir = root / config.split
    if split_dir.exists() and not split_dir.is_dir():
        raise AutolabelInputError(f"{split_dir} exists and is not a folder")
    if split_dir.exists() and any(split_dir.iterdir()) and not config.overwrite:
        raise AutolabelInputError(
            f"{split_dir} already holds a dataset; choose another --output_dir or pass --overwrite"
        )
    return split_dir


def autolabel(
    config: AutolabelConfig, teacher: tc.Teacher | None = None, progress: bool = True
) -> Report:
    """Label ``config.input`` into ``config.output_dir/config.split``; returns the report.

    Raises AutolabelInputError (bad input or output), TeacherMissingError (no teacher files),
    and writes nothing when no photo gave a kept label.
    """
    from hand3d_tf.data.synthetic.writer import _move_into_place, _remove_stale

    files = list_inputs(config.input)
    split_dir = check_output(config)
    if teacher is None:
        teacher = tc.Teacher(config.teacher_dir, threads=config.threads)
    root = split_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, config.split)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".{config.split}.writing-{os.getpid()}-"))
    report = Report()
    try:
        for sub in ("color", "mask"):
            (tmp / sub).mkdir()
        anno, samples, previews = {}, [], []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(desc="autolabel", unit="img")
        for name, image in frames(files, config.video_every):
            if config.max_images and report.images >= config.max_images:
                break
            report.images += 1
            if bar is not None:
                bar.update(1)
            if image is None:
                report.unreadable += 1
                samples.append({"source": name, "dropped": "unreadable image"})
                continue
            hands = tc.label_hands(teacher, image, config.rule, config.max_hands)
            if not hands:
                report.no_hand += 1
                samples.append({"source": name, "dropped": "no hand found"})
                continue
            for hand in hands:
                if not hand.kept:
                    report.drop(hand.reason)
            sample = label_sample(image, hands, config.frame, config.mask_mode)
            if sample is None:
                samples.append({"source": name, "dropped": "; ".join(h.reason for h in hands)})
                continue
            boxed, cls, entry, meta = sample
            sid = len(anno)
            file = f"{sid:05d}.png"
            cv2.imwrite(str(tmp / "color" / file), boxed[..., ::-1])
            cv2.imwrite(str(tmp / "mask" / file), cls)
            anno[sid] = entry
            samples.append({"source": name, "id": sid, **meta})
            report.kept += 1
            report.sides["right" if entry["hand_side"] else "left"] += 1
            kind = meta["mask"] + (" (trusted)" if meta["mask_trusted"] else "")
            report.masks[kind] = report.masks.get(kind, 0) + 1
            if len(previews) < config.preview:
                side = 21 * entry["hand_side"]
                previews.append(draw_labels(boxed, entry["uv_vis"][side : side + 21, :2], cls))
        if bar is not None:
            bar.close()
        if not anno:
            raise AutolabelInputError(
                f"input {config.input}: no photo gave a label the teacher is sure of ({report.summary()})"
            )
        path = tmp / f"anno_{config.split}.pickle"
        atomic_write(path, lambda f: pickle.dump(anno, f, protocol=4))
        labels = {
            "summary": report.summary(),
            "report": dataclasses.asdict(report),
            "samples": samples,
        }
        atomic_write(tmp / "labels.json", json.dumps(labels, indent=1) + "\n")
        if previews:
            grid = preview_grid(previews)
            cv2.imwrite(str(tmp / "preview.png"), grid[..., ::-1])
        from hand3d_tf.files import sha256_file

        manifest.write_manifest(
            tmp, dict(planned_manifest(config, len(anno)), annotations_sha256=sha256_file(path))
        )
        _move_into_place(tmp, split_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report
