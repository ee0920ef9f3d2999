"""Write a whole synthetic dataset (both splits and a preview): what hand3d-make-synthetic does.

    from hand3d_tf.data.synthetic.make import make_dataset
    make_dataset("data/synthetic", num_train=1000, num_eval=100, seed=0)
    make_dataset("data/sequences", num_train=50, num_eval=10, sequence_length=60)  # video

Cheap checks come first: when the preview path cannot be written or a split folder holds
another dataset (without ``overwrite``), nothing is generated. Each split is written into a
temporary folder and renamed into place when complete (writer.write_dataset).
"""

from __future__ import annotations

import pathlib
import tempfile
import time
from collections.abc import Callable

from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.preview import view_statistics, write_preview
from hand3d_tf.data.synthetic.sample import iterate_samples
from hand3d_tf.data.synthetic.sequence import render_sequence
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

    ValueError naming the folder when it is not a folder or holds no images.
    """
    if not folder:
        return ()
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise ValueError(f"backgrounds {str(folder)!r} is not a folder")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"backgrounds {str(folder)!r} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    return tuple(files)


def _check_writable_folder(folder: pathlib.Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{what} cannot be written: {err}") from None


def check_preview_path(path) -> pathlib.Path:
    """``path`` if a PNG preview can be written there; ValueError naming it otherwise."""
    target = pathlib.Path(path)
    if target.is_dir():
        raise ValueError(f"preview {str(path)!r} is a folder; give a .png file path")
    if target.suffix.lower() != ".png":
        raise ValueError(f"preview {str(path)!r} must end in .png")
    _check_writable_folder(target.parent, f"preview {str(path)!r}")
    return target


def check_output_dir(path) -> pathlib.Path:
    """``path`` if the dataset root can be written; ValueError naming it otherwise."""
    root = pathlib.Path(path)
    if root.exists() and not root.is_dir():
        raise ValueError(f"output folder {str(path)!r} exists and is not a folder")
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
    if sequence_length < 0:
        raise ValueError(f"sequence_length must be >= 0; received {sequence_length}")
    if sequence_length and config.generator_version != 2:
        raise ValueError(f"sequences need generator_version 2; received {config.generator_version}")
    unit = "sequences" if sequence_length else "samples"
    if preview:
        check_preview_path(preview)
    root = check_output_dir(output_dir)
    splits = (("training", int(num_train)), ("evaluation", int(num_eval)))
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
            frames = render_sequence(config, stream, 0, sequence_length)
            step = max(len(frames) // PREVIEW_SAMPLES, 1)
            samples = frames[::step][:PREVIEW_SAMPLES]
        else:
            samples = iterate_samples(config, stream, 0, PREVIEW_SAMPLES)
        stats = view_statistics(config, stream, preview_views)
        written["preview"] = write_preview(preview, samples, stats=stats)
        log(f"preview -> {written['preview']}")
    return written
