"""Accuracy of each network on the eval set, and agreement with the fp32 model of the net.

Protocols (docs/original.md §7), all on ``hand3d_tf/lite/evalset.py`` data:

- HandSegNet: mask IoU of the detection mask (hand logit > background logit, at the frame
  size) against the ground-truth hand pixels (both hands, what HandSegNet is trained on).
- PoseNet on ground-truth crops (eval2d_gt_cropped): argmax of the legacy-upsampled last
  score map vs the ground truth in the crop, both divided by the crop scale, so the
  errors are in frame pixels; 2-D EPE/AUC over 0-30 px (``PRESET_2D``), visible keypoints.
- Lifting on ground-truth score maps (eval3d): prediction x the ground-truth bone length
  vs palm-relative ground truth, all 21 keypoints; 3-D EPE/AUC over 0-50 mm
  (``PRESET_3D``) and the 20-50 mm sub-range of eval_full (threshold index 8 on).

Agreement: the same inputs through the fp32 model of the same net; max/mean absolute
difference of the main output, and the decision that follows from it (mask pixels,
keypoint argmax positions, 3-D keypoints in mm). TensorFlow-free.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import glue
from hand3d_tf.evaluation import metrics as ev

MAIN_OUTPUT = {"handsegnet": "logits", "posenet": "scoremap", "lifting": "xyz"}


def run_over(net, feeds: dict, tick=None) -> dict:
    """Run a ``nets.NetModel`` over N samples: feeds {role: [N, ...]} -> {role: [N, ...]}.

    The model's batch B (from its sidecar) is filled with consecutive samples; the last
    chunk is padded by repeating its final sample, and the padding is dropped.
    """
    n = len(next(iter(feeds.values())))
    batch = net.batch
    outputs: dict = {}
    for start in range(0, n, batch):
        idx = np.minimum(np.arange(start, start + batch), n - 1)
        result = net.run(**{role: arr[idx] for role, arr in feeds.items()})
        keep = min(batch, n - start)
        for role, value in result.items():
            outputs.setdefault(role, []).append(value.reshape((batch,) + value.shape[1:])[:keep])
        if tick:
            tick()
    return {role: np.concatenate(v) for role, v in outputs.items()}


def net_feeds(net_name: str, data) -> dict:
    """The eval-set inputs of a net, by role."""
    if net_name == "handsegnet":
        return {"image": data["images"]}
    if net_name == "posenet":
        return {"image": data["crops"]}
    if net_name == "lifting":
        return {"scoremap": data["scoremaps"], "hand_side": data["hand_side"]}
    raise ValueError(f"net {net_name!r} is not one of {list(MAIN_OUTPUT)}")


def full_size_logits(logits: np.ndarray, frame_hw, output_stride: int) -> np.ndarray:
    """Logits at the frame size: upsampled on the host (legacy bilinear) when stride 8."""
    if tuple(logits.shape[1:3]) == tuple(frame_hw):
        return logits
    if output_stride == 1:
        raise ValueError(
            f"logits are {list(logits.shape[1:3])} with output_stride 1, frame is {list(frame_hw)}"
        )
    return glue.resize_bilinear_legacy(logits, frame_hw)


# --- metrics -----------------------------------------------------------------------------


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> dict:
    """IoU of boolean masks [N, H, W]: mean of per-image IoUs (images where either mask has
    pixels) and the pooled IoU over all pixels."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    inter = (pred & gt).sum(axis=(1, 2)).astype(np.float64)
    union = (pred | gt).sum(axis=(1, 2)).astype(np.float64)
    used = union > 0
    return {
        "mask_iou": float(np.mean(inter[used] / union[used])) if used.any() else None,
        "mask_iou_pooled": float(inter.sum() / union.sum()) if union.sum() > 0 else None,
        "num_images": int(pred.shape[0]),
    }


def _summary_dict(summary: ev.EvalSummary, unit: str) -> dict:
    d = summary.to_dict()
    d["unit"] = unit
    return d


def eval_2d(gt_uv, vis, pred_uv) -> dict:
    """2-D EPE/AUC over 0-30 px (docs/original.md §7) of [N, 21, 2] pixel coordinates."""
    evaluator = ev.KeypointEvaluator()
    evaluator.feed(gt_uv, vis, pred_uv)
    return _summary_dict(evaluator.summary(*ev.PRESET_2D), "px")


def eval_3d(gt_xyz, pred_xyz_metric) -> dict:
    """3-D EPE/AUC over 0-50 mm and the 20-50 mm sub-range, in mm (all keypoints count)."""
    evaluator = ev.KeypointEvaluator()
    vis = np.ones(np.shape(gt_xyz)[:2], bool)
    evaluator.feed(gt_xyz, vis, pred_xyz_metric)
    summary = evaluator.summary(*ev.PRESET_3D).in_units(ev.METRES_TO_MM)
    d = _summary_dict(summary, "mm")
    d["auc_20_50"] = summary.auc_between(ev.STB_SUBRANGE_START)
    return d


def has_masks(data) -> bool:
    """False for eval sets made from data without masks (STB: ``meta.has_mask`` false)."""
    meta = getattr(data, "meta", None) or {}
    return bool(meta.get("has_mask", True))


def posenet_uv(scoremaps: np.ndarray) -> np.ndarray:
    """[N, 21, 2] (x, y) crop pixels: argmax of the legacy-upsampled score maps (glue)."""
    rowcol, _ = glue.keypoints_from_scoremaps(scoremaps)
    return rowcol[..., ::-1].astype(np.float64)


def accuracy(net_name: str, outputs: dict, data, output_stride: int = 1) -> dict:
    """Accuracy of one net's outputs {role: [N, ...]} on eval-set ``data``."""
    if net_name == "handsegnet":
        if not has_masks(data):
            return {"mask_iou": None, "mask_iou_pooled": None, "note": "eval set has no masks"}
        logits = full_size_logits(outputs["logits"], data["gt_mask"].shape[1:3], output_stride)
        return mask_iou(glue.detection_mask(logits), data["gt_mask"])
    if net_name == "posenet":
        scale = data["crop_scale"].astype(np.float64)[:, None, None]
        pred = posenet_uv(outputs["scoremap"])
        return {"2d": eval_2d(data["crop_uv"] / scale, data["gt_vis"], pred / scale)}
    if net_name == "lifting":
        pred = outputs["xyz"] * data["keypoint_scale"][:, None, None]
        return {"3d": eval_3d(data["gt_xyz"], pred)}
    raise ValueError(f"net {net_name!r} is not one of {list(MAIN_OUTPUT)}")


def agreement(
    net_name: str, outputs: dict, reference: dict, data=None, output_stride: int = 1
) -> dict | None:
    """How far a quantised model's outputs are from the fp32 model's on the same inputs."""
    role = MAIN_OUTPUT[net_name]
    if role not in outputs or role not in reference:
        return None
    out = outputs[role].astype(np.float64)
    ref = reference[role].astype(np.float64)
    diff = np.abs(out - ref)
    result = {
        "output": role,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "ref_abs_max": float(np.abs(ref).max()),
    }
    if net_name == "handsegnet":
        result["argmax_agreement"] = float(
            np.mean(np.argmax(outputs[role], axis=-1) == np.argmax(reference[role], axis=-1))
        )
    elif net_name == "posenet":
        a, b = posenet_uv(outputs[role]), posenet_uv(reference[role])
        result["argmax_agreement"] = float(np.mean(np.all(a == b, axis=-1)))
        result["keypoint_diff_px_mean"] = float(np.linalg.norm(a - b, axis=-1).mean())
    elif net_name == "lifting" and data is not None:
        scale = data["keypoint_scale"].astype(np.float64)[:, None]
        mm = np.linalg.norm(out - ref, axis=-1) * scale * ev.METRES_TO_MM
        result["keypoint_diff_mm_mean"] = float(mm.mean())
        result["keypoint_diff_mm_max"] = float(mm.max())
    return result


def pipeline_accuracy(results: list, data) -> dict:
    """Mask IoU of the kept blob, 2-D EPE/AUC in the frame, 3-D EPE/AUC (mm) of N results
    (``HandPoseResult``s of one frame each, on the first N eval samples)."""
    n = len(results)
    mask = np.stack([r.hand_mask[0] for r in results])
    uv = np.stack([r.keypoints_uv[0] for r in results])
    xyz = np.stack([r.keypoints_xyz[0] for r in results]) * data["keypoint_scale"][:n, None, None]
    return {
        "blob": mask_iou(mask, data["gt_mask"][:n]) if has_masks(data) else None,
        "hand_found_rate": float(np.mean([r.hand_found[0] for r in results])),
        "2d": eval_2d(data["gt_uv"][:n], data["gt_vis"][:n], uv),
        "3d": eval_3d(data["gt_xyz"][:n], xyz),
    }
