"""The original's fixed-length binary record files (docs/original.md §8.2 RHD, §8.4 STB). No TF.

Files have no header: N records back to back, little-endian float32 and uint8. Reading is
lazy (a NumPy memmap), so a 17 GB ``rhd_training.bin`` opens instantly; annotations are
views, pixels are read per record.

RHD record (410,520 bytes): xyz [42, 3] f32 metres | uv [42, 2] f32 px | K [9] f32 row-major
| 2 padding bytes 0xFF | image 320x320x3 u8 RGB | mask 320x320 u8 classes | vis [42] u8.
STB record (922,104 bytes): xyz [21, 3] f32 **mm, STB order** | (u, v, 1.0) [21, 3] f32 |
image 480x640x3 u8 RGB. :class:`STBRecords` converts to RHD order and metres like the
original's STB reader (docs/original.md §8.4).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.samples import SIDE_LEFT, BadSampleError, Source, check_array

RHD_IMAGE_HW = (320, 320)
STB_IMAGE_HW = (480, 640)

# Field order and sizes of docs/original.md §8.2; the structured dtype's itemsize is the record length.
RHD_RECORD_DTYPE = np.dtype(
    [
        ("xyz", "<f4", (kp.RHD_NUM_POINTS, 3)),
        ("uv", "<f4", (kp.RHD_NUM_POINTS, 2)),
        ("K", "<f4", (3, 3)),
        ("pad", "u1", (2,)),
        ("image", "u1", (*RHD_IMAGE_HW, 3)),
        ("mask", "u1", RHD_IMAGE_HW),
        ("vis", "u1", (kp.RHD_NUM_POINTS,)),
    ]
)
STB_RECORD_DTYPE = np.dtype(
    [
        ("xyz", "<f4", (kp.NUM_KEYPOINTS, 3)),
        ("uvw", "<f4", (kp.NUM_KEYPOINTS, 3)),
        ("image", "u1", (*STB_IMAGE_HW, 3)),
    ]
)
RHD_RECORD_BYTES = 410_520
STB_RECORD_BYTES = 922_104

# STB Bumblebee intrinsics used by the original for both views (docs/original.md §8.4).
STB_BB_K = np.array(
    [[822.79041, 0.0, 318.47345], [0.0, 822.79041, 250.31296], [0.0, 0.0, 1.0]], np.float32
)
# RHD order -> STB order is the same permutation (it is an involution: i <-> 21 - i).
RHD_TO_STB = kp.STB_TO_RHD


def _open(path, dtype: np.dtype, what: str) -> np.memmap:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} record file not found: {path}")
    size = os.path.getsize(path)
    if size == 0 or size % dtype.itemsize:  # dtype.itemsize = the record length
        raise ValueError(
            f"{path}: size {size} bytes is not a positive multiple of the {what} record "
            f"length {dtype.itemsize} bytes (docs/original.md §8.2/§8.4); wrong file or truncated"
        )
    return np.memmap(path, dtype=dtype, mode="r")


class RHDRecords:
    """Lazy reader of an RHD binary record file; ``len`` and ``[i]`` give sample dicts."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._records = _open(self.path, RHD_RECORD_DTYPE, "RHD")

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i: int) -> dict:
        """Sample i: xyz [42, 3] m, uv [42, 2] px, K [3, 3], image uint8 [320, 320, 3],
        mask uint8 [320, 320], vis [42] bool, id (= i)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.path}: record {i} out of range [0, {len(self)})")
        r = self._records[i]
        return {
            "xyz": np.array(r["xyz"]),
            "uv": np.array(r["uv"]),
            "K": np.array(r["K"]),
            "image": np.array(r["image"]),
            "mask": np.array(r["mask"]),
            "vis": np.array(r["vis"]) == 1,
            "id": int(i) % len(self),
        }

    def pixels(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(image uint8 [320, 320, 3], mask uint8 [320, 320]) of record i."""
        r = self._records[int(i)]
        return np.array(r["image"]), np.array(r["mask"])

    def to_source(self) -> Source:
        """All annotations as a :class:`Source` (pixels stay in the file)."""
        rec = self._records
        return Source(
            name=self.path,
            xyz=np.array(rec["xyz"], np.float32),
            uv=np.array(rec["uv"], np.float32),
            vis=np.array(rec["vis"]) == 1,
            K=np.array(rec["K"], np.float32),
            ids=np.arange(len(rec), dtype=np.int64),
            image_hw=RHD_IMAGE_HW,
            root=kp.ROOT_WRIST,
            records_path=self.path,
            records_layout="rhd",
        )


class STBRecords:
    """Lazy reader of the original's STB evaluation records (``stb_eval.bin``).

    ``[i]`` converts like the original's STB reader (docs/original.md §8.4): RHD order, metres,
    vis = (third value == 1), hand side always left, K = the Bumblebee intrinsics.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._records = _open(self.path, STB_RECORD_DTYPE, "STB")

    def __len__(self) -> int:
        return len(self._records)

    def _annotations(self, rec):
        xyz = np.asarray(rec["xyz"], np.float32)[..., kp.STB_TO_RHD, :] / 1000.0
        uvw = np.asarray(rec["uvw"], np.float32)[..., kp.STB_TO_RHD, :]
        return xyz.astype(np.float32), uvw[..., :2].copy(), uvw[..., 2] == 1.0

    def __getitem__(self, i: int) -> dict:
        """Sample i: xyz [21, 3] m (RHD order, palm root), uv [21, 2], vis [21] bool,
        K [3, 3], image uint8 [480, 640, 3], hand_side "left", id (= i)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.path}: record {i} out of range [0, {len(self)})")
        r = self._records[i]
        xyz, uv, vis = self._annotations(r)
        return {
            "xyz": xyz,
            "uv": uv,
            "vis": vis,
            "K": STB_BB_K.copy(),
            "image": np.array(r["image"]),
            "hand_side": kp.HAND_LEFT,
            "id": int(i) % len(self),
        }

    def pixels(self, i: int) -> tuple[np.ndarray, None]:
        """(image uint8 [480, 640, 3], None): STB has no masks."""
        return np.array(self._records[int(i)]["image"]), None

    def to_source(self) -> Source:
        """Annotations as a :class:`Source`: left slot filled, right slot invisible."""
        xyz, uv, vis = self._annotations(self._records)
        return single_hand_source(
            self.path,
            xyz,
            uv,
            vis,
            np.broadcast_to(STB_BB_K, (len(self), 3, 3)),
            np.arange(len(self), dtype=np.int64),
            STB_IMAGE_HW,
            records_path=self.path,
        )


def single_hand_source(name, xyz, uv, vis, K, ids, image_hw, **pixels) -> Source:
    """A left-hand-only Source from [N, 21, ...] palm-rooted arrays (STB)."""
    n = len(ids)
    pad = np.zeros((n, kp.NUM_KEYPOINTS), bool)
    return Source(
        name=os.fspath(name),
        xyz=np.concatenate([xyz, np.zeros_like(xyz)], 1).astype(np.float32),
        uv=np.concatenate([uv, np.zeros_like(uv)], 1).astype(np.float32),
        vis=np.concatenate([vis, pad], 1),
        K=np.array(K, np.float32),
        ids=np.asarray(ids, np.int64),
        image_hw=tuple(image_hw),
        root=kp.ROOT_PALM,
        hand_side=np.full(n, SIDE_LEFT, np.int8),
        records_layout="stb" if "records_path" in pixels else None,
        **pixels,
    )


def read_rhd_records(path) -> RHDRecords:
    """Open an RHD record file (docs/original.md §8.2); raises ValueError naming it if its size is
    not a multiple of 410,520 bytes."""
    return RHDRecords(path)


def read_stb_records(path) -> STBRecords:
    """Open an STB record file (docs/original.md §8.4); raises ValueError naming it if its size is
    not a multiple of 922,104 bytes."""
    return STBRecords(path)


def write_rhd_records(path, samples: Iterable[dict]) -> int:
    """Write samples (dicts with xyz, uv, K, image, mask, vis as from RHDReader.sample)
    as RHD records in the given order; returns the number written. Values are validated
    (shape, finite) and errors name the sample's ``id`` (or its position)."""
    path = os.fspath(path)
    count = 0
    with open(path, "wb") as f:
        for pos, s in enumerate(samples):
            sid = s.get("id", pos)
            rec = np.zeros((), RHD_RECORD_DTYPE)
            rec["xyz"] = check_array(path, sid, "xyz", s["xyz"], (kp.RHD_NUM_POINTS, 3))
            rec["uv"] = check_array(path, sid, "uv", s["uv"], (kp.RHD_NUM_POINTS, 2))
            rec["K"] = check_array(path, sid, "K", s["K"], (3, 3))
            rec["pad"] = 0xFF
            rec["image"] = _uint8(path, sid, "image", s["image"], (*RHD_IMAGE_HW, 3))
            rec["mask"] = _uint8(path, sid, "mask", s["mask"], RHD_IMAGE_HW)
            rec["vis"] = _uint8(path, sid, "vis", s["vis"], (kp.RHD_NUM_POINTS,)) != 0
            f.write(rec.tobytes())
            count += 1
    return count


def write_stb_records(path, samples: Iterable[dict]) -> int:
    """Write samples in RHD order / metres (as :class:`STBRecords` returns them) back as
    STB records (STB order, mm, w = 1.0 for visible else 0.0); returns the count."""
    path = os.fspath(path)
    count = 0
    with open(path, "wb") as f:
        for pos, s in enumerate(samples):
            sid = s.get("id", pos)
            rec = np.zeros((), STB_RECORD_DTYPE)
            xyz = check_array(path, sid, "xyz", s["xyz"], (kp.NUM_KEYPOINTS, 3))
            uv = check_array(path, sid, "uv", s["uv"], (kp.NUM_KEYPOINTS, 2))
            vis = np.asarray(s.get("vis", np.ones(kp.NUM_KEYPOINTS, bool)), bool)
            rec["xyz"] = (xyz * 1000.0)[RHD_TO_STB]
            rec["uvw"] = np.concatenate([uv, vis[:, None].astype(np.float32)], 1)[RHD_TO_STB]
            rec["image"] = _uint8(path, sid, "image", s["image"], (*STB_IMAGE_HW, 3))
            f.write(rec.tobytes())
            count += 1
    return count


def _uint8(path, sid, key, value, shape) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape:
        raise BadSampleError(path, sid, f"{key!r} has shape {arr.shape}, expected {shape}")
    return arr.astype(np.uint8)
