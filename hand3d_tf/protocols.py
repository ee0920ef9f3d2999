"""The four evaluation protocols of the paper (facts §7) as plain functions. TF-free.

A protocol turns (sample, prediction) pairs into (gt, vis, pred) for the
:class:`~hand3d_tf.evaluation.KeypointEvaluator`. Readers and pipelines plug in from outside:
``run_protocol(protocol, samples, predictor, config)`` iterates ``samples`` (dicts, one hand
or a batch), calls ``predictor(sample)`` and returns an :class:`EvalSummary`.

| protocol | original script | sample keys | predictor returns | unit |
|---|---|---|---|---|
| pose2d_gt_crop | eval2d_gt_cropped | keypoints_uv_crop [21, 2], keypoint_vis [21], crop_scale [] | uv in the 256 crop [21, 2] | px of the source image (both / crop_scale) |
| pose2d_full | eval2d | keypoints_uv [21, 2], keypoint_vis [21] | uv in the same image frame [21, 2] | px |
| lifting3d | eval3d | keypoints_xyz [21, 3] m | xyz_normed [21, 3] | m (all 21 keypoints counted) |
| full3d | eval_full | keypoints_xyz [21, 3] m, keypoint_vis [21] | xyz_normed [21, 3] | m |

uv is (x = column, y = row). Batched samples add a leading B to every array. Keypoint 0 of
the ground truth is converted to ``config.root`` with ``evaluation.set_root`` (from what the
reader delivers, ``config.gt_index0``); 3-D protocols use ``evaluation.align_3d``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import numpy as np

from hand3d_tf import evaluation as ev
from hand3d_tf import keypoints as kp

POSE2D_GT_CROP = "pose2d_gt_crop"
POSE2D_FULL = "pose2d_full"
LIFTING3D = "lifting3d"
FULL3D = "full3d"
PROTOCOLS = (POSE2D_GT_CROP, POSE2D_FULL, LIFTING3D, FULL3D)
KIND = {POSE2D_GT_CROP: "2d", POSE2D_FULL: "2d", LIFTING3D: "3d", FULL3D: "3d"}

KEY_UV = "keypoints_uv"
KEY_UV_CROP = "keypoints_uv_crop"
KEY_XYZ = "keypoints_xyz"
KEY_VIS = "keypoint_vis"
KEY_CROP_SCALE = "crop_scale"


@dataclasses.dataclass(frozen=True)
class ProtocolConfig:
    """How to run a protocol.

    root: what keypoint 0 of the ground truth is compared as ("palm", the networks' root,
    or "wrist" to reproduce eval2d's Table 1 setting); gt_index0: what keypoint 0 of the
    samples is ("wrist": raw RHD, the default; "palm": STB and palm-setting readers — getting
    this wrong silently averages the palm with keypoint 12); preset: (lo, hi, steps)
    or None for PRESET_2D / PRESET_3D; max_samples: stop after this many predictor calls.
    """

    root: str = kp.ROOT_PALM
    gt_index0: str = kp.ROOT_WRIST
    preset: tuple | None = None
    max_samples: int | None = None
    progress: bool = True


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}; received {protocol!r}")
    return protocol


def default_preset(protocol: str) -> tuple:
    return ev.PRESET_2D if KIND[check_protocol(protocol)] == "2d" else ev.PRESET_3D


def _get(sample: dict, key: str, protocol: str) -> np.ndarray:
    if key not in sample:
        raise KeyError(
            f"protocol {protocol!r} needs sample key {key!r}; sample has {sorted(sample)}"
        )
    return np.asarray(sample[key], dtype=np.float64)


def _vis(sample: dict, protocol: str) -> np.ndarray:
    if KEY_VIS not in sample:
        raise KeyError(
            f"protocol {protocol!r} needs sample key {KEY_VIS!r}; sample has {sorted(sample)}"
        )
    return np.asarray(sample[KEY_VIS], dtype=bool)


def prepare(protocol: str, sample: dict, prediction, config: ProtocolConfig):
    """(gt, vis, pred) for the evaluator from one sample (or batch) and its prediction."""
    check_protocol(protocol)
    pred = np.asarray(prediction, dtype=np.float64)
    if protocol == POSE2D_GT_CROP:
        gt = _get(sample, KEY_UV_CROP, protocol)
        scale = _get(sample, KEY_CROP_SCALE, protocol)[..., None, None]
        gt, vis = ev.set_root(gt, _vis(sample, protocol), config.root, config.gt_index0)
        # Errors in source-image pixels: both sides divided by the crop scale (facts §7).
        return gt / scale, vis, pred / scale
    if protocol == POSE2D_FULL:
        gt, vis = ev.set_root(
            _get(sample, KEY_UV, protocol), _vis(sample, protocol), config.root, config.gt_index0
        )
        return gt, vis, pred
    gt = _get(sample, KEY_XYZ, protocol)
    # eval3d counts all 21 keypoints (visibility forced to 1, facts §7).
    vis = np.ones(gt.shape[:-1], bool) if protocol == LIFTING3D else _vis(sample, protocol)
    return ev.align_3d(gt, vis, pred, root=config.root, gt_index0=config.gt_index0)


def run_protocol(
    protocol: str,
    samples_iterable: Iterable[dict],
    predictor: Callable[[dict], np.ndarray],
    config: ProtocolConfig | None = None,
) -> ev.EvalSummary:
    """Evaluate ``predictor`` on ``samples_iterable`` with one of :data:`PROTOCOLS`.

    Returns the summary in the protocol's native unit (px, or m for the 3-D protocols; use
    ``summary.in_units(1000)`` for mm).
    """
    check_protocol(protocol)
    config = config or ProtocolConfig()
    from tqdm import tqdm

    evaluator = ev.KeypointEvaluator()
    for i, sample in enumerate(
        tqdm(samples_iterable, desc=protocol, disable=not config.progress, unit="sample")
    ):
        if config.max_samples is not None and i >= config.max_samples:
            break
        evaluator.feed(*prepare(protocol, sample, predictor(sample), config))
    return evaluator.summary(*(config.preset or default_preset(protocol)))
