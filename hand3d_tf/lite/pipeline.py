"""The whole ColorHandPose3D pipeline on TFLite models with the host glue, timed per stage.

    frame uint8 --glue_segment_pre--> HandSegNet --glue_segment--> crop --> PoseNet
          --glue_keypoints--> keypoints_uv;  PoseNet S3 + hand side --> lifting --> xyz

The glue is ``hand3d_tf.glue`` (NumPy/OpenCV, docs/original.md §5), the same code the Keras pipeline
uses. Stage times: ``handsegnet``, ``posenet``, ``lifting`` time ``invoke()`` only;
``glue_segment`` (normalisation, host upsampling of stride-8 logits, blob, box, crop) and
``glue_keypoints`` (score-map upsampling, argmax, back-projection) the host glue; ``io``
setting/reading tensors with (de)quantisation. ``total`` is the wall time of the frame.
TensorFlow-free.
"""

from __future__ import annotations

import time

import numpy as np

from hand3d_tf import glue
from hand3d_tf.lite import accuracy as acc

STAGES = ("glue_segment", "handsegnet", "posenet", "glue_keypoints", "lifting", "io")
GLUE_STAGES = ("glue_segment", "glue_keypoints")


class PipelineError(ValueError):
    """Models that cannot form a pipeline (missing net, batch > 1, size mismatch)."""


class TflitePipeline:
    """HandSegNet -> glue -> PoseNet -> glue -> lifting, on ``nets.NetModel`` objects.

    All three must have batch 1 (a camera pipeline processes one frame at a time).
    """

    def __init__(self, handsegnet, posenet, lifting):
        for name, net in (("handsegnet", handsegnet), ("posenet", posenet), ("lifting", lifting)):
            if net.sidecar.net != name:
                raise PipelineError(f"{net.entry.path} is a {net.sidecar.net}, not a {name}")
            if net.batch != 1:
                raise PipelineError(
                    f"{net.entry.path}: the pipeline needs batch 1, the model has batch {net.batch}"
                )
        self.handsegnet, self.posenet, self.lifting = handsegnet, posenet, lifting
        self.input_size = handsegnet.sidecar.input_size
        self.output_stride = handsegnet.sidecar.output_stride

    def _net(self, net, times, **feeds):
        t0 = time.perf_counter()
        net.model.set_inputs(net.prepare(**feeds))
        t1 = time.perf_counter()
        net.model.invoke()
        t2 = time.perf_counter()
        out = dict(net.outputs())
        t3 = time.perf_counter()
        times[net.sidecar.net] = (t2 - t1) * 1e3
        times["io"] += ((t1 - t0) + (t3 - t2)) * 1e3
        return out

    def process(self, frame: np.ndarray, hand_side: np.ndarray, center_rowcol=None, scale=None):
        """One frame [H, W, 3] uint8 and hand side [2] -> (result dict, stage times in ms).

        result: hand_mask [H, W] bool, hand_found bool, center_rowcol [2], scale float,
        keypoints_uv [21, 2] (x, y) frame pixels, keypoint_scores [21], scoremap
        [32, 32, 21] (PoseNet's last stage), xyz [21, 3] normalised (palm-relative,
        bone 12-11 = 1).

        center_rowcol [2] and scale (both or neither): crop there and skip HandSegNet (the
        tracker, docs/tracking.md); hand_mask is then all False, hand_found True and the
        ``handsegnet`` time 0.
        """
        if (center_rowcol is None) != (scale is None):
            raise ValueError("center_rowcol and scale go together; give both or neither")
        if tuple(frame.shape[:2]) != tuple(self.input_size):
            raise PipelineError(
                f"frame is {list(frame.shape[:2])}, "
                f"{self.handsegnet.entry.path} expects {list(self.input_size)}"
            )
        times = dict.fromkeys(STAGES, 0.0)
        t_start = time.perf_counter()

        t0 = time.perf_counter()
        image = glue.normalize_image(frame[None])
        times["glue_segment"] += (time.perf_counter() - t0) * 1e3
        if center_rowcol is None:
            logits = self._net(self.handsegnet, times, image=image)["logits"]
            t0 = time.perf_counter()
            logits = acc.full_size_logits(logits, self.input_size, self.output_stride)
            where = glue.locate_hand(logits)
        else:
            t0 = time.perf_counter()
            where = _given_location(frame.shape[:2], center_rowcol, scale)
        crop = glue.crop_hand(image, where.center_rowcol, where.scale)
        times["glue_segment"] += (time.perf_counter() - t0) * 1e3

        scoremap = self._net(self.posenet, times, image=crop)["scoremap"]

        t0 = time.perf_counter()
        rowcol, scores = glue.keypoints_from_scoremaps(scoremap)
        uv = glue.crop_to_image(rowcol, where.center_rowcol, where.scale)[0, :, ::-1]
        times["glue_keypoints"] = (time.perf_counter() - t0) * 1e3

        xyz = self._net(
            self.lifting,
            times,
            scoremap=scoremap,
            hand_side=np.asarray(hand_side, np.float32)[None],
        )["xyz"]
        times["total"] = (time.perf_counter() - t_start) * 1e3
        result = {
            "hand_mask": where.mask[0],
            "hand_found": bool(where.hand_found[0]),
            "center_rowcol": where.center_rowcol[0],
            "scale": float(where.scale[0]),
            "keypoints_uv": uv,
            "keypoint_scores": scores[0],
            "scoremap": scoremap[0],
            "xyz": xyz.reshape(21, 3),
        }
        return result, times


def _given_location(image_hw, center_rowcol, scale) -> glue.HandLocation:
    """A glue.HandLocation for a crop given by centre and scale (no mask, no box)."""
    center = np.asarray(center_rowcol, np.float32).reshape(1, 2)
    box = glue.HandBox(
        center, np.float32([np.nan]), np.full((1, 4), -1, np.int64), np.ones(1, bool)
    )
    mask = np.zeros((1, *image_hw), bool)
    return glue.HandLocation(mask=mask, box=box, scale=np.float32(scale).reshape(1))


def pipeline_accuracy(results: list, data) -> dict:
    """Mask IoU of the kept blob, 2-D EPE/AUC in the frame, 3-D EPE/AUC (mm) of N results."""
    n = len(results)
    mask = np.stack([r["hand_mask"] for r in results])
    uv = np.stack([r["keypoints_uv"] for r in results])
    xyz = np.stack([r["xyz"] for r in results]) * data["keypoint_scale"][:n, None, None]
    return {
        "blob": acc.mask_iou(mask, data["gt_mask"][:n]) if acc.has_masks(data) else None,
        "hand_found_rate": float(np.mean([r["hand_found"] for r in results])),
        "2d": acc.eval_2d(data["gt_uv"][:n], data["gt_vis"][:n], uv),
        "3d": acc.eval_3d(data["gt_xyz"][:n], xyz),
    }
