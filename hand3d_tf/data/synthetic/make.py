"""Write a whole synthetic dataset (both splits and a preview): what hand3d-make-synthetic does.

    from hand3d_tf.data.synthetic.make import make_dataset
    make_dataset("data/synthetic", num_train=1000, num_eval=100, seed=0)
    make_dataset("data/sequences", num_train=50, num_eval=10, sequence_length=60)  # video

Cheap checks come first: when the preview path cannot be written or a split folder holds
another dataset (without ``overwrite``), nothing is generated. Each split is written into a
temporary folder and renamed into place when complete (writer.write_dataset).
"""

from __future__ import annotations

import itertools
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Callable

from hand3d_tf import images, paths
from hand3d_tf.constants import MAX_SEQUENCE_LENGTH
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.preview import view_statistics, write_preview
from hand3d_tf.data.synthetic.sample import iterate_samples
from hand3d_tf.data.synthetic.sequence import iter_sequence
from hand3d_tf.data.synthetic.writer import (  # noqa: F401 (DatasetExistsError: callers')
    DatasetExistsError,
    check_target,
    dataset_manifest,
    split_seed,
    write_dataset,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PREVIEW_SAMPLES = 16


def background_files(folder) -> tuple[str, ...]:
    """Sorted image paths under ``folder`` (sorted: the same folder gives the same data).

    ValueError naming the folder when it is not a folder or holds no images, or naming the
    file whose header declares more pixels than hand3d_tf.images.max_pixels() (every header
    is read here, before any sample is generated).
    """
    if not folder:
        return ()
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise ValueError(f"backgrounds {str(folder)!r} is not a folder")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"backgrounds {str(folder)!r} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    for path in files:
        images.check_image_file(path)
    return tuple(files)


def _check_writable_folder(folder: pathlib.Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{what} cannot be written: {err}") from None


# What a written frame costs: its PNGs on disk (measured 1.93 bytes per pixel for generator
# 2 at 320x320, with margin), and its annotation, held in memory until the split's pickle
# is written (about 1.2 KB pickled; the arrays in memory take more).
DISK_BYTES_PER_PIXEL = 2.5
ANNOTATION_BYTES = 2048


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this system
        return None


def check_capacity(root, frames_per_split: list[int], image_size: int) -> None:
    """ValueError when the planned frames cannot fit: their PNGs on the free disk space
    under ``root``, or one split's annotations in the available memory."""
    base = pathlib.Path(root).absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    need = int(sum(frames_per_split) * image_size**2 * DISK_BYTES_PER_PIXEL)
    free = shutil.disk_usage(base).free
    if need > free:
        raise ValueError(
            f"{sum(frames_per_split):,} frames of {image_size}x{image_size} need about "
            f"{need / 1e9:,.1f} GB; {base} has {free / 1e9:,.1f} GB free"
        )
    memory, largest = _available_memory(), max(frames_per_split, default=0)
    if memory is not None and largest * ANNOTATION_BYTES > memory:
        raise ValueError(
            f"the annotations of {largest:,} frames need about "
            f"{largest * ANNOTATION_BYTES / 1e9:,.1f} GB of memory; "
            f"{memory / 1e9:,.1f} GB are available"
        )


def check_preview_path(path) -> pathlib.Path:
    """``path`` if a PNG preview can be written there; ValueError naming it otherwise."""
    target = pathlib.Path(path)
    if target.is_dir():
        raise ValueError(f"preview {str(path)!r} is a folder; give a .png file path")
    paths.check_output_path(path, f"preview {str(path)!r} cannot be written")
    if target.suffix.lower() != ".png":
        raise ValueError(f"preview {str(path)!r} must end in .png")
    _check_writable_folder(target.parent, f"preview {str(path)!r}")
    return target


def check_output_dir(path) -> pathlib.Path:
    """``path`` if the dataset root can be written; ValueError naming it otherwise."""
    root = paths.check_output_folder(path, f"output folder {str(path)!r}")
    _check_writable_folder(root, f"output folder {str(path)!r}")
    return root


def make_dataset(
    output_dir,
    num_train: int,
    num_eval: int,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    workers: int = 1,
    overwrite: bool = False,
    preview=None,
    preview_views: int = 1000,
    log: Callable[[str], None] = print,
    sequence_length: int = 0,
) -> dict:
    """Write ``<output_dir>/training`` and ``/evaluation`` (and the preview PNG).

    sequence_length > 0: num_train and num_eval count sequences of that many frames
    (writer.write_dataset); the preview then shows frames of the first training sequence.

    Returns {split: written folder, "preview": path or None}. Raises ValueError for a bad
    argument or path and writer.DatasetExistsError for a split folder that holds another
    dataset (overwrite=False), both before any sample is generated.
    """
    config = config or SyntheticConfig()
    if seed < 0:
        raise ValueError(f"seed must be non-negative; received {seed}")
    if not 0 <= sequence_length <= MAX_SEQUENCE_LENGTH:
        raise ValueError(
            f"sequence_length must be in [0, {MAX_SEQUENCE_LENGTH}]; received {sequence_length}"
        )
    if sequence_length and config.generator_version != 2:
        raise ValueError(f"sequences need generator_version 2; received {config.generator_version}")
    unit = "sequences" if sequence_length else "samples"
    if preview:
        check_preview_path(preview)
    splits = (("training", int(num_train)), ("evaluation", int(num_eval)))
    frames = [max(count, 0) * (sequence_length or 1) for _, count in splits]
    check_capacity(output_dir, frames, config.image_size)  # before anything is created
    root = check_output_dir(output_dir)
    for split, count in splits:
        if count < 0:
            raise ValueError(f"the number of {split} {unit} must be >= 0; received {count}")
        planned = dataset_manifest(config, split, seed, count, sequence_length)
        check_target(root / split, planned, overwrite)
    written = {}
    for split, count in splits:
        start = time.perf_counter()
        written[split] = write_dataset(
            root, split, config, seed, count, workers=workers, overwrite=overwrite,
            sequence_length=sequence_length,
        )  # fmt: skip
        frames = count * (sequence_length or 1)
        rate = frames / max(time.perf_counter() - start, 1e-9)
        what = f"{count} sequences of {sequence_length} frames" if sequence_length else ""
        per = "frames/s" if sequence_length else "samples/s"
        log(f"{split}: {what or f'{count} samples'} -> {written[split]} ({rate:.1f} {per})")
    written["preview"] = None
    if preview:
        stream = split_seed(seed, "training")
        if sequence_length:  # frames spread over the first sequence
            step = max(sequence_length // PREVIEW_SAMPLES, 1)
            frames = iter_sequence(config, stream, 0, sequence_length)  # rendered as needed
            samples = list(itertools.islice(frames, 0, step * PREVIEW_SAMPLES, step))
        else:
            samples = iterate_samples(config, stream, 0, PREVIEW_SAMPLES)
        stats = view_statistics(config, stream, preview_views)
        written["preview"] = write_preview(preview, samples, stats=stats)
        log(f"preview -> {written['preview']}")
    return written
