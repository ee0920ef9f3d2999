"""hand3d-make-eval-set: the preprocessed inputs and ground truth the TF-free benchmark needs.

    hand3d-make-eval-set --dataset=synthetic --num=50 --output=eval.npz
    hand3d-make-eval-set --dataset=rhd --data_dir=RHD_published_v2 --num=500 --output=eval.npz
    hand3d-make-eval-set --dataset=stb --data_dir=STB --num=500 --output=eval_stb.npz

Reads the dataset with this project's readers and its evaluation pipeline (no noise, palm
as keypoint 0, docs/original.md §8.3) and writes ``eval.npz`` in the schema of
``benchmarks/evalset.py``: frames resized to ``--input_size`` (default 240x320 as the
demo and eval_full, docs/original.md §5; RHD's 320x320 is squeezed anisotropically like eval2d,
docs/original.md §11.12) with the ground-truth uv scaled alike, the ground-truth hand crops, the
pooled ground-truth score maps (the lifting input), palm-relative xyz and the bone scale.
``gt_mask`` holds the pixels of BOTH hands (what HandSegNet segments); STB has no masks
(all False, ``meta.has_mask`` false). Samples whose chosen hand has fewer than
``--min_visible`` visible keypoints (no hand in view) are skipped. ``--dataset=synthetic``
without ``--data_dir`` renders fresh samples (seed ``--seed``) first.

``--output`` is required (a full set is large: 500 samples are about 118 MB). Exit status
2 on a user error, one line naming the flag or folder, checked before any data is read.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile

import cv2
import numpy as np
from absl import flags

from hand3d_tf.cli.errors import (
    UserError,
    check_input_dir,
    check_output_file,
    user_errors,
)
from hand3d_tf.cli.errors import run as run_cli
from hand3d_tf.cli.flag_values import given, parse_hw
from hand3d_tf.constants import DATASETS

# Evaluation presets of hand3d_tf.data.pipelines per dataset (palm root, no noise).
PRESETS = {"synthetic": "lifting_rhd_eval", "rhd": "lifting_rhd_eval", "stb": "full_stb_eval"}
BATCH = 8

_OVR = {"allow_override": True}
flags.DEFINE_string("dataset", "synthetic", f"one of {DATASETS}", **_OVR)
flags.DEFINE_string(
    "data_dir",
    None,
    "dataset root (RHD / synthetic: holds evaluation/; "
    "STB: holds labels/ and images/); synthetic without it renders samples",
    **_OVR,
)
flags.DEFINE_string("split", "evaluation", "RHD / synthetic split", **_OVR)
flags.DEFINE_integer("num", 100, "number of samples (the first N; 0 = all)", **_OVR)
flags.DEFINE_string("output", None, "output .npz (required)", **_OVR)
flags.DEFINE_list("input_size", ["240", "320"], "pipeline frame size H,W", **_OVR)
flags.DEFINE_integer("seed", 0, "seed of rendered synthetic samples", **_OVR)
flags.DEFINE_integer(
    "min_visible",
    1,
    "skip samples with fewer visible keypoints (an absent hand has none and cannot be scored)",
    **_OVR,
)
FLAGS = flags.FLAGS


class EmptyEvalSetError(ValueError):
    """No sample of the source passed the selection (--min_visible)."""


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


def open_source(dataset: str, data_dir, split: str):
    """The reader of ``dataset`` (a hand3d_tf.data Source provider)."""
    if dataset in ("rhd", "synthetic"):
        from hand3d_tf.data.rhd import RHDReader

        return RHDReader(data_dir, split)
    from hand3d_tf.data.stb import STBReader

    return STBReader(data_dir)


def _resize(images: np.ndarray, hw, interpolation) -> np.ndarray:
    return np.stack([cv2.resize(im, (hw[1], hw[0]), interpolation=interpolation) for im in images])


def convert_batch(b: dict, hw) -> dict:
    """One evaluation-pipeline batch (NumPy) -> eval-set fields at frame size ``hw``."""
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
    """The first ``num`` samples (0 = all) with at least ``min_visible`` visible keypoints."""
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


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.dataset not in DATASETS:
        raise UserError(f"--dataset must be one of {DATASETS}; received {FLAGS.dataset!r}")
    try:
        hw = parse_hw(given("input_size", ["240", "320"]))
    except ValueError:
        raise UserError(f"--input_size must be H,W; received {FLAGS.input_size}") from None
    if len(hw) != 2 or min(hw) < 32:
        raise UserError(f"--input_size must be H,W with both >= 32; received {hw}")
    if FLAGS.num < 0:
        raise UserError(f"--num must be >= 0 (0 = all); received {FLAGS.num}")
    if FLAGS.min_visible < 0:
        raise UserError(f"--min_visible must be >= 0; received {FLAGS.min_visible}")
    if FLAGS.dataset != "synthetic" and not FLAGS.data_dir:
        raise UserError(f"--dataset={FLAGS.dataset} needs --data_dir")
    if not FLAGS.output:
        raise UserError("--output is required, e.g. --output=eval.npz (the set can be large)")
    out = check_output_file(FLAGS.output, "--output")
    if FLAGS.data_dir:
        check_input_dir(FLAGS.data_dir, "--data_dir")
    with tempfile.TemporaryDirectory(prefix="hand3d_eval_") as tmp:
        data_dir = FLAGS.data_dir
        if data_dir is None:  # synthetic: render just the samples needed
            # Some scenes have no hand in view (skipped by --min_visible): render spares.
            num = 2 * max(FLAGS.num, 1) + 4
            data_dir = render_synthetic(tmp, num, FLAGS.seed, FLAGS.split)
        # The readers name the missing split, file or sample; an empty selection too.
        with user_errors(FileNotFoundError, ValueError, prefix=f"--data_dir={data_dir}: "):
            source = open_source(FLAGS.dataset, data_dir, FLAGS.split)
        with user_errors(FileNotFoundError, EmptyEvalSetError):
            arrays, count = build_eval_set(source, FLAGS.dataset, FLAGS.num, hw, FLAGS.min_visible)
    meta = {
        "dataset": FLAGS.dataset,
        "split": FLAGS.split if FLAGS.dataset != "stb" else "B1Counting+B1Random",
        "data_dir": FLAGS.data_dir,
        "seed": FLAGS.seed if FLAGS.data_dir is None else None,
        "num": count,
        "min_visible": FLAGS.min_visible,
        "input_size": list(hw),
        "root": "palm",
        "has_mask": FLAGS.dataset != "stb",
        "gt_mask": "both hands (RHD classes > 1)",
        "resize": "cv2 INTER_LINEAR (frames), INTER_NEAREST (mask); uv scaled by W'/W, H'/H",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp_out, meta=json.dumps(meta), **arrays)
    tmp_out.replace(out)
    print(f"wrote {out}: {count} samples, frames {hw[0]}x{hw[1]}, dataset {FLAGS.dataset}")


def run():
    run_cli(main, "hand3d-make-eval-set")


if __name__ == "__main__":
    run()
