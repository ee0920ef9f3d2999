"""lifting_diagnosis: viewpoint vs canonical-pose error of the proposed lifting (no TF)."""

from __future__ import annotations

import numpy as np
import pytest

from hand3d_tf import geometry
from hand3d_tf.evaluation import lifting_diagnosis as ld
from hand3d_tf.evaluation import protocols as pr


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def test_rotation_error_is_the_geodesic_angle():
    r = geometry.rotation_from_axis_angle(np.array([[0.3, -1.2, 0.5], [2.0, 0.1, 0.4]]))
    np.testing.assert_allclose(ld.rotation_error_deg(r, r), 0.0, atol=1e-5)
    np.testing.assert_allclose(ld.rotation_error_deg(_rot_z(40) @ r[0], r[0]), 40.0, atol=1e-9)
    np.testing.assert_allclose(ld.rotation_error_deg(r[1] @ _rot_z(-170), r[1]), 170.0, atol=1e-9)
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        ld.rotation_error_deg(np.eye(3), np.eye(3)[None])


def _hands(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0.0, 0.04, (n, 21, 3)) + np.array([0.05, -0.02, 0.5])
    normed, _ = geometry.normalize(xyz)
    sides = np.zeros((n, 2), np.float32)
    sides[np.arange(n), (np.arange(n) % 2)] = 1.0  # left, right, left, ...
    return xyz, normed, sides


def test_true_factors_rebuild_the_pose_for_both_hand_sides():
    _, normed, sides = _hands(6)
    canonical, rotation, is_right = ld.true_factors(normed, sides)
    assert is_right.tolist() == [False, True] * 3
    np.testing.assert_allclose(
        geometry.lift_to_xyz(canonical, rotation, is_right), normed, atol=1e-9
    )


class _FakePipe:
    """lift() of a lifting that gets the canonical pose right and the rotation off by a
    fixed rotation about z (the 'score maps' carry the true xyz_normed here)."""

    def __init__(self, rotation_offset_deg: float):
        self.offset = _rot_z(rotation_offset_deg)

    def lift(self, xyz_normed, hand_side):
        canonical, rotation, is_right = ld.true_factors(xyz_normed, hand_side)
        rotation = rotation @ self.offset
        xyz = geometry.lift_to_xyz(canonical, rotation, is_right)
        return {"xyz": xyz, "xyz_canonical": canonical, "rotation": rotation}


def _evaluate(pipe, n=10):
    xyz, normed, sides = _hands(n, seed=3)
    sample = {
        "scoremap_pooled": normed,
        "hand_side": sides,
        "xyz_normed": normed,
        pr.KEY_XYZ: xyz,
        pr.KEY_VIS: np.ones((n, 21), bool),
    }
    diag = ld.LiftingDiagnosis(pipe)
    config = pr.ProtocolConfig(root="palm", gt_index0="palm", progress=False)
    summaries = pr.run_protocol_many(pr.LIFTING3D, [sample], diag.predictors, config, total=n)
    return diag.summary(summaries)


def test_exact_lifting_has_no_error_anywhere():
    out = _evaluate(_FakePipe(0.0))
    for name in ("model", "gt_rotation", "gt_canonical"):
        assert out[name]["epe_mean_mm"] == pytest.approx(0.0, abs=1e-6), name
        assert out[name]["auc_0_50"] > 0.97  # PCK(0 mm) counts only exact zeros
    assert out["rotation_error_deg"]["median"] == pytest.approx(0.0, abs=1e-5)


def test_a_wrong_viewpoint_shows_up_as_rotation_error_only():
    out = _evaluate(_FakePipe(25.0))
    assert out["rotation_error_deg"]["median"] == pytest.approx(25.0, abs=1e-6)
    assert out["rotation_error_deg"]["num_samples"] == 10
    assert out["gt_rotation"]["epe_mean_mm"] == pytest.approx(0.0, abs=1e-6)
    assert out["model"]["epe_mean_mm"] > 5.0
    assert out["gt_canonical"]["epe_mean_mm"] == pytest.approx(out["model"]["epe_mean_mm"])


def test_a_lifting_without_rotation_is_refused():
    class Direct:
        def lift(self, scoremaps, hand_side):
            return {"xyz": np.zeros((len(hand_side), 21, 3))}

    with pytest.raises(ValueError, match="proposed"):
        _evaluate(Direct(), n=2)
