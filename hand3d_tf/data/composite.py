"""Composites: keyed real hands pasted onto real background photos and synthetic v2 scenes,
with the photometric noises of the paper's renderer (docs/autolabel.md). No TensorFlow.

Hands come from ``hand3d-autolabel`` splits, only samples whose mask is trusted (a keyed
plain background): the hand and the arm above the wrist are cut out, turned, scaled,
possibly mirrored (which swaps the hand side) and pasted with a feathered edge on

- a crop of a background photo with no hand in it (hand boxes from Pascal-VOC ``.xml`` files
  beside the photos, or none), or
- a synthetic v2 render (its own hand keeps its mask classes where the real hand does not
  cover it; only the pasted hand is labelled),

then lit from a random direction and intensity, given specular spots, colour jitter, blur,
sensor noise and JPEG compression down to quality 40. Each composite is an RHD sample with a
fixed hand side, a trusted mask and no 3D label, like the autolabelled photos.

    python -m hand3d_tf.data.composite --hands=/tmp/real/sign_digits --backgrounds=bg/ \\
        --synthetic=/tmp/h3d/v2_train --output_dir=/tmp/real/composites --count=4000 --seed=0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import pickle
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

import cv2
import numpy as np

from hand3d_tf import images
from hand3d_tf.atomic import atomic_write
from hand3d_tf.constants import CLASS_ARM, CLASS_LEFT, CLASS_RIGHT
from hand3d_tf.data import manifest
from hand3d_tf.images import IMAGE_SUFFIXES
from hand3d_tf.images import decode_file as read_image

FRAME = 320
GENERATOR = "hand3d-composite"


@dataclasses.dataclass(frozen=True)
class CompositeConfig:
    """Ranges of the random placement and noises (each drawn uniformly)."""

    hand_size: tuple = (70.0, 230.0)  # keypoint box's longer side in the 320 frame, px
    rotate_deg: float = 40.0
    mirror_prob: float = 0.5
    synthetic_share: float = 0.35
    light_gain: tuple = (0.55, 1.35)
    light_slope: float = 0.5  # brightness change across the hand, fraction
    specular_prob: float = 0.4
    jitter_hue: float = 8.0  # OpenCV hue units (0-180)
    jitter_sat: tuple = (0.7, 1.3)
    blur_sigma: tuple = (0.0, 1.6)
    noise_sigma: tuple = (0.0, 8.0)
    jpeg_quality: tuple = (40, 95)


# ---------------------------------------------------------------- inputs
def load_hands(folders: list[str]) -> list[dict]:
    """Every trusted-mask sample of the given autolabel dataset roots (any split)."""
    from hand3d_tf.data.rhd import RHDReader

    hands = []
    for folder in folders:
        for split in ("training", "evaluation"):
            if not (pathlib.Path(folder) / split).is_dir():
                continue
            reader = RHDReader(folder, split)
            if reader.hand_side is None:
                raise ValueError(
                    f"{folder}/{split} has no hand sides: not a hand3d-autolabel dataset"
                )
            for i in range(len(reader)):
                if reader.mask_trusted[i]:
                    side = int(reader.hand_side[i])
                    hands.append(
                        {"image": reader.image_path(i), "mask": reader.mask_path(i), "side": side,
                         "uv": reader.uv[i, 21 * side : 21 * side + 21].astype(np.float64)}
                    )  # fmt: skip
    if not hands:
        raise ValueError(f"no sample with a trusted mask in {folders}")
    return hands


def hand_boxes(photo: pathlib.Path) -> list[tuple[float, float, float, float]]:
    """Hand boxes (x0, y0, x1, y1) of a Pascal-VOC .xml beside the photo, else none."""
    xml = photo.with_suffix(".xml")
    if not xml.is_file():
        return []
    root = ElementTree.parse(xml).getroot()
    boxes = []
    for box in root.iter("bndbox"):
        boxes.append(tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")))
    return boxes


def background_crop(photo: pathlib.Path, rng: np.random.Generator) -> np.ndarray | None:
    """A square crop of the photo, resized to 320, that keeps clear of its hand boxes."""
    image = read_image(photo)
    if image is None:
        return None
    h, w = image.shape[:2]
    boxes = [
        (x0 - 0.25 * (x1 - x0), y0 - 0.25 * (y1 - y0), x1 + 0.25 * (x1 - x0), y1 + 0.25 * (y1 - y0))
        for x0, y0, x1, y1 in hand_boxes(photo)
    ]
    for _ in range(30):
        side = rng.uniform(0.35, 1.0) * min(h, w)
        x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
        if all(x + side <= b[0] or b[2] <= x or y + side <= b[1] or b[3] <= y for b in boxes):
            crop = image[int(y) : int(y + side), int(x) : int(x + side)]
            return cv2.resize(crop, (FRAME, FRAME), interpolation=cv2.INTER_AREA)
    return None


# ---------------------------------------------------------------- one composite
def _paste_transform(uv: np.ndarray, cfg: CompositeConfig, rng) -> tuple[np.ndarray, bool]:
    """The 2x3 affine from the hand's frame into the composite, and whether it mirrors."""
    centre = (uv.max(0) + uv.min(0)) / 2
    size = max(float((uv.max(0) - uv.min(0)).max()), 1.0)
    scale = rng.uniform(*cfg.hand_size) / size
    angle = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    mirror = bool(rng.random() < cfg.mirror_prob)
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    m = np.array([[c, -s], [s, c]])
    if mirror:
        m = m @ np.diag([-1.0, 1.0])
    half = 0.5 * size * scale
    target = rng.uniform(half * 0.6, FRAME - half * 0.6, size=2)
    t = target - m @ centre
    return np.concatenate([m, t[:, None]], 1), mirror


def _light(hand: np.ndarray, alpha: np.ndarray, cfg: CompositeConfig, rng) -> np.ndarray:
    """Directional light, specular spots and colour jitter on the hand's pixels (float 0-255)."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    ys, xs = np.nonzero(alpha > 0.5)
    out = hand.astype(np.float32)
    if len(xs):
        cx, cy = xs.mean(), ys.mean()
        extent = max(int(np.ptp(xs)), int(np.ptp(ys)), 1)
        ramp = ((xx - cx) * direction[0] + (yy - cy) * direction[1]) / extent
        gain = rng.uniform(*cfg.light_gain) * (1 + cfg.light_slope * rng.uniform(0, 1) * ramp)
        out *= np.clip(gain, 0.2, 2.0)[..., None]
        if rng.random() < cfg.specular_prob:
            for _ in range(rng.integers(1, 4)):
                k = rng.integers(len(xs))
                sigma = rng.uniform(0.03, 0.12) * extent
                spot = np.exp(-((xx - xs[k]) ** 2 + (yy - ys[k]) ** 2) / (2 * sigma**2))
                out += rng.uniform(40, 140) * spot[..., None]
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.jitter_hue, cfg.jitter_hue)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*cfg.jitter_sat), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)


def _camera(image: np.ndarray, cfg: CompositeConfig, rng) -> np.ndarray:
    """Blur, sensor noise and JPEG compression of the whole frame."""
    out = image.astype(np.float32)
    sigma = rng.uniform(*cfg.blur_sigma)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.normal(0, rng.uniform(*cfg.noise_sigma), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return images.decode_image(data, "a composite's JPEG") if ok else out


def compose(hand: dict, background: np.ndarray, background_mask: np.ndarray | None,
            cfg: CompositeConfig, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
    """(image [320, 320, 3], class mask, uv [21, 2], side) of one composite."""
    from hand3d_tf.data.samples import read_png

    image = read_png(hand["image"], None, channels=3)
    cls = read_png(hand["mask"], None, channels=1)
    m, mirror = _paste_transform(hand["uv"], cfg, rng)
    side = hand["side"] ^ int(mirror)

    def warp(a, interp):
        return cv2.warpAffine(a, m, (FRAME, FRAME), flags=interp,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip

    fg = warp((cls > 0).astype(np.float32), cv2.INTER_LINEAR)
    hand_px = warp((cls >= CLASS_LEFT).astype(np.uint8), cv2.INTER_NEAREST) > 0
    arm_px = warp((cls == CLASS_ARM).astype(np.uint8), cv2.INTER_NEAREST) > 0
    alpha = cv2.GaussianBlur(np.clip(fg, 0, 1), (3, 3), 0.8)
    pasted = _light(warp(image, cv2.INTER_LINEAR), alpha, cfg, rng)
    out = background.astype(np.float32) * (1 - alpha[..., None]) + pasted * alpha[..., None]
    out = _camera(out, cfg, rng)
    mask = np.zeros((FRAME, FRAME), np.uint8) if background_mask is None else background_mask.copy()
    mask[arm_px] = CLASS_ARM
    mask[hand_px] = CLASS_RIGHT if side else CLASS_LEFT
    uv = hand["uv"] @ m[:, :2].T + m[:, 2]
    return out, mask, uv, side


# ---------------------------------------------------------------- the dataset
def write_composites(hands_dirs: list[str], backgrounds: str | None, synthetic: str | None,
                     output_dir: str, count: int, seed: int = 0,
                     cfg: CompositeConfig = CompositeConfig(), split: str = "training") -> int:  # fmt: skip
    """Write ``count`` composites as an RHD split; returns the count written."""
    from hand3d_tf.data.synthetic.writer import _move_into_place, _remove_stale
    from hand3d_tf.files import sha256_file

    rng = np.random.default_rng(seed)
    hands = load_hands(hands_dirs)
    photos = []
    if backgrounds:
        photos = sorted(
            p for p in pathlib.Path(backgrounds).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
        )
    synth = None
    if synthetic:
        from hand3d_tf.data.rhd import RHDReader

        synth = RHDReader(synthetic, "training")
    if not photos and synth is None:
        raise ValueError("composites need --backgrounds photos or --synthetic renders")
    root = pathlib.Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, split)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".{split}.writing-{os.getpid()}-"))
    try:
        for sub in ("color", "mask"):
            (tmp / sub).mkdir()
        anno, meta = {}, []
        while len(anno) < count:
            hand = hands[int(rng.integers(len(hands)))]
            use_synth = synth is not None and (not photos or rng.random() < cfg.synthetic_share)
            if use_synth:
                k = int(rng.integers(len(synth)))
                sample = synth.sample(k)
                bg, bg_mask, origin = sample["image"], sample["mask"], f"synthetic {k}"
            else:
                k = int(rng.integers(len(photos)))
                photo = photos[k]
                bg, bg_mask, origin = background_crop(photo, rng), None, photo.name
                if bg is None:  # unreadable, or no crop clear of its hands: not used again
                    photos.pop(k)
                    if not photos and synth is None:
                        raise ValueError(
                            f"no background photo in {backgrounds} gives a crop clear of hands"
                        )
                    continue
            image, mask, uv, side = compose(hand, bg, bg_mask, cfg, rng)
            sid = len(anno)
            cv2.imwrite(str(tmp / "color" / f"{sid:05d}.png"), image[..., ::-1])
            cv2.imwrite(str(tmp / "mask" / f"{sid:05d}.png"), mask)
            uv_vis = np.zeros((42, 3), np.float32)
            inside = np.all((uv >= 0) & (uv <= FRAME - 1), axis=1)
            uv_vis[21 * side : 21 * side + 21, :2] = uv
            uv_vis[21 * side : 21 * side + 21, 2] = inside
            anno[sid] = {"xyz": None, "uv_vis": uv_vis, "K": np.eye(3, dtype=np.float32),
                         "hand_side": side, "mask_trusted": True}  # fmt: skip
            meta.append({"id": sid, "hand": hand["image"], "background": origin})
        path = tmp / f"anno_{split}.pickle"
        atomic_write(path, lambda f: pickle.dump(anno, f, protocol=4))
        atomic_write(tmp / "labels.json", json.dumps({"samples": meta}, indent=1) + "\n")
        manifest.write_manifest(tmp, {
            "split": split, "count": len(anno), "generator": GENERATOR, "generator_version": 1,
            "seed": seed, "config": dict(dataclasses.asdict(cfg), hands=hands_dirs,
                                         backgrounds=backgrounds, synthetic=synthetic),
            "labels_2d_only": True, "annotations_sha256": sha256_file(path)})  # fmt: skip
        _move_into_place(tmp, root / split)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(anno)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hands", required=True, help="comma-separated hand3d-autolabel roots")
    parser.add_argument("--backgrounds", default=None, help="folder of background photos")
    parser.add_argument("--synthetic", default=None, help="synthetic dataset root (training/)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be >= 1; received {args.count}")
    try:
        n = write_composites(args.hands.split(","), args.backgrounds, args.synthetic,
                             args.output_dir, args.count, args.seed)  # fmt: skip
    except (ValueError, FileNotFoundError) as err:
        print(f"composite: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {n} composites to {args.output_dir}/training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
