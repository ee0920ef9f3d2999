"""The evaluation set ``eval.npz`` written by ``hand3d-make-eval-set``: load and check it.

Keys (N samples; H x W = the pipeline input size, 240 x 320 by default):

============== ====================== ======================================================
images         [N, H, W, 3] uint8     RGB frames at the pipeline input size
hand_side      [N, 2] float32         one-hot, left = [1, 0]
gt_mask        [N, H, W] bool         hand pixels of BOTH hands (what HandSegNet segments)
gt_uv          [N, 21, 2] float32     (x = col, y = row) in the frame, keypoint 0 = palm
gt_vis         [N, 21] bool           keypoint visibility
crops          [N, 256, 256, 3] f32   ground-truth hand crops in -0.5...0.5 (PoseNet input)
crop_uv        [N, 21, 2] float32     gt_uv inside the crop (x, y)
crop_scale     [N] float32            crop pixels per frame pixel
scoremaps      [N, 32, 32, 21] f32    ground-truth score maps, 8x8 average-pooled (lifting)
gt_xyz         [N, 21, 3] float32     metres, relative to the palm (keypoint 0)
keypoint_scale [N] float32            ||X12 - X11|| in metres
meta           str (JSON)             dataset, split, seed, input_size, root, created
============== ====================== ======================================================

TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

FORMAT_KEYS = (
    "images",
    "hand_side",
    "gt_mask",
    "gt_uv",
    "gt_vis",
    "crops",
    "crop_uv",
    "crop_scale",
    "scoremaps",
    "gt_xyz",
    "keypoint_scale",
    "meta",
)
# Expected trailing shapes (None = the frame size, checked against images).
_SHAPES = {
    "hand_side": (2,),
    "gt_uv": (21, 2),
    "gt_vis": (21,),
    "crops": (256, 256, 3),
    "crop_uv": (21, 2),
    "crop_scale": (),
    "scoremaps": (32, 32, 21),
    "gt_xyz": (21, 3),
    "keypoint_scale": (),
}


class EvalSetError(ValueError):
    """An eval set that is malformed or made for another input size."""


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """The arrays of ``eval.npz`` (see the module docstring) plus its path and meta dict."""

    path: pathlib.Path
    arrays: dict
    meta: dict

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __len__(self) -> int:
        return int(self.arrays["images"].shape[0])

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.arrays["images"].shape[1:3])

    def subset(self, num: int) -> EvalSet:
        """The first ``num`` samples (all when num <= 0 or larger than the set)."""
        if num <= 0 or num >= len(self):
            return self
        return EvalSet(self.path, {k: v[:num] for k, v in self.arrays.items()}, self.meta)

    def check_input_size(self, size, model_path) -> None:
        """Raise EvalSetError if the frames are not ``size`` = (H, W) of ``model_path``."""
        if tuple(int(v) for v in size) != self.input_size:
            raise EvalSetError(
                f"{self.path}: eval set frames are {list(self.input_size)} (H, W) but "
                f"{model_path} expects {list(size)}; rebuild it with "
                f"hand3d-make-eval-set --input_size={size[0]},{size[1]}"
            )


def load_eval_set(path) -> EvalSet:
    """Load and check ``eval.npz`` (allow_pickle=False).

    Raises:
        EvalSetError: a missing key or inconsistent shapes (the message names the file).
    """
    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise EvalSetError(f"{path}: cannot read the eval set: {e}") from e
    missing = [k for k in FORMAT_KEYS if k not in arrays]
    if missing:
        raise EvalSetError(f"{path}: missing keys {missing}; expected {list(FORMAT_KEYS)}")
    images = arrays["images"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise EvalSetError(
            f"{path}: images must be [N, H, W, 3] uint8, got {list(images.shape)} {images.dtype}"
        )
    n, height, width = images.shape[:3]
    expected = dict(_SHAPES, gt_mask=(height, width))
    for key, tail in expected.items():
        shape = arrays[key].shape
        if shape != (n,) + tail:
            raise EvalSetError(f"{path}: {key} has shape {list(shape)}, expected {[n, *tail]}")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as e:
        raise EvalSetError(f"{path}: meta is not a JSON string: {e}") from e
    return EvalSet(path, arrays, meta)
