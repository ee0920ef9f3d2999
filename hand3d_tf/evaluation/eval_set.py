"""The evaluation set ``eval.npz`` (what hand3d-make-eval-set writes) from a dataset.

    from hand3d_tf.evaluation.eval_set import EvalSetConfig, make_eval_set
    path, count = make_eval_set(EvalSetConfig(dataset="synthetic", num=50), "eval.npz")

The dataset is read with :func:`hand3d_tf.evaluation.sources.open_source` and the
evaluation pipeline (no noise, palm as keypoint 0, docs/original.md §8.3); the file follows
the schema of :mod:`hand3d_tf.lite.evalset`: frames resized to the input size (RHD's
320x320 squeezed anisotropically like eval2d, docs/original.md §11.12) with the
ground-truth uv scaled alike, the ground-truth hand crops, the pooled ground-truth score
maps (the lifting input), palm-relative xyz and the bone scale. ``gt_mask`` holds the pixels
of BOTH hands (what HandSegNet segments); STB has no masks (all False).

TF-free at import: TensorFlow comes in with the data pipeline.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import tempfile

import numpy as np

from hand3d_tf.atomic import atomic_write
from hand3d_tf.constants import DATASETS, DEFAULT_INPUT_SIZE, SPLITS
from hand3d_tf.evaluation import sources

# Evaluation presets of hand3d_tf.data.pipelines per dataset (palm root, no noise).
PRESETS = {"synthetic": "lifting_rhd_eval", "rhd": "lifting_rhd_eval", "stb": "full_stb_eval"}
BATCH = 8
MIN_SIDE = 32  # the smallest frame side the networks' strides leave something of


class EmptyEvalSetError(sources.InputError):
    """No sample of the source passed the selection (``min_visible``)."""


@dataclasses.dataclass(frozen=True)
class EvalSetConfig:
    """What goes into an eval set.

    dataset: rhd | stb | synthetic; data_dir: its root (or record file); None renders
    fresh synthetic samples from ``seed`` (synthetic only). num: the first N samples that
    pass (0 = all); min_visible: skip samples whose chosen hand has fewer visible
    keypoints (an absent hand has none and cannot be scored); input_hw: frame size (H, W).
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str = "evaluation"
    num: int = 100
    input_hw: tuple[int, int] = DEFAULT_INPUT_SIZE
    seed: int = 0
    min_visible: int = 1

    def __post_init__(self):
        sources._choice("dataset", self.dataset, DATASETS)
        sources._choice("split", self.split, SPLITS)
        if len(self.input_hw) != 2 or min(self.input_hw) < MIN_SIDE:
            raise ValueError(f"input size must be H, W with both >= {MIN_SIDE}; "
                             f"received {tuple(self.input_hw)}")  # fmt: skip
        if self.num < 0:
            raise ValueError(f"num must be >= 0 (0 = all); received {self.num}")
        if self.min_visible < 0:
            raise ValueError(f"min_visible must be >= 0; received {self.min_visible}")
        if self.dataset != "synthetic" and not self.data_dir:
            raise ValueError(f"dataset {self.dataset!r} needs a data directory")


def render_synthetic(directory, num: int, seed: int, split: str = "evaluation") -> str:
    """Render ``num`` synthetic samples into ``directory`` in the RHD layout; returns it."""
    from hand3d_tf.data.rhd import write_rhd_split
    from hand3d_tf.data.synthetic.config import SyntheticConfig
    from hand3d_tf.data.synthetic.sample import iterate_samples

    def as_rhd(samples):
        for i, s in enumerate(samples):
            yield {
                "id": i,
                "image": s["color"],
                "mask": s["mask"],
                "xyz": s["xyz"],
                "uv": s["uv_vis"][:, :2],
                "vis": s["uv_vis"][:, 2] > 0.5,
                "K": s["K"],
            }

    write_rhd_split(directory, split, as_rhd(iterate_samples(SyntheticConfig(), seed, 0, num)))
    return os.fspath(directory)


def _resize(images: np.ndarray, hw, interpolation) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(im, (hw[1], hw[0]), interpolation=interpolation) for im in images])


def convert_batch(b: dict, hw) -> dict:
    """One evaluation-pipeline batch (NumPy) -> eval-set fields at frame size ``hw``."""
    import cv2

    src_hw = b["image"].shape[1:3]
    # The pipeline's image is uint8 / 255 - 0.5 in float32: this inverts it exactly.
    pixels = np.clip(np.round((b["image"] + 0.5) * 255.0), 0, 255).astype(np.uint8)
    factor = np.float32([hw[1] / src_hw[1], hw[0] / src_hw[0]])  # (x, y), as eval2d
    if "hand_mask" in b:
        mask = (b["hand_mask"][..., 1] > 0.5).astype(np.uint8)
        gt_mask = _resize(mask, hw, cv2.INTER_NEAREST).astype(bool)
    else:
        gt_mask = np.zeros((len(pixels), *hw), bool)
    xyz = b["keypoints_xyz"].astype(np.float32)
    return {
        "images": _resize(pixels, hw, cv2.INTER_LINEAR),
        "hand_side": b["hand_side"].astype(np.float32),
        "gt_mask": gt_mask,
        "gt_uv": (b["keypoints_uv"] * factor).astype(np.float32),
        "gt_vis": b["keypoint_vis"].astype(bool),
        "crops": b["image_crop"].astype(np.float32),
        "crop_uv": b["keypoints_uv_crop"].astype(np.float32),
        "crop_scale": b["crop_scale"].reshape(-1).astype(np.float32),
        "scoremaps": b["scoremap_pooled"].astype(np.float32),
        "gt_xyz": xyz - xyz[:, :1],
        "keypoint_scale": b["keypoint_scale"].reshape(-1).astype(np.float32),
    }


def build_eval_set(source, dataset: str, num: int, hw, min_visible: int = 1) -> tuple[dict, int]:
    """(arrays, count): the first ``num`` samples of a Source (0 = all) with at least
    ``min_visible`` visible keypoints. EmptyEvalSetError when none passes."""
    from hand3d_tf.data.pipelines import evaluation_dataset, preset

    ds = evaluation_dataset(source, preset(PRESETS[dataset], batch_size=BATCH))
    parts: dict = {}
    count = 0
    for batch in ds.as_numpy_iterator():
        fields = convert_batch(batch, hw)
        chosen = np.flatnonzero(fields["gt_vis"].sum(axis=1) >= min_visible)
        if num > 0:
            chosen = chosen[: num - count]
        for key, value in fields.items():
            parts.setdefault(key, []).append(value[chosen])
        count += len(chosen)
        if 0 < num <= count:
            break
    if count == 0:
        raise EmptyEvalSetError(
            f"the {dataset} source yielded no sample with >= {min_visible} visible keypoints"
        )
    return {k: np.concatenate(v) for k, v in parts.items()}, count


def eval_set_meta(config: EvalSetConfig, count: int) -> dict:
    """The ``meta`` entry of the file (JSON): where the samples came from and how."""
    stb = config.dataset == "stb"
    return {
        "dataset": config.dataset,
        "split": "B1Counting+B1Random" if stb else config.split,
        "data_dir": config.data_dir,
        "seed": config.seed if config.data_dir is None else None,
        "num": count,
        "min_visible": config.min_visible,
        "input_size": list(config.input_hw),
        "root": "palm",
        "has_mask": not stb,
        "gt_mask": "both hands (RHD classes > 1)",
        "resize": "cv2 INTER_LINEAR (frames), INTER_NEAREST (mask); uv scaled by W'/W, H'/H",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def make_eval_set(config: EvalSetConfig, output) -> tuple[pathlib.Path, int]:
    """Read (or render) the samples of ``config`` and write ``output`` atomically.

    Returns (path, sample count). Data that cannot be read raise
    :class:`sources.InputError` naming the path; a selection left empty by ``min_visible``
    raises EmptyEvalSetError (an InputError too). Nothing is written on an error.
    """
    out = pathlib.Path(output)
    with tempfile.TemporaryDirectory(prefix="hand3d_eval_") as tmp:
        data_dir = config.data_dir
        if data_dir is None:  # synthetic: render just the samples needed
            # Some scenes have no hand in view (skipped by min_visible): render spares.
            data_dir = render_synthetic(tmp, 2 * max(config.num, 1) + 4, config.seed, config.split)
        with sources.input_errors():
            source = sources.open_source(config.dataset, data_dir, config.split)
            arrays, count = build_eval_set(
                source, config.dataset, config.num, config.input_hw, config.min_visible
            )
    meta = json.dumps(eval_set_meta(config, count))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: np.savez(f, meta=meta, **arrays))
    return out, count
