"""Representative (calibration) data for the int8 / int16x8 / QAT conversions.

Calibration sets each activation's quantisation range, so it must see what the deployed
network sees, never random noise (noise gives the score-map and logit layers ranges no
real input produces):

- HandSegNet: whole frames at the export input size (RHD/synthetic 320 x 320 frames
  resized to e.g. 240 x 320, as the demo and eval2d do, docs/original.md §5, §11.12);
- PoseNet: ground-truth hand crops of the PoseNet pipeline (256 x 256, docs/original.md §8.3);
- lifting: ground-truth score maps average-pooled to 32 x 32 plus the hand side
  (the stand-alone lifting input, docs/original.md §3).

Sources: an RHD-layout directory read through hand3d_tf.data.pipelines (the *training*
split by default, so the held-out evaluation split stays unseen), or an ``eval.npz`` of
``hand3d-make-eval-set``. Without a source the exporter renders a small synthetic
training split (:func:`render_synthetic_split`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Callable

import numpy as np

DEFAULT_NUM_SAMPLES = 64
DEFAULT_SPLIT = "training"
# The eval preset of each pipeline: no noise, no shuffle, deterministic (docs/original.md §8.3).
_PRESETS = {"handsegnet": "handsegnet_rhd_eval", "posenet": "posenet_rhd_eval",
            "lifting": "lifting_rhd_eval"}  # fmt: skip
_NPZ_KEYS = {"handsegnet": {"image": "images"}, "posenet": {"image": "crops"},
             "lifting": {"scoremap": "scoremaps", "hand_side": "hand_side"}}  # fmt: skip


class CalibrationError(ValueError):
    """Calibration data that is missing, empty or of the wrong kind (names the path)."""


def _resize(images: np.ndarray, hw) -> np.ndarray:
    """Bilinear resize of float or uint8 images [N, h, w, C] to (H, W) (cv2, like the eval set)."""
    import cv2

    if tuple(images.shape[1:3]) == tuple(hw):
        return images
    return np.stack([cv2.resize(im, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_LINEAR)
                     for im in images])  # fmt: skip


def _fit(net: str, arrays: dict, shapes: dict) -> dict:
    """Bring arrays [N, ...] to the export shapes [1, ...] (frames/crops resized, float32)."""
    out = {}
    for role, arr in arrays.items():
        arr = np.asarray(arr)
        if role == "image":
            if arr.dtype == np.uint8:  # eval.npz frames: pixel / 255 - 0.5 (docs/original.md §1)
                arr = arr.astype(np.float32) / 255.0 - 0.5
            arr = _resize(arr.astype(np.float32), shapes[role][1:3])
        arr = arr.astype(np.float32)
        if tuple(arr.shape[1:]) != tuple(shapes[role][1:]):
            raise CalibrationError(
                f"{net} calibration {role!r} has shape {list(arr.shape[1:])}, the export "
                f"input is {list(shapes[role][1:])}"
            )
        out[role] = arr
    return out


def _from_npz(net: str, path: pathlib.Path, num: int) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _NPZ_KEYS[net].values() if k not in f.files]
            if missing:
                raise CalibrationError(
                    f"calibration file {path} lacks {missing} (an eval.npz of "
                    f"hand3d-make-eval-set has {sorted(f.files)})"
                )
            return {role: f[key][:num] for role, key in _NPZ_KEYS[net].items()}
    except (OSError, ValueError) as e:
        if isinstance(e, CalibrationError):
            raise
        raise CalibrationError(f"cannot read calibration file {path}: {e}") from e


def _from_rhd_dir(net: str, path: pathlib.Path, num: int, split: str) -> dict:
    from hand3d_tf.data import pipelines
    from hand3d_tf.data.rhd import RHDReader

    try:
        reader = RHDReader(path, split)
    except (FileNotFoundError, ValueError) as e:
        raise CalibrationError(
            f"calibration dir {path} has no usable {split!r} samples (expected the RHD "
            f"layout {split}/color/*.png + anno_{split}.pickle): {e}"
        ) from e
    cfg = pipelines.preset(_PRESETS[net], batch_size=min(8, num))
    builder = {"handsegnet": pipelines.handsegnet_dataset, "posenet": pipelines.posenet_dataset,
               "lifting": pipelines.lifting_dataset}[net]  # fmt: skip
    parts: dict = {}
    count = 0
    for inputs, _ in builder(reader, cfg).as_numpy_iterator():
        for role, value in inputs.items():
            parts.setdefault(role, []).append(value)
        count += len(next(iter(inputs.values())))
        if count >= num:
            break
    return {role: np.concatenate(v)[:num] for role, v in parts.items()}


def calibration_arrays(
    net: str,
    data: os.PathLike | str,
    shapes: dict,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    split: str = DEFAULT_SPLIT,
) -> dict:
    """Calibration inputs of ``net`` by role, float32 [N, ...] at the export ``shapes``.

    Args:
      data: an RHD-layout directory (synthetic or real; ``split`` is read) or an eval.npz.
      shapes: the export input shapes by role (tflite.input_shapes).
      num_samples: how many samples (the first ones, deterministic order).

    Raises:
      CalibrationError: a missing path, no samples, or arrays of the wrong shape, before
        any conversion work starts.
    """
    if num_samples < 1:
        raise CalibrationError(f"num_samples must be >= 1; received {num_samples}")
    path = pathlib.Path(data)
    if not path.exists():
        raise CalibrationError(f"calibration data {str(path)!r} does not exist")
    if path.is_dir():
        arrays = _from_rhd_dir(net, path, num_samples, split)
    else:
        arrays = _from_npz(net, path, num_samples)
    n = min((len(a) for a in arrays.values()), default=0)
    if n == 0:
        raise CalibrationError(f"calibration data {str(path)!r} holds no {net} samples")
    return _fit(net, arrays, shapes)


def representative_dataset(arrays: dict) -> Callable[[], Iterator[dict]]:
    """The converter's ``representative_dataset``: one ``{role: [1, ...]}`` dict per sample."""
    n = min(len(a) for a in arrays.values())

    def generate():
        for i in range(n):
            yield {role: a[i : i + 1] for role, a in arrays.items()}

    return generate


def render_synthetic_split(directory, num: int, seed: int = 1, split: str = DEFAULT_SPLIT) -> str:
    """Render ``num`` synthetic samples in the RHD layout into ``directory``; returns it.

    Seed 1 by default: the evaluation set of hand3d-make-eval-set uses seed 0.
    """
    from hand3d_tf.data.rhd import write_rhd_split
    from hand3d_tf.data.synthetic.config import SyntheticConfig
    from hand3d_tf.data.synthetic.sample import iterate_samples

    def as_rhd(samples):
        for i, s in enumerate(samples):
            yield {"id": i, "image": s["color"], "mask": s["mask"], "xyz": s["xyz"],
                   "uv": s["uv_vis"][:, :2], "vis": s["uv_vis"][:, 2] > 0.5, "K": s["K"]}  # fmt: skip

    write_rhd_split(directory, split, as_rhd(iterate_samples(SyntheticConfig(), seed, 0, num)))
    return os.fspath(directory)
