"""The default model on real photographs: PCK against teacher labels, mask IoU on keyed
masks (docs/autolabel.md, "Measuring on real photographs"). No TensorFlow of its own.

The reference is the teacher's 2D label of a ``hand3d-autolabel`` split (MediaPipe's hand
landmark model, kept only where it was confident and stable); no hand-made labels exist for
these photos, so "error" means distance to the teacher. Every measure runs on the ORIGINAL
photo, as a user would run ``hand3d-predict`` on it: the labels are mapped back from the
split's letterboxed frame.

- full pipeline: ``predict(photo, hand_side=label's side)``;
- PoseNet on the true box: ``predict_at`` on the crop the glue would take around the
  label's keypoints (``tracking.keypoint_crop``, margin 0), so only PoseNet is measured;
- PCK@t: the fraction of keypoints within t x hand size (the longer side of the label's
  keypoint box) of the label, keypoint 0 as the palm centre (the networks' index 0);
- mask IoU (total over the images) on samples whose mask is trusted (a keyed plain
  background), hand pixels only.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from hand3d_tf import images
from hand3d_tf import keypoints as kp
from hand3d_tf.autolabel import CLASS_LEFT, letterbox_geometry, read_image


@dataclasses.dataclass(frozen=True)
class RealSample:
    image: np.ndarray  # the original photo, RGB uint8
    uv: np.ndarray  # [21, 2] teacher label, original pixels, index 0 = palm centre
    side: int  # 0 left, 1 right
    hand_mask: np.ndarray | None  # bool [H, W] where trusted, else None
    source: str


def load_split(split_dir, max_samples: int = 0) -> list[RealSample]:
    """The samples of a ``hand3d-autolabel`` split, in the original photos' frames."""
    import cv2

    from hand3d_tf.data.rhd import RHDReader

    split_dir = pathlib.Path(split_dir)
    reader = RHDReader(split_dir.parent, split_dir.name)
    labels = json.loads((split_dir / "labels.json").read_text(encoding="utf-8"))
    frame = int(reader.manifest["config"]["frame"]) if reader.manifest else 320
    by_id = {s["id"]: s for s in labels["samples"] if "id" in s}
    out = []
    for i in range(len(reader)):
        if max_samples and len(out) >= max_samples:
            break
        sid = int(reader.ids[i])
        source = by_id[sid]["source"]
        image = read_image(source.split("#frame")[0]) if "#frame" not in source else None
        if image is None:
            continue
        side = int(reader.hand_side[i])
        uv = reader.uv[i, 21 * side : 21 * side + 21].astype(np.float64)
        # Back from the letterboxed frame: the inverse of autolabel.label_sample's mapping.
        scale, nw, nh, offset = letterbox_geometry(image.shape[:2], frame)
        uv = (uv - offset) / scale
        uv = kp.wrist_to_palm(uv)[0]
        mask = None
        if reader.mask_trusted[i]:
            boxed = images.read_image(reader.mask_path(i), color=False)
            h, w = image.shape[:2]
            ox, oy = int(offset[0]), int(offset[1])
            inner = boxed[oy : oy + nh, ox : ox + nw]
            mask = cv2.resize(inner, (w, h), interpolation=cv2.INTER_NEAREST) >= CLASS_LEFT
        out.append(RealSample(image, uv, side, mask, source))
    return out


def pck(pred: np.ndarray, truth: np.ndarray, threshold: float) -> np.ndarray:
    """Per-sample fraction of keypoints [N, 21, 2] within threshold x hand size."""
    size = np.maximum((truth.max(1) - truth.min(1)).max(-1), 1.0)
    dist = np.linalg.norm(pred - truth, axis=-1) / size[:, None]
    return (dist <= threshold).mean(-1)


def normalised_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    size = np.maximum((truth.max(1) - truth.min(1)).max(-1), 1.0)
    return np.linalg.norm(pred - truth, axis=-1) / size[:, None]


def evaluate(pipe, samples: list[RealSample], threshold: float = 0.2) -> dict:
    """PCK of the full pipeline and of PoseNet on the true box, and the mask IoU."""
    from hand3d_tf.tracking import keypoint_crop

    side_names = ("left", "right")
    full, box, inter, union = [], [], 0, 0
    truth = []
    for s in samples:
        result = pipe.predict(s.image, hand_side=side_names[s.side])
        full.append(result.keypoints_uv[0])
        centre, scale = keypoint_crop(s.uv, s.image.shape[:2], margin=0.0)
        at = pipe.predict_at(s.image, centre, scale, hand_side=side_names[s.side])
        box.append(at.keypoints_uv[0])
        truth.append(s.uv)
        if s.hand_mask is not None:
            pred_mask = result.hand_mask[0]
            inter += int((pred_mask & s.hand_mask).sum())
            union += int((pred_mask | s.hand_mask).sum())
    truth = np.asarray(truth)
    full, box = np.asarray(full), np.asarray(box)
    full_err, box_err = normalised_errors(full, truth), normalised_errors(box, truth)
    return {
        "samples": len(samples),
        "threshold": threshold,
        "full_pck": float((full_err <= threshold).mean()),
        "posenet_box_pck": float((box_err <= threshold).mean()),
        "full_median_error": float(np.median(full_err)),
        "posenet_box_median_error": float(np.median(box_err)),
        "mask_samples": int(sum(s.hand_mask is not None for s in samples)),
        "mask_iou": float(inter / union) if union else None,
        "per_sample_full_median": np.median(full_err, axis=1).tolist(),
    }


def teacher_on_renders(
    data_dir, split: str = "evaluation", count: int = 200, threshold: float = 0.2
) -> dict:
    """The teacher against EXACT labels: synthetic renders of a held-out split (the only
    photos-like images with true 2D keypoints here). Its labels are kept by the same rule as
    on photos; PCK is over the kept hands, index 0 as the palm centre, hand size from the
    truth; the side is checked against the rendered main hand."""
    from hand3d_tf import teacher as tc
    from hand3d_tf.data.rhd import RHDReader
    from hand3d_tf.data.samples import sides_from_masks

    reader = RHDReader(data_dir, split)
    source = reader.to_source()
    sides = sides_from_masks(source) if source.hand_side is None else source.hand_side
    teacher = tc.Teacher()
    preds, truths, side_ok, tried = [], [], 0, 0
    for i in range(min(count, len(reader))):
        sample = reader.sample(i)
        side = int(sides[i])
        truth = sample["uv"][21 * side : 21 * side + 21]
        vis = sample["vis"][21 * side : 21 * side + 21]
        if vis.sum() < 19:
            continue
        tried += 1
        kept = [h for h in tc.label_hands(teacher, sample["image"]) if h.kept]
        if not kept:
            continue
        # The kept hand nearest the rendered main hand (a second rendered hand may be found).
        best = min(kept, key=lambda h: np.linalg.norm(h.uv - truth, axis=1).mean())
        preds.append(kp.wrist_to_palm(best.uv)[0])
        truths.append(kp.wrist_to_palm(truth)[0])
        side_ok += int(best.side == side)
    preds, truths = np.asarray(preds), np.asarray(truths)
    err = normalised_errors(preds, truths)
    return {
        "renders": tried,
        "kept": len(preds),
        "pck": float((err <= threshold).mean()),
        "median_error": float(np.median(err)),
        "side_accuracy": side_ok / max(len(preds), 1),
    }
