"""Evaluation at the end of a training run, on the held-out split: JSON + PNG in <out>/eval/.

- PoseNet: the ``pose2d_gt_crop`` protocol (eval2d_gt_cropped, docs/original.md §7): argmax of the
  legacy-upsampled last stage in the ground-truth crop, errors in source-image pixels;
  PCK over 0-30 px.
- lifting: the ``lifting3d`` protocol (eval3d): prediction times the ground-truth bone
  length, all 21 keypoints counted; PCK over 0-50 mm.
- HandSegNet: the paper reports no segmentation metric, so this gives the hand-class IoU
  and pixel accuracy over all evaluated pixels, and a PNG of a few predicted masks.
"""

from __future__ import annotations

import json
import os

import numpy as np

from hand3d_tf import geometry, glue
from hand3d_tf.evaluation import plots, protocols
from hand3d_tf.training.checkpoints import write_json_atomic
from hand3d_tf.training.presets import TrainConfig

EVAL_SUBDIR = "eval"
EVAL_JSON = "eval.json"
EVAL_PNG = "eval.png"


def _predict(model, config: TrainConfig, inputs: dict):
    from hand3d_tf.training.step import forward  # TensorFlow: only when a model is run

    return forward(model, config.net, inputs, training=False)


def predict_keypoints_uv(model, config: TrainConfig, inputs: dict) -> np.ndarray:
    """PoseNet uv (column, row) in the crop [B, 21, 2] from the last stage (docs/original.md §5)."""
    stages = _predict(model, config, inputs)
    rowcol, _ = glue.keypoints_from_scoremaps(np.asarray(stages[-1], np.float32), config.image_size)
    return rowcol[..., ::-1].astype(np.float64)


def predict_xyz_normed(model, config: TrainConfig, inputs: dict) -> np.ndarray:
    """Lifting output as root-relative, scale-normalised xyz [B, 21, 3]."""
    outputs = _predict(model, config, inputs)
    if "xyz" in outputs:
        return np.asarray(outputs["xyz"], np.float64)
    return geometry.bone_relative_inverse(np.asarray(outputs["local"], np.float64))


def evaluate_and_write(config: TrainConfig, model, batches, chief: bool = True) -> dict:
    """Evaluate ``model`` on (inputs, truth) batches; write eval.json / eval.png (chief)."""
    out_dir = os.path.join(config.output_dir, EVAL_SUBDIR)
    limit = config.eval_max_samples
    if config.net == "handsegnet":
        result, png_writer = _evaluate_segmentation(config, model, batches, limit)
    else:
        result, png_writer = _evaluate_keypoints(config, model, batches, limit)
    result = dict(result, net=config.net, run_name=config.run_name)
    if chief:
        os.makedirs(out_dir, exist_ok=True)
        write_json_atomic(os.path.join(out_dir, EVAL_JSON), result)
        png_writer(os.path.join(out_dir, EVAL_PNG))
    return result


def _evaluate_keypoints(config, model, batches, limit):
    if config.net == "posenet":
        protocol, unit, factor = protocols.POSE2D_GT_CROP, "px", 1.0

        def predictor(sample):
            return predict_keypoints_uv(model, config, sample)

    else:
        protocol, unit, factor = protocols.LIFTING3D, "mm", 1000.0

        def predictor(sample):
            return predict_xyz_normed(model, config, sample)

    # The pipelines (and smoke data) deliver keypoint 0 as the palm centre already.
    proto_config = protocols.ProtocolConfig(root="palm", gt_index0="palm", progress=False)
    samples = _limited(({**inputs, **truth} for inputs, truth in batches), limit)
    summary = protocols.run_protocol(protocol, samples, predictor, proto_config)
    summary = summary.in_units(factor)
    result = dict(summary.to_dict(), protocol=protocol, unit=unit)

    def write_png(path):
        plots.plot_pck(
            {config.run_name: (summary.thresholds, summary.pck_curve)},
            path,
            unit=unit,
            title=f"{config.run_name}: {protocol} (held-out split)",
        )

    return result, write_png


def _limited(batches, limit):
    """Yield batches until ``limit`` samples (None: all); the last batch is cut to fit."""
    seen = 0
    for batch in batches:
        if limit is not None and seen >= limit:
            return
        n = len(next(iter(batch.values())))
        if limit is not None and seen + n > limit:
            batch = {k: v[: limit - seen] for k, v in batch.items()}
            n = limit - seen
        seen += n
        yield batch


def _evaluate_segmentation(config, model, batches, limit):
    intersection = union = correct = total = 0
    examples = []
    num = 0
    for batch in _limited(({**i, **t} for i, t in batches), limit):
        logits = np.asarray(_predict(model, config, batch), np.float32)
        pred = logits[..., 1] > logits[..., 0]  # = softmax > 0.5 (docs/original.md §5 step 2.2)
        gt = np.asarray(batch["hand_mask"])[..., 1] > 0.5
        intersection += int(np.sum(pred & gt))
        union += int(np.sum(pred | gt))
        correct += int(np.sum(pred == gt))
        total += gt.size
        num += gt.shape[0]
        for image, g, p in zip(batch["image"], gt, pred):
            if len(examples) < 4:
                examples.append((np.asarray(image), g, p))
    if num == 0:
        raise ValueError("the evaluation split yielded no samples")
    result = {
        "hand_iou": intersection / union if union else None,
        "pixel_accuracy": correct / total,
        "num_samples": num,
    }

    def write_png(path):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.0, 2.0 * len(examples)), dpi=100)
        FigureCanvasAgg(fig)
        for row, (image, g, p) in enumerate(examples):
            for col, (img, title) in enumerate(
                ((np.clip(image + 0.5, 0, 1), "input"), (g, "ground truth"), (p, "predicted"))
            ):
                ax = fig.add_subplot(len(examples), 3, 3 * row + col + 1)
                ax.imshow(img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1)
                ax.set_axis_off()
                if row == 0:
                    ax.set_title(title, fontsize=9)
        iou = result["hand_iou"]
        fig.suptitle(f"{config.run_name}: hand IoU {iou if iou is None else round(iou, 3)}")
        fig.savefig(path)

    return result, write_png


def load_evaluation(output_dir: str) -> dict:
    with open(os.path.join(output_dir, EVAL_SUBDIR, EVAL_JSON)) as f:
        return json.load(f)
