"""Write synthetic samples in RHD's on-disk layout (facts §8.1), and a preview contact sheet.

<output_dir>/<split>/color/%05d.png   RGB 320 x 320
<output_dir>/<split>/mask/%05d.png    uint8 class ids (0 bg, 1 person, 2-17 left, 18-33 right)
<output_dir>/<split>/depth/%05d.png   depth in metres = (R * 256 + G) / (2^16 - 1) * 5, B = 0
<output_dir>/<split>/anno_<split>.pickle  {id: {"xyz": [42, 3], "uv_vis": [42, 3], "K": [3, 3]}}
"""

from __future__ import annotations

import multiprocessing
import pathlib
import pickle

import cv2
import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.atomic import atomic_write
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.sample import generate_sample

SPLITS = ("training", "evaluation")
# RHD depth PNGs: 16 bits over two channels spanning 0..5 m (facts §8.1).
DEPTH_MAX_M = 5.0
DEPTH_LEVELS = 2**16 - 1
# Preview colours (RGB 0..1): left hand, right hand, person.
_PREVIEW_COLOURS = ((0.1, 0.9, 0.1), (0.2, 0.4, 1.0), (0.95, 0.85, 0.1))


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


def _write_pickle_atomically(path: pathlib.Path, annotations: dict) -> None:
    atomic_write(path, lambda f: pickle.dump(annotations, f, protocol=pickle.HIGHEST_PROTOCOL))


def write_dataset(
    output_dir,
    split: str,
    config: SyntheticConfig,
    seed: int,
    count: int,
    workers: int = 1,
    progress: bool = True,
) -> pathlib.Path:
    """Generate ``count`` samples of ``split`` into output_dir/split; returns the pickle path.

    Sample i is generate_sample(config, split_seed(seed, split), i): the files do not depend
    on ``workers``. The annotation pickle is written last, through a temporary file and a
    rename, so a crashed run never leaves a truncated pickle behind.
    """
    if count < 0 or workers < 1:
        raise ValueError(f"count must be >= 0 and workers >= 1; received {count}, {workers}")
    split_dir = pathlib.Path(output_dir) / split
    stream_seed = split_seed(seed, split)
    for sub in ("color", "mask", "depth"):
        (split_dir / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(str(split_dir), config, stream_seed, i) for i in range(count)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc=f"synthetic {split}", unit="img")
    annotations = {}

    def collect(results):
        for index, anno in results:
            annotations[index] = anno
            if bar is not None:
                bar.update(1)

    if workers == 1:
        collect(map(_work, jobs))
    else:
        # spawn: never fork a parent that may hold TensorFlow or OpenCV threads.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            collect(pool.imap_unordered(_work, jobs, chunksize=8))
    if bar is not None:
        bar.close()
    path = split_dir / f"anno_{split}.pickle"
    _write_pickle_atomically(path, {i: annotations[i] for i in sorted(annotations)})
    return path


def preview_tile(sample: dict) -> np.ndarray:
    """[S, 2S, 3] uint8: the colour image, and it with mask overlay and visible skeletons."""
    from hand3d_tf import drawing

    image, mask = sample["color"], sample["mask"]
    left = (mask >= kp.MASK_LEFT_FIRST) & (mask <= kp.MASK_LEFT_PALM)
    right = mask >= kp.MASK_RIGHT_FIRST
    annotated = image
    for sel, colour in zip((left, right, mask == kp.MASK_PERSON), _PREVIEW_COLOURS):
        annotated = drawing.overlay_mask(annotated, sel, colour, alpha=0.3)
    for hand in (kp.RHD_LEFT, kp.RHD_RIGHT):
        uv_vis = sample["uv_vis"][hand]
        visible = uv_vis[:, 2] > 0.5
        if visible.any():
            annotated = drawing.draw_skeleton(annotated, uv_vis[:, :2], visible, thickness=1)
    return np.concatenate([image, annotated], axis=1)


def write_preview(path, samples, columns: int = 4) -> pathlib.Path:
    """Contact sheet PNG of samples (each: image | overlay), ``columns`` pairs per row."""
    tiles = [preview_tile(s) for s in samples]
    if not tiles:
        raise ValueError("write_preview needs at least one sample")
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _imwrite(path, np.concatenate(rows, axis=0)[..., ::-1])
    return path
