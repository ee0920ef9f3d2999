"""Where the 3D error of the "proposed" lifting comes from: viewpoint or canonical pose.

The proposed lifting predicts a canonical pose (PosePrior) and a rotation into camera axes
(ViewpointNet), and the 3D keypoints are their product (docs/original.md §3, §6). Swapping one factor
for its ground truth tells which one costs the error:

    diag = LiftingDiagnosis(pipe)
    summaries = evaluate_source("lifting3d", "synthetic", source, diag.predictors)
    diag.summary(summaries)  # EPE / AUC of each predictor + the viewpoint error in degrees

``predictors`` holds three lifting3d predictors on the same batches: "model" (both factors
predicted, = the lifting3d protocol), "gt_rotation" (predicted canonical pose, true rotation)
and "gt_canonical" (true canonical pose, predicted rotation). The ground-truth factors come
from the sample's ``xyz_normed`` through the canonical frame (``geometry.canonical_frame``).
The geodesic angle between the predicted and the true rotation is collected on the way.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import geometry
from hand3d_tf.evaluation import metrics as ev


def rotation_error_deg(r_pred: np.ndarray, r_true: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotation matrices [..., 3, 3] (0 = identical)."""
    r_pred, r_true = np.asarray(r_pred, np.float64), np.asarray(r_true, np.float64)
    if r_pred.shape[-2:] != (3, 3) or r_pred.shape != r_true.shape:
        raise ValueError(
            f"rotations must both be [..., 3, 3]; received {r_pred.shape} and {r_true.shape}"
        )
    relative = r_pred @ np.swapaxes(r_true, -1, -2)
    # atan2(sin, cos) rather than arccos(cos): exact near 0 deg, also for the slightly
    # non-orthonormal matrices of the original's Rodrigues layer (docs/original.md §3, eps 1e-8).
    cos = (np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = relative - np.swapaxes(relative, -1, -2)
    sin = np.sqrt(skew[..., 2, 1] ** 2 + skew[..., 0, 2] ** 2 + skew[..., 1, 0] ** 2) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def true_factors(xyz_normed: np.ndarray, hand_side: np.ndarray):
    """(canonical pose as the network's target [B, 21, 3], rotation R = M.T [B, 3, 3], is_right).

    The canonical pose is mirrored for right hands, as in training (docs/original.md §6), so that
    ``geometry.lift_to_xyz(canonical, R, is_right)`` gives the root-relative ``xyz_normed``.
    """
    is_right = np.asarray(hand_side)[:, 1] > 0.5
    canonical, rot_mat = geometry.canonical_frame(np.asarray(xyz_normed, np.float64))
    return (
        geometry.flip_right_hand(canonical, is_right),
        geometry.canonical_rotation_target(rot_mat),
        is_right,
    )


class LiftingDiagnosis:
    """lifting3d predictors that swap in ground-truth factors; see the module docstring."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.rotation_errors: list[np.ndarray] = []
        self.predictors = {
            "model": self._model,
            "gt_rotation": self._gt_rotation,
            "gt_canonical": self._gt_canonical,
        }

    def _lift(self, sample: dict) -> dict:
        out = self.pipe.lift(sample["scoremap_pooled"], sample["hand_side"])
        if "rotation" not in out or "xyz_canonical" not in out:
            raise ValueError(
                "the lifting diagnosis needs a lifting with canonical pose and rotation outputs "
                f"(the 'proposed' variant); this one returns {sorted(out)}"
            )
        return out

    def _model(self, sample: dict) -> np.ndarray:
        return self._lift(sample)["xyz"]

    def _gt_rotation(self, sample: dict) -> np.ndarray:
        out = self._lift(sample)
        _, rotation, is_right = true_factors(sample["xyz_normed"], sample["hand_side"])
        return geometry.lift_to_xyz(out["xyz_canonical"], rotation, is_right)

    def _gt_canonical(self, sample: dict) -> np.ndarray:
        out = self._lift(sample)
        canonical, rotation, is_right = true_factors(sample["xyz_normed"], sample["hand_side"])
        self.rotation_errors.append(rotation_error_deg(out["rotation"], rotation))
        return geometry.lift_to_xyz(canonical, out["rotation"], is_right)

    def summary(self, summaries: dict) -> dict:
        """JSON numbers: per predictor EPE mean/median (mm) and AUCs; viewpoint error (deg)."""
        out = {}
        for name, summary in summaries.items():
            mm = summary.in_units(ev.METRES_TO_MM)
            out[name] = {
                "epe_mean_mm": mm.epe_mean,
                "epe_median_mm": mm.epe_median,
                "auc_0_50": mm.auc,
                "auc_20_50": mm.auc_between(ev.STB_SUBRANGE_START),
            }
        errors = np.concatenate(self.rotation_errors) if self.rotation_errors else np.zeros(0)
        if errors.size:
            out["rotation_error_deg"] = {
                "median": float(np.median(errors)),
                "mean": float(errors.mean()),
                "p90": float(np.percentile(errors, 90)),
                "num_samples": int(errors.size),
            }
        return out
