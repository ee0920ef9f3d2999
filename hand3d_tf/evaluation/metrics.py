"""The paper's keypoint evaluation: EPE, PCK and AUC per keypoint (docs/original.md §7). TF-free.

Protocol as in the original's evaluator:
- the error of keypoint k is the Euclidean distance ``||gt_k - pred_k||`` (pixels in 2-D,
  metres in 3-D) and is kept only where the keypoint is visible;
- thresholds = ``linspace(lo, hi, steps)``; PCK(t) = fraction of errors ``<= t`` (inclusive);
  AUC = trapezoid(PCK, t) / (hi - lo);
- every measure is computed per keypoint and then averaged over the keypoints that had at
  least one visible entry: "median EPE" is the MEAN of the per-keypoint medians, not a global
  median.

Deliberate difference: a non-finite prediction at a visible keypoint counts as an infinite
error (a miss at every threshold; ``epe_mean`` becomes inf) instead of being dropped, and is
counted in ``num_invalid``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hand3d_tf import keypoints as kp

# (lo, hi, steps) of the threshold grid (docs/original.md §7): 0-30 px and 0-50 mm, 20 thresholds each.
PRESET_2D = (0.0, 30.0, 20)
PRESET_3D = (0.0, 0.050, 20)  # metres; reported in mm
METRES_TO_MM = 1000.0
# eval_full's "20-50 mm" AUC starts at threshold index 8, i.e. 21.05 mm (docs/original.md §7).
STB_SUBRANGE_START = 8

# Zhang et al.'s STB curves that eval_full plots (docs/original.md §7), thresholds in mm. Only the
# 3-decimal values are known here; their AUCs over 20-50 mm are 0.709 / 0.748 / 0.839.
STB_REFERENCE_THRESHOLDS_MM = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
STB_REFERENCE_CURVES = {
    "PSO": (0.322, 0.539, 0.674, 0.757, 0.809, 0.865, 0.895),
    "ICPPSO": (0.520, 0.645, 0.717, 0.773, 0.809, 0.849, 0.868),
    "CHPR": (0.566, 0.717, 0.822, 0.882, 0.914, 0.938, 0.961),
}


# np.trapezoid is NumPy >= 2; np.trapz (its old name) is all NumPy 1.x has (JetPack 5).
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def pck_auc(thresholds, pck) -> float:
    """Area under a PCK curve normalised by the threshold range: trapezoid(pck) / (hi - lo)."""
    x = np.asarray(thresholds, dtype=np.float64)
    y = np.asarray(pck, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(
            f"thresholds and pck must be 1-D of equal length >= 2; received {x.shape}, {y.shape}"
        )
    return float(_trapezoid(y, x) / _trapezoid(np.ones_like(x), x))


def _json_float(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _json_list(values):
    return [_json_float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


@dataclasses.dataclass(frozen=True)
class EvalSummary:
    """Result of :meth:`KeypointEvaluator.summary`; lengths in the unit of the fed data.

    epe_mean / epe_median / auc / pck_curve [steps] are averages over the keypoints with at
    least one visible entry; per_keypoint_* are [21] (NaN where a keypoint was never visible);
    per_keypoint_count [21] is the number of visible entries; num_invalid counts visible
    entries with a non-finite prediction (counted as misses).
    """

    epe_mean: float
    epe_median: float
    auc: float
    pck_curve: np.ndarray
    thresholds: np.ndarray
    num_samples: int
    num_invalid: int
    per_keypoint_mean: np.ndarray
    per_keypoint_median: np.ndarray
    per_keypoint_auc: np.ndarray
    per_keypoint_count: np.ndarray

    def auc_between(self, start_index: int, stop_index: int | None = None) -> float:
        """AUC of the averaged PCK curve over thresholds[start_index:stop_index].

        ``auc_between(STB_SUBRANGE_START)`` is eval_full's "20-50 mm" number (21.05-50 mm).
        """
        sl = slice(start_index, stop_index)
        if self.thresholds[sl].size < 2:
            raise ValueError(
                f"sub-range [{start_index}:{stop_index}] of {self.thresholds.size} thresholds "
                "must hold at least 2 thresholds"
            )
        return pck_auc(self.thresholds[sl], self.pck_curve[sl])

    def in_units(self, factor: float) -> EvalSummary:
        """Copy with errors and thresholds multiplied by ``factor`` (e.g. 1000 for m -> mm)."""
        f = float(factor)
        return dataclasses.replace(
            self,
            epe_mean=self.epe_mean * f,
            epe_median=self.epe_median * f,
            thresholds=self.thresholds * f,
            per_keypoint_mean=self.per_keypoint_mean * f,
            per_keypoint_median=self.per_keypoint_median * f,
        )

    def to_dict(self) -> dict:
        """JSON-safe dict (lists and floats; non-finite values become None)."""
        return {
            "epe_mean": _json_float(self.epe_mean),
            "epe_median": _json_float(self.epe_median),
            "auc": _json_float(self.auc),
            "pck_curve": _json_list(self.pck_curve),
            "thresholds": _json_list(self.thresholds),
            "num_samples": int(self.num_samples),
            "num_invalid": int(self.num_invalid),
            "per_keypoint_mean": _json_list(self.per_keypoint_mean),
            "per_keypoint_median": _json_list(self.per_keypoint_median),
            "per_keypoint_auc": _json_list(self.per_keypoint_auc),
            "per_keypoint_count": [int(c) for c in self.per_keypoint_count],
        }


def _as_batch(arr: np.ndarray, ndim_single: int) -> np.ndarray:
    arr = np.asarray(arr)
    return arr[None] if arr.ndim == ndim_single else arr


class KeypointEvaluator:
    """Accumulates per-keypoint errors of visible keypoints; ``summary()`` gives the measures."""

    def __init__(self):
        self._errors: list[np.ndarray] = []
        self._visible: list[np.ndarray] = []

    def reset(self) -> None:
        self._errors.clear()
        self._visible.clear()

    @property
    def num_samples(self) -> int:
        return int(sum(e.shape[0] for e in self._errors))

    def feed(self, gt, vis, pred) -> None:
        """Add one sample (gt/pred [21, D], vis [21]) or a batch ([B, 21, D], [B, 21]).

        gt and pred must have the same shape; vis is boolean (non-zero = visible). Ground
        truth must be finite where visible; a non-finite prediction counts as a miss.
        """
        gt_arr = np.asarray(gt, dtype=np.float64)
        pred_arr = np.asarray(pred, dtype=np.float64)
        vis_arr = np.asarray(vis)
        if gt_arr.shape != pred_arr.shape:
            raise ValueError(f"gt shape {gt_arr.shape} and pred shape {pred_arr.shape} differ")
        if gt_arr.ndim not in (2, 3) or gt_arr.shape[-2] != kp.NUM_KEYPOINTS:
            raise ValueError(f"gt must have shape [21, D] or [B, 21, D]; received {gt_arr.shape}")
        if vis_arr.shape != gt_arr.shape[:-1]:
            raise ValueError(
                f"vis shape {vis_arr.shape} does not match gt {gt_arr.shape} "
                f"(expected {gt_arr.shape[:-1]})"
            )
        gt_arr = _as_batch(gt_arr, 2)
        pred_arr = _as_batch(pred_arr, 2)
        vis_arr = _as_batch(vis_arr, 1).astype(bool)
        bad_gt = vis_arr & ~np.all(np.isfinite(gt_arr), axis=-1)
        if bad_gt.any():
            b, k = np.argwhere(bad_gt)[0]
            raise ValueError(f"ground truth is not finite at visible keypoint {k} of sample {b}")
        errors = np.linalg.norm(gt_arr - pred_arr, axis=-1)
        errors[~np.isfinite(errors)] = np.inf  # NaN prediction: a miss at every threshold
        self._errors.append(errors)
        self._visible.append(vis_arr)

    def summary(self, lo: float, hi: float, steps: int) -> EvalSummary:
        """Measures over thresholds linspace(lo, hi, steps) (use PRESET_2D / PRESET_3D)."""
        if not float(lo) < float(hi):
            raise ValueError(f"threshold range needs lo < hi; received lo={lo}, hi={hi}")
        if int(steps) != steps or steps < 2:
            raise ValueError(f"steps must be an integer >= 2; received {steps}")
        if not self._errors:
            raise ValueError("no samples were fed to the evaluator")
        thresholds = np.linspace(float(lo), float(hi), int(steps))
        errors = np.concatenate(self._errors)
        visible = np.concatenate(self._visible)
        n_kp = kp.NUM_KEYPOINTS
        means, medians, aucs = (np.full(n_kp, np.nan) for _ in range(3))
        curves = np.full((n_kp, thresholds.size), np.nan)
        counts = visible.sum(axis=0)
        for k in range(n_kp):
            e = errors[visible[:, k], k]
            if e.size == 0:
                continue  # never visible: skipped, as the original
            means[k] = np.mean(e)
            medians[k] = np.median(e)
            curves[k] = np.mean(e[:, None] <= thresholds[None, :], axis=0)
            aucs[k] = pck_auc(thresholds, curves[k])
        used = counts > 0
        if not used.any():
            raise ValueError(f"no keypoint was visible in any of the {errors.shape[0]} samples")
        return EvalSummary(
            epe_mean=float(np.mean(means[used])),
            epe_median=float(np.mean(medians[used])),
            auc=float(np.mean(aucs[used])),
            pck_curve=np.mean(curves[used], axis=0),
            thresholds=thresholds,
            num_samples=int(errors.shape[0]),
            num_invalid=int(np.sum(np.isinf(errors) & visible)),
            per_keypoint_mean=means,
            per_keypoint_median=medians,
            per_keypoint_auc=aucs,
            per_keypoint_count=counts.astype(np.int64),
        )


def set_root(points, vis, root: str, gt_index0: str):
    """Make keypoint 0 of ground-truth ``points`` [..., 21, D] the requested root.

    root: "palm" or "wrist", what keypoint 0 of the ground truth is compared as.
    gt_index0: what keypoint 0 of ``points`` is on input ("wrist" for raw RHD, "palm" for
    STB and for readers run with the palm setting). Wrist -> palm takes the midpoint of
    keypoints 0 and 12 (visible if either is, docs/original.md §6); palm -> wrist is impossible.
    Returns (points, vis) copies.
    """
    for name, value in (("root", root), ("gt_index0", gt_index0)):
        if value not in kp.ROOTS:
            raise ValueError(f"{name} must be one of {kp.ROOTS}; received {value!r}")
    points = np.array(points, dtype=np.float64, copy=True)
    vis = np.array(vis, dtype=bool, copy=True)
    if root == gt_index0:
        return points, vis
    if root == kp.ROOT_WRIST:
        raise ValueError(
            "root='wrist' needs ground truth whose keypoint 0 is the wrist; "
            "received gt_index0='palm' (the wrist cannot be recovered from the palm)"
        )
    return kp.wrist_to_palm(points, vis)


def align_3d(gt_xyz, vis, pred_xyz_normed, root: str = "palm", gt_index0: str = "wrist"):
    """The original's 3-D alignment (docs/original.md §7): root-relative, scale from the ground truth.

    gt_xyz: [B, 21, 3] (or [21, 3]) camera-frame metres; vis: [B, 21] bool;
    pred_xyz_normed: network output, root-relative and scale-normalised (bone 12-11 = 1).
    Ground truth gets keypoint 0 = ``root`` (see :func:`set_root`) and is made relative to
    it; the prediction is multiplied by the ground-truth bone length ||X12 - X11||, as
    eval3d / eval_full do (absolute position and scale are never estimated).
    Returns (gt_rel [B, 21, 3] m, vis [B, 21], pred_metric [B, 21, 3] m).

    Root and Table 1: the released networks predict the PALM as keypoint 0 and everything
    relative to it, so root="palm" is the correct comparison. root="wrist" compares against
    the wrist instead, the analogue of the known eval2d mismatch behind the paper's Table 1
    full-image rows (the original README's known issue 1, docs/original.md §11); in 3-D
    it shifts every keypoint by the palm-wrist offset, so only use it for networks trained
    with the wrist as root.
    """
    gt, v = set_root(gt_xyz, vis, root, gt_index0)
    pred = np.asarray(pred_xyz_normed, dtype=np.float64)
    if pred.shape != gt.shape or gt.shape[-2:] != (kp.NUM_KEYPOINTS, 3):
        raise ValueError(
            f"gt_xyz and pred_xyz_normed must both be [B, 21, 3]; received {gt.shape}, {pred.shape}"
        )
    a, b = kp.SCALE_BONE
    scale = np.linalg.norm(gt[..., a, :] - gt[..., b, :], axis=-1)
    gt_rel = gt - gt[..., :1, :]
    return gt_rel, v, pred * scale[..., None, None]


def evaluate_3d(
    gt_xyz,
    vis,
    pred_xyz_normed,
    root: str = "palm",
    gt_index0: str = "wrist",
    preset=PRESET_3D,
) -> EvalSummary:
    """Align with :func:`align_3d` and evaluate over ``preset``; result in metres."""
    evaluator = KeypointEvaluator()
    evaluator.feed(*align_3d(gt_xyz, vis, pred_xyz_normed, root=root, gt_index0=gt_index0))
    return evaluator.summary(*preset)
