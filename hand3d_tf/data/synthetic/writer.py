"""Write synthetic samples in RHD's on-disk layout (docs/original.md §8.1), all or nothing.

<output_dir>/<split>/color/%05d.png   RGB 320 x 320
<output_dir>/<split>/mask/%05d.png    uint8 class ids (0 bg, 1 person, 2-17 left, 18-33 right)
<output_dir>/<split>/depth/%05d.png   depth in metres = (R * 256 + G) / (2^16 - 1) * 5, B = 0
<output_dir>/<split>/anno_<split>.pickle  {id: {"xyz": [42, 3], "uv_vis": [42, 3], "K": [3, 3]}}
<output_dir>/<split>/manifest.json  generator version, seeds, count, config, pickle sha256
<output_dir>/<split>/sequences.json  sequences only (sequence_length > 0): sequence_index.py
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import multiprocessing
import os
import pathlib
import pickle
import shutil
import tempfile

import cv2
import numpy as np

from hand3d_tf.atomic import _umask, atomic_write, pid_alive
from hand3d_tf.constants import SPLITS
from hand3d_tf.data import manifest
from hand3d_tf.data.manifest import write_manifest
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.sample import generate_sample
from hand3d_tf.data.synthetic.sequence import iter_sequence
from hand3d_tf.data.synthetic.sequence_index import SEQUENCES_FILE, write_index
from hand3d_tf.files import sha256_file

# RHD depth PNGs: 16 bits over two channels spanning 0..5 m (docs/original.md §8.1).
DEPTH_MAX_M = 5.0
DEPTH_LEVELS = 2**16 - 1
GENERATOR_NAME = "hand3d_tf.data.synthetic"
SEQUENCE_GENERATOR_NAME = "hand3d_tf.data.synthetic.sequence"


def split_seed(seed: int, split: str) -> int:
    """Seed of the sample stream of ``split``, derived from the user's seed.

    training and evaluation get unrelated streams, so no evaluation sample repeats a
    training one.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; received {split!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative; received {seed}")
    sequence = np.random.SeedSequence([int(seed), 1 + SPLITS.index(split)])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """[H, W] metres -> [H, W, 3] uint8 RGB: R = high byte, G = low byte, B = 0.

    The inverse is hand3d_tf.data.rhd.decode_depth (the reader's concern).
    """
    levels = np.round(np.clip(depth_m, 0.0, DEPTH_MAX_M) / DEPTH_MAX_M * DEPTH_LEVELS)
    levels = levels.astype(np.uint16)
    rgb = np.zeros(depth_m.shape + (3,), np.uint8)
    rgb[..., 0] = levels >> 8
    rgb[..., 1] = levels & 0xFF
    return rgb


def _imwrite(path: pathlib.Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"OpenCV could not write {path}")


def write_sample_files(split_dir: pathlib.Path, index: int, sample: dict) -> dict:
    """Write color/mask/depth PNGs of one sample; return its annotation entry."""
    name = f"{index:05d}.png"
    _imwrite(split_dir / "color" / name, sample["color"][..., ::-1])  # OpenCV writes BGR
    _imwrite(split_dir / "mask" / name, sample["mask"])
    _imwrite(split_dir / "depth" / name, encode_depth(sample["depth"])[..., ::-1])
    return {k: np.asarray(sample[k], np.float32) for k in ("xyz", "uv_vis", "K")}


def _work(args) -> tuple[int, dict]:
    split_dir, config, stream_seed, index = args
    cv2.setNumThreads(1)  # one process per core already
    sample = generate_sample(config, stream_seed, index)
    return index, write_sample_files(pathlib.Path(split_dir), index, sample)


def _work_sequence(args) -> tuple[int, list, list]:
    split_dir, config, stream_seed, index, length = args
    cv2.setNumThreads(1)
    annos, in_frame = [], []
    # Each frame goes to disk as it is rendered; only its annotation stays in memory.
    for f in iter_sequence(config, stream_seed, index, length):
        annos.append(write_sample_files(pathlib.Path(split_dir), index * length + f["frame"], f))
        in_frame.append(f["in_frame"])
    return index, annos, in_frame


def _canonical(anno: dict) -> dict:
    """The annotation with its keys and arrays rebuilt in this process. One that came back
    from a worker carries its own copies of the key strings and dtype objects, which pickle
    writes out again instead of referring back to the first ones, so the pickle's bytes
    would depend on how the samples were split between processes."""
    out = {}
    for key in ("xyz", "uv_vis", "K"):
        out[key] = np.empty(np.shape(anno[key]), np.float32)
        out[key][...] = anno[key]
    return out


def _write_pickle_atomically(path: pathlib.Path, annotations: dict) -> None:
    annotations = {i: _canonical(anno) for i, anno in annotations.items()}
    atomic_write(path, lambda f: pickle.dump(annotations, f, protocol=pickle.HIGHEST_PROTOCOL))


class DatasetExistsError(ValueError):
    """The target split folder holds another dataset (and overwrite was not asked for)."""


def dataset_manifest(
    config: SyntheticConfig, split: str, seed: int, count: int, sequence_length: int = 0
) -> dict:
    """What a split's manifest.json says about its data (without the annotation hash).

    sequence_length > 0: ``count`` sequences of that many frames; the manifest's count is
    then the number of frames (the samples a reader finds) and it names the sequence index.
    """
    if sequence_length:
        planned = dataset_manifest(config, split, seed, count * sequence_length)
        return dict(planned, generator=SEQUENCE_GENERATOR_NAME, sequences=int(count),
                    sequence_length=int(sequence_length),
                    sequence_index=SEQUENCES_FILE)  # fmt: skip
    return {
        "split": split,
        "count": int(count),
        "generator": GENERATOR_NAME,
        "generator_version": int(config.generator_version),
        "seed": int(seed),
        "stream_seed": split_seed(seed, split),
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "annotations": f"anno_{split}.pickle",
    }


def check_target(split_dir, planned: dict, overwrite: bool = False) -> None:
    """Refuse (DatasetExistsError naming the folder) to replace a non-empty split folder
    that holds another dataset, unless ``overwrite``; the same dataset may be rewritten."""
    split_dir = pathlib.Path(split_dir)
    if split_dir.exists() and not split_dir.is_dir():
        raise DatasetExistsError(f"{split_dir} exists and is not a folder")
    if overwrite or not split_dir.exists() or not any(split_dir.iterdir()):
        return
    try:
        existing = manifest.read_manifest(split_dir)
    except manifest.InconsistentDatasetError:
        existing = None
    if (
        existing is not None
        and manifest.same_dataset(existing, planned)
        and existing.get("sequence_length") == planned.get("sequence_length")
    ):
        return
    what = manifest.describe(existing) if existing else "files without a manifest"
    raise DatasetExistsError(
        f"{split_dir} already holds another dataset ({what}); choose another --output_dir "
        "or pass --overwrite to replace it"
    )


def _remove_stale(root: pathlib.Path, split: str) -> None:
    """Delete temporary folders left by writers of this split that were killed."""
    for folder in root.glob(f".{split}.*-*-*"):
        try:
            pid = int(folder.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if folder.is_dir() and not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _move_into_place(tmp: pathlib.Path, split_dir: pathlib.Path) -> None:
    """Make the finished tmp folder the split folder; the old one (if any) is deleted."""
    if not split_dir.exists():
        os.rename(tmp, split_dir)
        return
    if _exchange(tmp, split_dir):
        shutil.rmtree(tmp)  # now holds the old split
        return
    # Two renames: a crash between them leaves the old split in the .old folder.
    old = tmp.with_name(tmp.name.replace(".writing-", ".old-", 1))
    os.rename(split_dir, old)
    os.rename(tmp, split_dir)
    shutil.rmtree(old)


def write_dataset(
    output_dir,
    split: str,
    config: SyntheticConfig,
    seed: int,
    count: int,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    sequence_length: int = 0,
) -> pathlib.Path:
    """Generate ``count`` samples of ``split`` into output_dir/split; returns the pickle path.

    sequence_length > 0: ``count`` sequences of that many frames instead
    (sequence.render_sequence(config, split_seed(seed, split), s, sequence_length)), frame t
    of sequence s written as sample s * sequence_length + t, plus ``sequences.json``
    (sequence_index.py).

    Sample i is generate_sample(config, split_seed(seed, split), i): the files do not depend
    on ``workers``. The split is written into a temporary folder next to the target
    (``.<split>.writing-<pid>-*``) with its annotation pickle and manifest.json (generator
    version, seeds, count, config, the pickle's sha256), then renamed into place, so a
    killed run leaves the previous split untouched and never a mix of two. A non-empty
    target holding another dataset raises DatasetExistsError unless ``overwrite``.
    """
    if count < 0 or workers < 1 or sequence_length < 0:
        raise ValueError(
            f"count and sequence_length must be >= 0 and workers >= 1; received {count}, "
            f"{sequence_length}, {workers}"
        )
    root = pathlib.Path(output_dir)
    split_dir = root / split
    planned = dataset_manifest(config, split, seed, count, sequence_length)
    check_target(split_dir, planned, overwrite)
    stream_seed = split_seed(seed, split)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, split)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=root, prefix=f".{split}.writing-{os.getpid()}-"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # a plain folder's permissions, not mkdtemp's 0o700
        path = _write_split(
            tmp, split, config, stream_seed, count, workers, progress, sequence_length
        )
        written = dict(planned, annotations_sha256=sha256_file(path))
        if sequence_length:
            written["sequence_index_sha256"] = sha256_file(tmp / SEQUENCES_FILE)
        write_manifest(tmp, written)
        _move_into_place(tmp, split_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return split_dir / path.name


def _write_split(split_dir, split, config, stream_seed, count, workers, progress, length=0):
    for sub in ("color", "mask", "depth"):
        (split_dir / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(str(split_dir), config, stream_seed, i) for i in range(count)]
    work, chunksize = _work, 8
    if length:  # one job per sequence: its frames share one scene
        jobs, work, chunksize = [job + (length,) for job in jobs], _work_sequence, 1
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc=f"synthetic {split}", unit="seq" if length else "img")
    annotations, in_frame = {}, {}

    def collect(results):
        for index, anno, *flags in results:
            if length:
                annotations.update((index * length + t, a) for t, a in enumerate(anno))
                in_frame[index] = flags[0]
            else:
                annotations[index] = anno
            if bar is not None:
                bar.update(1)

    try:
        if workers == 1:
            collect(map(work, jobs))
        else:
            # spawn: never fork a parent that may hold TensorFlow or OpenCV threads.
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                collect(pool.imap_unordered(work, jobs, chunksize=chunksize))
    finally:  # also when interrupted: the bar's last line comes before the CLI's
        if bar is not None:
            bar.close()
    if length:
        write_index(split_dir, split, length, [in_frame[i] for i in range(count)])
    path = split_dir / f"anno_{split}.pickle"
    _write_pickle_atomically(path, {i: annotations[i] for i in sorted(annotations)})
    return path
