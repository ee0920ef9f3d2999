"""The common sample structure of all readers: a :class:`Source` of annotation arrays. No TF.

Every reader (RHD on disk, STB, the original's binary records, the synthetic generator's
RHD-layout output) turns its data into a :class:`Source`, so one set of tf.data pipelines
(``hand3d_tf.data.pipelines``) serves them all. A Source holds the per-sample annotations
as stacked NumPy arrays in the RHD two-hand layout (docs/original.md §8.1: 42 points, left hand 0-20,
right hand 21-41) plus where the pixels live (PNG paths or a binary record file).

Single-hand datasets (STB) fill the left slot, leave the right slot invisible and fix the
hand side, so hand choice, cropping and targets run unchanged.

This module also holds the checks shared by the readers: annotation validation and a quick
PNG integrity check, both raising :class:`BadSampleError` naming the file and the sample.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from hand3d_tf import images
from hand3d_tf import keypoints as kp

log = logging.getLogger(__name__)

# What index 0 (and 21) of a source's points hold (docs/original.md §6): raw RHD has the wrist,
# STB the palm centre.
ROOTS = (kp.ROOT_WRIST, kp.ROOT_PALM)
RECORD_LAYOUTS = ("rhd", "stb")
# Fixed hand side codes of Source.hand_side (docs/original.md §3 one-hot order).
SIDE_LEFT, SIDE_RIGHT = 0, 1

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Every complete PNG ends with an empty IEND chunk: length 0, "IEND", fixed CRC.
PNG_TRAILER = b"IEND\xaeB`\x82"
IMAGE_CHECKS = ("none", "quick", "full")


class BadSampleError(ValueError):
    """A sample's file or annotation is missing, corrupt or malformed.

    Attributes: ``path`` (the file), ``sample_id`` (or None), ``reason`` (short text).
    """

    def __init__(self, path, sample_id, reason: str):
        self.path = os.fspath(path) if path is not None else None
        self.sample_id = sample_id
        self.reason = reason
        where = f"{self.path}" + (f", sample {sample_id}" if sample_id is not None else "")
        super().__init__(f"{where}: {reason}")


@dataclasses.dataclass(frozen=True, eq=False)
class Source:
    """Annotations of N samples in the RHD two-hand layout, and where their pixels are.

    Arrays (N samples, camera frame, RHD keypoint order, docs/original.md §6/§8.1):
      xyz [N, 42, 3] float32 metres; uv [N, 42, 2] float32 pixels (u = column, v = row);
      vis [N, 42] bool; K [N, 3, 3] float32 intrinsics; ids [N] int64 dataset sample ids.
    image_hw: (H, W) of every image in pixels.
    root: what index 0 / 21 holds, "wrist" (raw RHD) or "palm" (STB).
    hand_side: [N] int8 fixed side (0 left, 1 right) or None = choose from the mask by pixel
      counts (docs/original.md §8.3 step 5; needs masks).
    Pixels come from exactly one of: ``image_paths`` (+ ``mask_paths``) PNG files, or
      ``records_path`` with ``records_layout`` "rhd" / "stb" (docs/original.md §8.2, §8.4).
    name: a label for messages (e.g. the data directory).
    mask_trusted: [N] bool, or None = every mask is good enough to train HandSegNet on
      (labelled photographs mark the others, docs/autolabel.md).
    xyz may be NaN for 2D-only labels (photographs); the lifting's pipelines refuse them.
    """

    name: str
    xyz: np.ndarray
    uv: np.ndarray
    vis: np.ndarray
    K: np.ndarray
    ids: np.ndarray
    image_hw: tuple
    root: str
    hand_side: np.ndarray | None = None
    image_paths: tuple | None = None
    mask_paths: tuple | None = None
    records_path: str | None = None
    records_layout: str | None = None
    mask_trusted: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.ids)
        if n == 0:
            raise ValueError(f"source {self.name!r} has no samples")
        expected = {
            "xyz": (n, kp.RHD_NUM_POINTS, 3),
            "uv": (n, kp.RHD_NUM_POINTS, 2),
            "vis": (n, kp.RHD_NUM_POINTS),
            "K": (n, 3, 3),
        }
        for key, shape in expected.items():
            got = np.shape(getattr(self, key))
            if got != shape:
                raise ValueError(f"source {self.name!r}: {key} has shape {got}, expected {shape}")
        if self.root not in ROOTS:
            raise ValueError(
                f"source {self.name!r}: root must be one of {ROOTS}; got {self.root!r}"
            )
        if self.hand_side is not None and np.shape(self.hand_side) != (n,):
            raise ValueError(
                f"source {self.name!r}: hand_side has shape {np.shape(self.hand_side)}, "
                f"expected ({n},)"
            )
        has_png = self.image_paths is not None
        has_rec = self.records_path is not None
        if has_png == has_rec:
            raise ValueError(
                f"source {self.name!r}: give exactly one of image_paths or records_path"
            )
        if has_png and len(self.image_paths) != n:
            raise ValueError(
                f"source {self.name!r}: {len(self.image_paths)} image paths for {n} samples"
            )
        if self.mask_paths is not None and len(self.mask_paths) != n:
            raise ValueError(
                f"source {self.name!r}: {len(self.mask_paths)} mask paths for {n} samples"
            )
        if has_rec and self.records_layout not in RECORD_LAYOUTS:
            raise ValueError(
                f"source {self.name!r}: records_layout must be one of {RECORD_LAYOUTS}; "
                f"got {self.records_layout!r}"
            )
        if self.mask_trusted is not None and np.shape(self.mask_trusted) != (n,):
            raise ValueError(
                f"source {self.name!r}: mask_trusted has shape {np.shape(self.mask_trusted)}, "
                f"expected ({n},)"
            )
        if self.hand_side is None and not self.has_masks:
            raise ValueError(
                f"source {self.name!r}: without masks the hand side must be fixed (hand_side)"
            )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_masks(self) -> bool:
        """Whether per-pixel class masks exist (RHD PNGs or RHD records)."""
        return self.mask_paths is not None or self.records_layout == "rhd"


def select(source: Source, index) -> Source:
    """The samples ``index`` (positions or a bool array) of a PNG-backed source."""
    if source.image_paths is None:
        raise ValueError(f"source {source.name!r}: only PNG-backed sources can be subset")
    index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, int)
    out = {}
    for key in ("xyz", "uv", "vis", "K", "ids", "hand_side", "mask_trusted"):
        value = getattr(source, key)
        out[key] = None if value is None else np.asarray(value)[index]
    for key in ("image_paths", "mask_paths"):
        value = getattr(source, key)
        out[key] = None if value is None else tuple(value[i] for i in index)
    return dataclasses.replace(source, **out)


def concat_sources(sources: list, name: str | None = None) -> Source:
    """One source of several PNG-backed sources of the same image size and root.

    Sample ids are renumbered 0..N-1 (ids repeat across datasets); a source without fixed
    hand sides gets them from its masks' pixel counts, so every sample carries one."""
    sources = [build_source(s) for s in sources]
    if len(sources) == 1:
        return sources[0]
    first = sources[0]
    for s in sources[1:]:
        if s.image_hw != first.image_hw or s.root != first.root:
            raise ValueError(
                f"sources {first.name!r} and {s.name!r} differ in image size or root "
                f"({first.image_hw}/{first.root} vs {s.image_hw}/{s.root})"
            )
        if s.image_paths is None or s.mask_paths is None:
            raise ValueError(f"source {s.name!r}: only PNG-backed sources with masks can be mixed")
    sides = [s.hand_side if s.hand_side is not None else sides_from_masks(s) for s in sources]
    trusted = [
        s.mask_trusted if s.mask_trusted is not None else np.ones(len(s), bool) for s in sources
    ]
    cat = lambda key: np.concatenate([getattr(s, key) for s in sources])  # noqa: E731
    n = sum(len(s) for s in sources)
    return Source(
        name=name or " + ".join(s.name for s in sources),
        xyz=cat("xyz"), uv=cat("uv"), vis=cat("vis"), K=cat("K"),
        ids=np.arange(n, dtype=np.int64), image_hw=first.image_hw, root=first.root,
        hand_side=np.concatenate(sides).astype(np.int8),
        image_paths=sum((tuple(s.image_paths) for s in sources), ()),
        mask_paths=sum((tuple(s.mask_paths) for s in sources), ()),
        mask_trusted=np.concatenate(trusted),
    )  # fmt: skip


def sides_from_masks(source: Source) -> np.ndarray:
    """Each sample's hand side as the pipelines choose it: the hand with more mask pixels
    (docs/original.md §8.3 step 5; right on a tie as there)."""
    out = np.zeros(len(source), np.int8)
    for i, path in enumerate(source.mask_paths):
        mask = read_png(path, int(source.ids[i]), channels=1)
        left = int(((mask >= 2) & (mask <= 17)).sum())
        right = int((mask >= 18).sum())
        out[i] = int(right >= left)
    return out


def build_source(data) -> Source:
    """The :class:`Source` of an RHDReader, STBReader or opened binary records.

    Anything with a ``to_source()`` method works; a Source is returned unchanged.
    """
    if isinstance(data, Source):
        return data
    to_source = getattr(data, "to_source", None)
    if to_source is None:
        raise TypeError(
            "build_source needs a Source, RHDReader, STBReader, RHDRecords or STBRecords; "
            f"received {type(data).__name__}"
        )
    return to_source()


def check_array(path, sample_id, key: str, value, shape: tuple) -> np.ndarray:
    """``value`` as float32 of exactly ``shape`` with finite entries, else BadSampleError."""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise BadSampleError(path, sample_id, f"{key!r} is not numeric ({err})") from err
    if arr.shape != shape:
        raise BadSampleError(path, sample_id, f"{key!r} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise BadSampleError(path, sample_id, f"{key!r} has non-finite values (NaN or inf)")
    return arr


def check_png(path, sample_id, mode: str = "quick") -> None:
    """Raise BadSampleError if ``path`` is missing or not a complete PNG.

    mode: "none" (nothing), "quick" (exists, PNG signature, IEND trailer, declared size
    within hand3d_tf.images.max_pixels(): catches missing, empty, truncated and non-PNG
    files and decompression bombs in two small reads) or "full" (decode it).
    """
    if mode not in IMAGE_CHECKS:
        raise ValueError(f"image check must be one of {IMAGE_CHECKS}; received {mode!r}")
    if mode == "none":
        return
    try:
        with open(path, "rb") as f:
            head = f.read(24)  # the signature and IHDR's width and height
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - len(PNG_TRAILER)))
            tail = f.read()
    except FileNotFoundError as err:
        raise BadSampleError(path, sample_id, "file not found") from err
    except OSError as err:
        raise BadSampleError(path, sample_id, f"cannot read ({err})") from err
    if head[: len(PNG_SIGNATURE)] != PNG_SIGNATURE or tail != PNG_TRAILER:
        raise BadSampleError(path, sample_id, "not a complete PNG (bad signature or truncated)")
    try:  # a decompression bomb is refused here, before any reader decodes it
        images.check_size(images._png_size(head), "PNG")
    except images.ImageTooLargeError as err:
        raise BadSampleError(path, sample_id, str(err)) from None
    if mode == "full":
        read_png(path, sample_id)


def read_png(path, sample_id, channels: int = 3) -> np.ndarray:
    """Decode a PNG to uint8 [H, W, 3] RGB (channels=3) or [H, W] (channels=1).

    Raises BadSampleError naming the file when it is missing, does not decode or declares
    more pixels than hand3d_tf.images.max_pixels() (checked before decoding).
    """
    if not os.path.exists(path):
        raise BadSampleError(path, sample_id, "file not found")
    try:
        image = images.decode_image(np.fromfile(path, dtype=np.uint8), "PNG", channels == 3)
    except images.ImageTooLargeError as err:
        raise BadSampleError(path, sample_id, str(err)) from None
    if image is None:
        raise BadSampleError(path, sample_id, "corrupt or unreadable PNG")
    if channels == 3:
        return image
    return image[..., 0] if image.ndim == 3 else image


class SkipLog:
    """Collects skipped samples (skip_bad=True) and logs the first one once."""

    def __init__(self, what: str):
        self.what = what
        self.skipped: list[BadSampleError] = []

    def add(self, error: BadSampleError) -> None:
        if not self.skipped:
            log.warning("%s: skipping bad samples (first: %s)", self.what, error)
        self.skipped.append(error)

    def __len__(self) -> int:
        return len(self.skipped)
