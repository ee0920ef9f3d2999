"""Labelled RHD-layout folders -> one small file for the lent-GPU trainer. NumPy + cv2 only.

    python -m hand3d_tf.data.pack --data_dir=data/sign_digits,data/composites \\
        --output=packs/real.npz [--max_mb=24] [--quality=85] [--frame=256]

The lent GPU machine takes only what travels with the working tree (64 MiB in all, its
tracked files included: docs/training.md gives the arithmetic behind the default 24 MiB),
and has JAX but no TensorFlow (docs/training.md, "Real photographs on a lent GPU"). A pack
holds the ``training`` split of each folder (hand3d-autolabel output, composites, or any
RHD-layout folder): per sample the photo as JPEG (its longer side scaled to ``frame``,
the labels scaled with it), the class mask as PNG where it is trusted (none otherwise),
the labelled hand's 21 keypoints (uv in the packed frame's pixels, visibility), the hand
side, ``mask_trusted`` and the source folder's index.

The file is an uncompressed ``.npz`` of plain arrays (``np.load(allow_pickle=False)``
reads it): the JPEG and PNG bytes flat with ``[N + 1]`` offsets, and ``header``, the UTF-8
bytes of a JSON object (format, version, sources with their counts, frames, quality,
the budget's effect, and the sha256 of every other array). Over ``max_mb`` MiB the JPEG
quality is lowered in steps of 5 down to ``min_quality``, then an evenly spaced share of
each source's samples (the same share for every source) is kept.

:func:`read_pack` checks all of it and returns the samples in the form of
hand3d_tf.jax.samples.FIELDS, back on the source frame (320 x 320), so the trainer's
crops, targets and augmentations apply unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hand3d_tf import images
from hand3d_tf import keypoints as kp
from hand3d_tf.atomic import atomic_write
from hand3d_tf.jax import samples as jax_samples

__all__ = ["PackConfig", "PackError", "RealPack", "pack", "load_pack_arrays", "read_pack"]

FORMAT = "hand3d-real-pack"
VERSION = 1
QUALITY_STEP = 5
MIB = 2**20
# Bytes per sample besides its JPEG and PNG: two offsets, uv, vis, side, trusted, source, id.
LABEL_BYTES = 2 * 8 + kp.NUM_KEYPOINTS * (2 * 4 + 1) + 1 + 1 + 2 + 8
# The zip and .npy headers of one member (about 250 bytes) with room to spare.
MEMBER_BYTES = 1024
# {array: (dtype, shape with "N" for the samples and "M" for N + 1; None: any length)}
ARRAYS = {
    "jpeg": (np.uint8, None),
    "jpeg_offsets": (np.int64, ("M",)),
    "mask": (np.uint8, None),
    "mask_offsets": (np.int64, ("M",)),
    "uv": (np.float32, ("N", kp.NUM_KEYPOINTS, 2)),
    "vis": (np.bool_, ("N", kp.NUM_KEYPOINTS)),
    "side": (np.int8, ("N",)),
    "mask_trusted": (np.bool_, ("N",)),
    "source": (np.uint16, ("N",)),
    "ids": (np.int64, ("N",)),
}


class PackError(ValueError):
    """A pack file that is unreadable, inconsistent, or of another format or version."""


@dataclasses.dataclass(frozen=True)
class PackConfig:
    """What to pack: ``data_dirs`` (roots holding ``training/``) into ``output``.

    max_mb: the file's limit in MiB; quality: JPEG quality to start from; min_quality: the
    lowest the budget may take it to; frame: the packed images' longer side in pixels (at
    most the source's: images are never enlarged).
    """

    data_dirs: tuple
    output: str
    max_mb: float = 24.0
    quality: int = 85
    min_quality: int = 60
    frame: int = 256

    def __post_init__(self):
        if not self.data_dirs:
            raise ValueError("give at least one data_dir")
        if not self.max_mb > 0:
            raise ValueError(f"max_mb must be > 0; received {self.max_mb}")
        if not 1 <= self.min_quality <= self.quality <= 100:
            raise ValueError(
                f"qualities must satisfy 1 <= min_quality <= quality <= 100; received "
                f"min_quality={self.min_quality}, quality={self.quality}"
            )
        if not 32 <= self.frame <= 4096:
            raise ValueError(f"frame must be in [32, 4096] pixels; received {self.frame}")


def _read_folder(data_dir: str, frame: int) -> dict:
    """One folder's training split, downscaled: {"name", "path", "hw", "packed_hw", "images",
    "masks" (PNG bytes, b"" untrusted), "uv", "vis", "side", "trusted", "ids"}."""
    import cv2

    from hand3d_tf.data.rhd import RHDReader

    if not os.path.isdir(os.path.join(data_dir, "training")):
        raise FileNotFoundError(f"{data_dir}: no training/ split (an RHD-layout folder holds one)")
    reader = RHDReader(data_dir, "training")
    out = {k: [] for k in ("images", "masks", "uv", "vis", "side")}
    hw = packed_hw = None
    for i in range(len(reader)):
        s = reader.sample(i)
        if hw is None:
            hw = s["image"].shape[:2]
            if frame > max(hw):
                raise ValueError(f"frame {frame} exceeds {data_dir}'s image size {hw}: "
                                 "images are never enlarged")  # fmt: skip
            scale = frame / max(hw)
            packed_hw = (round(hw[0] * scale), round(hw[1] * scale))
        mask = s["mask"]
        if reader.hand_side is not None:
            side = int(reader.hand_side[i])
        else:  # a render: the hand with more mask pixels, right on a tie (samples.prepare)
            left = np.count_nonzero((mask > kp.MASK_PERSON) & (mask < kp.MASK_RIGHT_FIRST))
            side = int(np.count_nonzero(mask >= kp.MASK_RIGHT_FIRST) >= left)
        hand = kp.RHD_RIGHT if side else kp.RHD_LEFT
        image, trusted = s["image"], bool(reader.mask_trusted[i])
        if packed_hw != hw:
            image = cv2.resize(image, packed_hw[::-1], interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, packed_hw[::-1], interpolation=cv2.INTER_NEAREST)
        png = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1] if trusted else b""
        out["images"].append(image)
        out["masks"].append(bytes(png))
        sy, sx = packed_hw[0] / hw[0], packed_hw[1] / hw[1]
        out["uv"].append((s["uv"][hand].astype(np.float64) * [sx, sy]).astype(np.float32))
        out["vis"].append(s["vis"][hand])
        out["side"].append(side)
    name = os.path.basename(os.path.normpath(data_dir))
    return dict(out, name=name, path=data_dir, hw=hw, packed_hw=packed_hw,
                trusted=np.asarray(reader.mask_trusted, bool), ids=reader.ids)  # fmt: skip


def _encode(images_rgb: list, quality: int) -> list:
    import cv2

    flags = [cv2.IMWRITE_JPEG_QUALITY, quality]
    return [bytes(cv2.imencode(".jpg", im[..., ::-1], flags)[1]) for im in images_rgb]


def _spaced(n: int, k: int) -> np.ndarray:
    """k of range(n) spread evenly (the first always)."""
    return (np.arange(k) * n) // k


def _subset(sizes: list, room: int) -> tuple[float, list]:
    """The largest share f (steps of 0.001) for which keeping ``_spaced(n_s, max(1, floor(f
    n_s)))`` of every source fits in ``room`` bytes -> (f, [kept positions per source])."""
    for step in range(1000, 0, -1):
        f = step / 1000
        kept = [_spaced(len(s), max(1, int(f * len(s)))) for s in sizes]
        if sum(int(np.sum(s[k])) for s, k in zip(sizes, kept)) <= room:
            return f, kept
    raise ValueError(f"even one sample per source does not fit in {room} bytes; raise --max_mb")


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _flat(chunks: list) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(chunks) + 1, np.int64)
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    return np.frombuffer(b"".join(chunks), np.uint8).copy(), offsets


def pack(config: PackConfig, log=print) -> dict:
    """Write the pack of ``config``; returns its header. Raises ValueError or
    FileNotFoundError naming the folder or value at fault, before anything is written."""
    folders, names = [], set()
    for d in config.data_dirs:
        folder = _read_folder(d, config.frame)
        if folder["name"] in names:
            raise ValueError(f"two data_dirs are named {folder['name']!r}; names identify sources")
        if folders and (folder["hw"], folder["packed_hw"]) != (
            folders[0]["hw"],
            folders[0]["packed_hw"],
        ):
            raise ValueError(f"{d}: image size {folder['hw']} differs from {folders[0]['path']}'s "
                             f"{folders[0]['hw']}")  # fmt: skip
        names.add(folder["name"])
        folders.append(folder)
    limit = int(config.max_mb * MIB)
    fixed = MEMBER_BYTES * (len(ARRAYS) + 1) + 4096 + 256 * len(folders)  # zip, header
    quality = config.quality
    while True:
        jpegs = [_encode(f["images"], quality) for f in folders]
        sizes = [np.array([len(j) + len(m) + LABEL_BYTES for j, m in zip(js, f["masks"])])
                 for js, f in zip(jpegs, folders)]  # fmt: skip
        total = fixed + sum(int(s.sum()) for s in sizes)
        if total <= limit or quality <= config.min_quality:
            break
        quality = max(config.min_quality, quality - QUALITY_STEP)
    count = sum(len(f["side"]) for f in folders)
    subset = None
    kept = [np.arange(len(f["side"])) for f in folders]
    if total > limit:
        share, kept = _subset(sizes, limit - fixed)
        n_kept = sum(len(k) for k in kept)
        subset = {"share": share, "kept": n_kept, "of": count,
                  "rule": "evenly spaced positions of each source, the same share of each"}  # fmt: skip
    if quality != config.quality or subset:
        what = f"quality lowered to {quality}" if quality != config.quality else ""
        if subset:
            what += (" and " if what else "") + (
                f"a source-stratified {100 * subset['share']:.1f} % subset kept "
                f"({subset['kept']} of {count} samples)"
            )
        log(
            f"pack: {count} samples at quality {config.quality} exceed {config.max_mb:g} MiB: {what}"
        )
    pick = lambda key: [f[key][i] for f, k in zip(folders, kept) for i in k]  # noqa: E731
    jpeg, jpeg_offsets = _flat([js[i] for js, k in zip(jpegs, kept) for i in k])
    mask, mask_offsets = _flat(pick("masks"))
    arrays = {
        "jpeg": jpeg, "jpeg_offsets": jpeg_offsets, "mask": mask, "mask_offsets": mask_offsets,
        "uv": np.stack(pick("uv")).astype(np.float32),
        "vis": np.stack(pick("vis")).astype(bool),
        "side": np.asarray(pick("side"), np.int8),
        "mask_trusted": np.asarray(pick("trusted"), bool),
        "source": np.concatenate([np.full(len(k), i, np.uint16) for i, k in enumerate(kept)]),
        "ids": np.asarray(pick("ids"), np.int64),
    }  # fmt: skip
    sources = [{"name": f["name"], "path": f["path"], "samples": len(f["side"]),
                "packed": len(k), "trusted": int(f["trusted"][k].sum())}
               for f, k in zip(folders, kept)]  # fmt: skip
    header = {
        "format": FORMAT, "version": VERSION, "samples": len(arrays["side"]),
        "trusted": int(arrays["mask_trusted"].sum()), "sources": sources,
        "image_hw": list(folders[0]["hw"]), "packed_hw": list(folders[0]["packed_hw"]),
        "frame": config.frame, "quality": quality, "requested_quality": config.quality,
        "min_quality": config.min_quality, "max_mb": config.max_mb, "subset": subset,
        "sha256": _checksum(arrays),
    }  # fmt: skip
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)

    def write(f):
        np.savez(f, header=blob, **arrays)
        if f.tell() > limit:  # the estimate above is meant to make this impossible
            raise RuntimeError(f"pack of {f.tell()} bytes exceeds {limit}: fix MEMBER_BYTES")

    os.makedirs(os.path.dirname(os.path.abspath(config.output)), exist_ok=True)
    atomic_write(config.output, write)
    header["bytes"] = os.path.getsize(config.output)
    return header


# ------------------------------------------------------------------------------ reading
def _fail(path, what) -> PackError:
    return PackError(" ".join(f"{os.fspath(path)}: {what}".split()))


def load_pack_arrays(path) -> tuple[dict, dict]:
    """(header, {array: values}) of a pack, every size, range and the checksum checked;
    raises :class:`PackError` (one line, naming the file) on any mismatch."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise _fail(path, "no such pack") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise _fail(path, f"not a readable pack ({type(err).__name__}: {err})") from None
    try:
        header = json.loads(bytes(found.pop("header")).decode())
    except (KeyError, UnicodeDecodeError, ValueError) as err:
        raise _fail(path, f"no readable header ({type(err).__name__}: {err})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _fail(path, f"not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise _fail(path, f"pack version {header.get('version')!r}; this reader reads {VERSION}")
    if set(found) != set(ARRAYS):
        raise _fail(path, f"arrays {sorted(found)}; expected {sorted(ARRAYS)}")
    n = header.get("samples")
    for name, (dtype, shape) in ARRAYS.items():
        arr = found[name]
        want = (
            (None,)
            if shape is None
            else tuple({"N": n, "M": (n or 0) + 1}.get(d, d) for d in shape)
        )
        if arr.dtype != dtype or (shape and arr.shape != want) or arr.ndim != len(want):
            raise _fail(path, f"array {name!r} is {arr.dtype} {arr.shape}; expected "
                              f"{np.dtype(dtype)} {want}")  # fmt: skip
    if _checksum(found) != header.get("sha256"):
        raise _fail(path, "checksum mismatch: the file is corrupt or was changed after packing")
    for name in ("jpeg", "mask"):
        off = found[f"{name}_offsets"]
        if off[0] != 0 or off[-1] != len(found[name]) or np.any(np.diff(off) < 0):
            raise _fail(path, f"{name}_offsets do not cover the {name} bytes")
    has_mask = np.diff(found["mask_offsets"]) > 0
    if np.any(has_mask != found["mask_trusted"]) or np.any(np.diff(found["jpeg_offsets"]) == 0):
        raise _fail(path, "a sample lacks its image, or its mask does not match mask_trusted")
    counts = np.bincount(found["source"], minlength=len(header.get("sources", [])))
    if [s.get("packed") for s in header.get("sources", [])] != counts.tolist():
        raise _fail(path, f"per-source counts {counts.tolist()} differ from the header's")
    if not np.isin(found["side"], (0, 1)).all() or not np.isfinite(found["uv"]).all():
        raise _fail(path, "hand sides not 0/1 or keypoints not finite")
    return header, found


@dataclasses.dataclass(frozen=True, eq=False)
class RealPack:
    """A read pack. samples: hand3d_tf.jax.samples.FIELDS arrays [N, ...] on the source
    frame (untrusted masks all zero, lifting targets NaN); mask_trusted [N] bool; source [N]
    int (an index into header["sources"])."""

    path: str
    header: dict
    samples: dict
    mask_trusted: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.mask_trusted)


def read_pack(path, workers: int = 4) -> RealPack:
    """Check and decode a pack (``workers`` threads); one-line :class:`PackError` naming
    the file on any mismatch or undecodable image."""
    import cv2

    header, arrays = load_pack_arrays(path)
    n = header["samples"]
    hw, packed_hw = tuple(header["image_hw"]), tuple(header["packed_hw"])
    if hw != jax_samples.FIELDS["hand"][0]:
        raise _fail(
            path, f"source frame {hw}; the trainer's samples are {jax_samples.FIELDS['hand'][0]}"
        )
    scale = np.array([hw[1] / packed_hw[1], hw[0] / packed_hw[0]])
    out = {k: np.empty((n, *shape), dtype) for k, (shape, dtype) in jax_samples.FIELDS.items()}
    jo, mo = arrays["jpeg_offsets"], arrays["mask_offsets"]

    def one(i):
        image = images.decode_image(arrays["jpeg"][jo[i] : jo[i + 1]], "JPEG")
        mask = np.zeros(packed_hw, np.uint8)
        if arrays["mask_trusted"][i]:
            mask = images.decode_image(arrays["mask"][mo[i] : mo[i + 1]], "PNG", color=False)
        if image is None or mask is None or image.shape[:2] != packed_hw or mask.shape != packed_hw:
            raise _fail(path, f"sample {i}: image or mask does not decode to {packed_hw}")
        if packed_hw != hw:
            image = cv2.resize(image, hw[::-1], interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, hw[::-1], interpolation=cv2.INTER_NEAREST)
        uv = arrays["uv"][i].astype(np.float64) * scale
        s = jax_samples.prepare_labelled(image, mask > kp.MASK_PERSON, uv, arrays["vis"][i],
                                         int(arrays["side"][i]))  # fmt: skip
        for k, v in s.items():
            out[k][i] = v

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(one, range(n)))
    return RealPack(os.fspath(path), header, out, arrays["mask_trusted"].copy(),
                    arrays["source"].astype(np.int64))  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="comma-separated RHD-layout roots")
    parser.add_argument("--output", required=True, help="the pack, e.g. packs/real.npz")
    parser.add_argument("--max_mb", type=float, default=24.0, help="limit in MiB (2^20 bytes)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality to start from")
    parser.add_argument("--min_quality", type=int, default=60, help="lowest JPEG quality")
    parser.add_argument("--frame", type=int, default=256, help="packed images' longer side")
    args = parser.parse_args(argv)
    try:
        config = PackConfig(tuple(d for d in args.data_dir.split(",") if d), args.output,
                            args.max_mb, args.quality, args.min_quality, args.frame)  # fmt: skip
        header = pack(config)
    except (ValueError, FileNotFoundError) as err:
        print(f"pack: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{s['name']} {s['packed']}" for s in header["sources"])
    print(f"wrote {args.output}: {header['samples']} samples ({header['trusted']} with trusted "
          f"masks; {counts}), {header['bytes'] / MIB:.1f} MiB, JPEG quality "
          f"{header['quality']}, frame {header['packed_hw'][1]}x{header['packed_hw'][0]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
