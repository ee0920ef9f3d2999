"""Rendered Hand Pose Dataset (RHD) as published on disk (docs/original.md §8.1). No TF.

Layout read: ``<data_dir>/<split>/color/%05d.png`` (RGB 320x320), ``mask/%05d.png`` (uint8
class map), ``depth/%05d.png`` (optional) and ``anno_<split>.pickle`` mapping sample id ->
{"xyz" [42, 3] m, "uv_vis" [42, 3] (u, v, visible), "K" [3, 3]}. The synthetic generator
of this project writes the same layout. The pickle is read with the restricted unpickler
(``hand3d_tf.safe_pickle``), never plain ``pickle.load``.
"""

from __future__ import annotations

import os

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf import safe_pickle
from hand3d_tf.constants import SPLITS
from hand3d_tf.data import manifest
from hand3d_tf.data.records import RHD_IMAGE_HW
from hand3d_tf.data.samples import (
    BadSampleError,
    SkipLog,
    Source,
    check_array,
    check_png,
    read_png,
)

# RHD depth PNGs store metres as (R * 256 + G) / (2^16 - 1) * 5 (docs/original.md §8.1).
DEPTH_MAX_M = 5.0


def decode_depth(depth_png_rgb: np.ndarray) -> np.ndarray:
    """RHD depth encoding uint8 [H, W, 3] RGB -> float32 [H, W] metres (docs/original.md §8.1)."""
    rgb = np.asarray(depth_png_rgb).astype(np.float32)
    return (rgb[..., 0] * 256.0 + rgb[..., 1]) / (2.0**16 - 1.0) * DEPTH_MAX_M


class RHDReader:
    """One split of RHD on disk, validated at construction.

    Args:
      data_dir: the dataset root holding ``training/`` and ``evaluation/``.
      split: "training" or "evaluation".
      skip_bad: False: the first bad sample raises :class:`BadSampleError` naming the file
        and sample id. True: bad samples are left out, counted in ``num_skipped`` (details
        in ``skipped``) and the first one is logged once.
      check_images: "quick" (default: every colour and mask PNG exists, has the PNG
        signature and is not truncated), "full" (decode all: slow), "none".

    A split with a ``manifest.json`` (hand3d-make-synthetic writes one) is checked against
    it first: the annotation file's sha256, the sample ids and one colour and mask PNG per
    sample; a mismatch raises :class:`~hand3d_tf.data.manifest.InconsistentDatasetError`
    naming the folder. ``manifest`` holds the parsed manifest (None without one).

    Annotation checks: ``xyz`` [42, 3], ``uv_vis`` [42, 3], ``K`` [3, 3], all finite.

    Labelled photographs (``hand3d-autolabel``, docs/autolabel.md) add two optional keys per
    entry, ``hand_side`` (0 left, 1 right: the labelled hand, so no mask decides it) and
    ``mask_trusted`` (False: the mask is not good enough to train HandSegNet on), and may
    have ``xyz`` None: a 2D-only label, read as NaN (``has_xyz`` False), which the lifting's
    pipelines refuse. ``hand_side`` must be given for all samples of a split or for none.
    """

    def __init__(
        self,
        data_dir,
        split: str = "training",
        *,
        skip_bad: bool = False,
        check_images: str = "quick",
    ):
        if split not in SPLITS:
            raise ValueError(f"RHD split must be one of {SPLITS}; received {split!r}")
        self.data_dir = os.fspath(data_dir)
        self.split = split
        self.split_dir = os.path.join(self.data_dir, split)
        self.skip_bad = skip_bad
        self._skips = SkipLog(f"RHD {self.split_dir}")
        if not os.path.isdir(self.data_dir):
            raise FileNotFoundError(f"RHD data_dir does not exist: {self.data_dir}")
        self.anno_path = os.path.join(self.split_dir, f"anno_{split}.pickle")
        if not os.path.isfile(self.anno_path):
            found = sorted(os.listdir(self.data_dir))[:10]
            raise FileNotFoundError(
                f"no RHD annotation file {self.anno_path} (data_dir {self.data_dir} holds "
                f"{found or 'nothing'}; expected {SPLITS} folders with anno_<split>.pickle)"
            )
        anno = safe_pickle.load(self.anno_path, what="RHD annotation file")
        if not isinstance(anno, dict):
            raise ValueError(
                f"{self.anno_path}: expected a dict sample id -> annotation, got {type(anno).__name__}"
            )
        if not anno:
            raise ValueError(f"{self.anno_path}: no samples in the annotation file")
        # Written by a generator with a manifest (synthetic data): refuse a folder whose
        # images and labels do not belong together before reading any sample.
        self.manifest = manifest.verify_split(self.split_dir, split, self.anno_path, list(anno))
        self._load(anno, check_images)

    def _load(self, anno: dict, check_images: str) -> None:
        ids, xyz, uv, vis, K, sides, trusted = [], [], [], [], [], [], []
        for sid in sorted(anno):
            try:
                entry = anno[sid]
                if not isinstance(entry, dict):
                    raise BadSampleError(
                        self.anno_path, sid, f"entry is a {type(entry).__name__}, not a dict"
                    )
                missing = {"xyz", "uv_vis", "K"} - set(entry)
                if missing:
                    raise BadSampleError(self.anno_path, sid, f"missing keys {sorted(missing)}")
                if entry["xyz"] is None:  # a 2D-only label (hand3d-autolabel)
                    x = np.full((kp.RHD_NUM_POINTS, 3), np.nan, np.float32)
                else:
                    x = check_array(
                        self.anno_path, sid, "xyz", entry["xyz"], (kp.RHD_NUM_POINTS, 3)
                    )
                side = entry.get("hand_side")
                if side is not None and side not in (0, 1):
                    raise BadSampleError(self.anno_path, sid, f"hand_side {side!r} is not 0 or 1")
                uvv = check_array(
                    self.anno_path, sid, "uv_vis", entry["uv_vis"], (kp.RHD_NUM_POINTS, 3)
                )
                k = check_array(self.anno_path, sid, "K", entry["K"], (3, 3))
                for path in (self._path("color", sid), self._path("mask", sid)):
                    check_png(path, sid, check_images)
            except BadSampleError as err:
                if not self.skip_bad:
                    raise
                self._skips.add(err)
                continue
            ids.append(int(sid))
            xyz.append(x)
            uv.append(uvv[:, :2])
            vis.append(uvv[:, 2] == 1)
            K.append(k)
            sides.append(side)
            trusted.append(bool(entry.get("mask_trusted", True)))
        if not ids:
            raise ValueError(f"{self.anno_path}: all {len(anno)} samples are bad")
        self.ids = np.asarray(ids, np.int64)
        self.xyz = np.stack(xyz)
        self.uv = np.stack(uv)
        self.vis = np.stack(vis)
        self.K = np.stack(K)
        given = [s is not None for s in sides]
        if any(given) and not all(given):
            raise ValueError(
                f"{self.anno_path}: {sum(given)} of {len(given)} samples give a hand_side; "
                "give it for all samples or for none"
            )
        self.hand_side = np.asarray(sides, np.int8) if all(given) else None
        self.mask_trusted = np.asarray(trusted, bool)
        self.has_xyz = bool(np.isfinite(self.xyz).all())

    def _path(self, kind: str, sid) -> str:
        return os.path.join(self.split_dir, kind, f"{int(sid):05d}.png")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_skipped(self) -> int:
        return len(self._skips)

    @property
    def skipped(self) -> list:
        """The :class:`BadSampleError` of every skipped sample (skip_bad=True)."""
        return list(self._skips.skipped)

    def image_path(self, i: int) -> str:
        return self._path("color", self.ids[i])

    def mask_path(self, i: int) -> str:
        return self._path("mask", self.ids[i])

    def depth_path(self, i: int) -> str:
        return self._path("depth", self.ids[i])

    def sample(self, i: int, depth: bool = False) -> dict:
        """Sample at position i (0 <= i < len): image uint8 [320, 320, 3] RGB, mask uint8
        [320, 320], xyz [42, 3] m, uv [42, 2] px, vis [42] bool, K [3, 3], id; with
        depth=True also depth float32 [320, 320] m. Raises BadSampleError naming a
        missing or corrupt file."""
        if not 0 <= i < len(self):
            raise IndexError(f"RHD {self.split_dir}: index {i} out of range [0, {len(self)})")
        sid = int(self.ids[i])
        image = read_png(self.image_path(i), sid, channels=3)
        mask = read_png(self.mask_path(i), sid, channels=1)
        for name, arr, shape in (
            ("image", image, (*RHD_IMAGE_HW, 3)),
            ("mask", mask, RHD_IMAGE_HW),
        ):
            if arr.shape != shape:
                path = self.image_path(i) if name == "image" else self.mask_path(i)
                raise BadSampleError(path, sid, f"{name} has shape {arr.shape}, expected {shape}")
        out = {
            "image": image,
            "mask": mask,
            "xyz": self.xyz[i].copy(),
            "uv": self.uv[i].copy(),
            "vis": self.vis[i].copy(),
            "K": self.K[i].copy(),
            "id": sid,
        }
        if depth:
            out["depth"] = decode_depth(read_png(self.depth_path(i), sid, channels=3))
        return out

    def __iter__(self):
        """All samples in order; with skip_bad, unreadable ones are skipped and counted."""
        for i in range(len(self)):
            try:
                yield self.sample(i)
            except BadSampleError as err:
                if not self.skip_bad:
                    raise
                self._skips.add(err)

    def to_source(self) -> Source:
        """The annotations and PNG paths as a :class:`~hand3d_tf.data.samples.Source`."""
        return Source(
            name=self.split_dir,
            xyz=self.xyz,
            uv=self.uv,
            vis=self.vis,
            K=self.K,
            ids=self.ids,
            image_hw=RHD_IMAGE_HW,
            root=kp.ROOT_WRIST,
            hand_side=self.hand_side,
            image_paths=tuple(self.image_path(i) for i in range(len(self))),
            mask_paths=tuple(self.mask_path(i) for i in range(len(self))),
            mask_trusted=None if self.mask_trusted.all() else self.mask_trusted,
        )


def write_rhd_split(data_dir, split: str, samples) -> int:
    """Write samples in the RHD on-disk layout read by :class:`RHDReader`; returns the count.

    samples: iterable of dicts with image uint8 [H, W, 3] RGB, mask uint8 [H, W], xyz
    [42, 3] m, uv [42, 2] px, vis [42] bool, K [3, 3] and an int ``id`` (else the position).
    Used by tests and benchmarks to build small fixtures.
    """
    import pickle

    import cv2

    if split not in SPLITS:
        raise ValueError(f"RHD split must be one of {SPLITS}; received {split!r}")
    split_dir = os.path.join(os.fspath(data_dir), split)
    for kind in ("color", "mask"):
        os.makedirs(os.path.join(split_dir, kind), exist_ok=True)
    anno = {}
    for pos, s in enumerate(samples):
        sid = int(s.get("id", pos))
        name = f"{sid:05d}.png"
        cv2.imwrite(os.path.join(split_dir, "color", name), np.asarray(s["image"])[..., ::-1])
        cv2.imwrite(os.path.join(split_dir, "mask", name), np.asarray(s["mask"], np.uint8))
        uv_vis = np.concatenate([s["uv"], np.asarray(s["vis"], np.float32)[:, None]], 1)
        anno[sid] = {
            "xyz": np.asarray(s["xyz"], np.float32),
            "uv_vis": uv_vis.astype(np.float32),
            "K": np.asarray(s["K"], np.float32),
        }
    with open(os.path.join(split_dir, f"anno_{split}.pickle"), "wb") as f:
        pickle.dump(anno, f, protocol=2)
    return len(anno)
