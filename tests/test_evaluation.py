"""hand3d_tf.evaluation: metrics, protocols, plots, stored predictions and hand3d-evaluate."""

import dataclasses
import json

import numpy as np
import pytest

from hand3d_tf import geometry
from hand3d_tf.evaluation import evaluate, plots
from hand3d_tf.evaluation import metrics as ev
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.evaluation.sources import InputError
from tests.helpers import reference_cases, run_cli


@pytest.fixture(scope="module")
def ref():
    return reference_cases("geometry_eval_cases.npz")


@pytest.mark.parametrize("prefix,preset", [("eval2d", ev.PRESET_2D), ("eval3d", ev.PRESET_3D)])
def test_matches_original_evaluator(ref, prefix, preset):
    evaluator = ev.KeypointEvaluator()
    evaluator.feed(ref[f"{prefix}_gt"], ref[f"{prefix}_vis"], ref[f"{prefix}_pred"])
    s = evaluator.summary(*preset)
    assert s.epe_mean == pytest.approx(float(ref[f"{prefix}_epe_mean"]), rel=1e-12)
    assert s.epe_median == pytest.approx(float(ref[f"{prefix}_epe_median"]), rel=1e-12)
    assert s.auc == pytest.approx(float(ref[f"{prefix}_auc"]), rel=1e-12)
    np.testing.assert_allclose(s.pck_curve, ref[f"{prefix}_pck_curve"], atol=1e-12)
    np.testing.assert_allclose(s.thresholds, ref[f"{prefix}_thresholds"], atol=1e-12)
    assert s.num_samples == 200 and s.per_keypoint_count[20] == 0
    assert np.isnan(s.per_keypoint_mean[20])


def test_feeding_one_by_one_equals_batch(ref):
    batch, single = ev.KeypointEvaluator(), ev.KeypointEvaluator()
    batch.feed(ref["eval2d_gt"][:30], ref["eval2d_vis"][:30], ref["eval2d_pred"][:30])
    for i in range(30):
        single.feed(ref["eval2d_gt"][i], ref["eval2d_vis"][i], ref["eval2d_pred"][i])
    a, b = batch.summary(*ev.PRESET_2D), single.summary(*ev.PRESET_2D)
    assert a.to_dict() == b.to_dict()


def test_hand_made_case():
    """Worked on paper; thresholds (0, 5, 10), errors 3-4-5 / 5-12-13 / 6-8-10 triangles."""
    gt = np.zeros((3, 21, 2))
    pred = np.zeros((3, 21, 2))
    vis = np.zeros((3, 21), bool)
    pred[0, :20] = (3, 4)  # error 5: exactly at the middle threshold (inclusive)
    vis[0, :20] = True
    pred[1, 10:20] = (5, 12)  # error 13 for keypoints 10-19, error 0 for 0-9
    vis[1, :20] = True
    pred[2, 1] = (5, 12)  # only keypoint 1 visible in sample 2
    pred[2, 0] = (60, 80)  # invisible: must not count
    vis[2, 1] = True
    ev_ = ev.KeypointEvaluator()
    ev_.feed(gt, vis, pred)
    s = ev_.summary(0, 10, 3)
    # kp0, kp2-9: errors [5, 0]     -> mean 2.5, median 2.5, PCK (.5, 1, 1),   AUC .875
    # kp1:        errors [5, 0, 13] -> mean 6,   median 5,   PCK (1/3, 2/3, 2/3), AUC 7/12
    # kp10-19:    errors [5, 13]    -> mean 9,   median 9,   PCK (0, .5, .5),   AUC .375
    # kp20 never visible -> skipped; averages over 20 keypoints.
    np.testing.assert_allclose(s.thresholds, [0, 5, 10])
    assert s.epe_mean == pytest.approx((9 * 2.5 + 6 + 10 * 9) / 20)  # 5.925
    assert s.epe_median == pytest.approx((9 * 2.5 + 5 + 10 * 9) / 20)  # 5.875
    assert s.auc == pytest.approx((9 * 0.875 + 7 / 12 + 10 * 0.375) / 20)
    np.testing.assert_allclose(
        s.pck_curve, [(4.5 + 1 / 3) / 20, (9 + 2 / 3 + 5) / 20, (9 + 2 / 3 + 5) / 20]
    )
    np.testing.assert_array_equal(s.per_keypoint_count, [2, 3] + [2] * 18 + [0])
    assert s.per_keypoint_median[1] == 5 and s.per_keypoint_auc[10] == pytest.approx(0.375)


def test_nan_prediction_is_a_miss():
    gt = np.zeros((2, 21, 3))
    pred = np.zeros((2, 21, 3))
    pred[0, 3] = np.nan
    pred[1, 3] = 0.001
    ev_ = ev.KeypointEvaluator()
    ev_.feed(gt, np.ones((2, 21), bool), pred)
    s = ev_.summary(*ev.PRESET_3D)
    assert s.num_invalid == 1 and s.per_keypoint_mean[3] == np.inf
    assert s.per_keypoint_median[3] == np.inf  # median of (0.001, inf)
    # keypoint 3 hits at most half the time; all others always
    assert s.pck_curve[0] == pytest.approx(20 / 21 + 0.0 / 21)
    assert s.pck_curve[-1] == pytest.approx(20 / 21 + 0.5 / 21)
    d = s.to_dict()
    assert d["epe_mean"] is None and d["num_invalid"] == 1
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize(
    "gt,vis,pred,match",
    [
        (np.zeros((21, 2)), np.ones(21), np.zeros((21, 3)), "pred shape"),
        (np.zeros((4, 21, 2)), np.ones((3, 21)), np.zeros((4, 21, 2)), "vis shape"),
        (np.zeros((4, 20, 2)), np.ones((4, 20)), np.zeros((4, 20, 2)), "gt must have shape"),
        (np.full((21, 2), np.nan), np.ones(21), np.zeros((21, 2)), "not finite"),
    ],
)
def test_feed_rejects_bad_input(gt, vis, pred, match):
    with pytest.raises(ValueError, match=match):
        ev.KeypointEvaluator().feed(gt, vis, pred)


def test_summary_rejects_bad_ranges():
    e = ev.KeypointEvaluator()
    with pytest.raises(ValueError, match="no samples"):
        e.summary(*ev.PRESET_2D)
    e.feed(np.zeros((21, 2)), np.ones(21), np.ones((21, 2)))
    with pytest.raises(ValueError, match="lo=30.*hi=30"):
        e.summary(30, 30, 20)
    with pytest.raises(ValueError, match="steps .* received 1"):
        e.summary(0, 30, 1)
    none_visible = ev.KeypointEvaluator()
    none_visible.feed(np.zeros((21, 2)), np.zeros(21), np.ones((21, 2)))
    with pytest.raises(ValueError, match="no keypoint was visible"):
        none_visible.summary(*ev.PRESET_2D)


def test_stb_reference_curves_and_subrange(ref):
    aucs = {
        name: round(ev.pck_auc(ev.STB_REFERENCE_THRESHOLDS_MM, curve), 3)
        for name, curve in ev.STB_REFERENCE_CURVES.items()
    }
    assert aucs == {"PSO": 0.709, "ICPPSO": 0.748, "CHPR": 0.839}
    e = ev.KeypointEvaluator()
    e.feed(ref["eval3d_gt"], ref["eval3d_vis"], ref["eval3d_pred"])
    s = e.summary(*ev.PRESET_3D).in_units(ev.METRES_TO_MM)
    x, y = ref["eval3d_thresholds"][8:] * 1000, ref["eval3d_pck_curve"][8:]
    assert x[0] == pytest.approx(21.0526, abs=1e-4)
    expected = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) / (x[-1] - x[0])
    assert s.auc_between(ev.STB_SUBRANGE_START) == pytest.approx(expected, rel=1e-12)
    assert s.epe_mean == pytest.approx(1000 * float(ref["eval3d_epe_mean"]))


def test_in_units_scales_every_length_and_nothing_else(ref):
    e = ev.KeypointEvaluator()
    e.feed(ref["eval3d_gt"], ref["eval3d_vis"], ref["eval3d_pred"])
    metres = e.summary(*ev.PRESET_3D)
    mm = metres.in_units(ev.METRES_TO_MM)
    lengths = ("epe_mean", "epe_median", "thresholds", "per_keypoint_mean",
               "per_keypoint_median")  # fmt: skip
    for field in dataclasses.fields(ev.EvalSummary):
        before, after = getattr(metres, field.name), getattr(mm, field.name)
        factor = 1000.0 if field.name in lengths else 1.0
        np.testing.assert_allclose(after, np.multiply(before, factor), rtol=1e-12,
                                   err_msg=field.name)  # fmt: skip
    # The per-keypoint numbers are mm too: their mean is the summary's (used keypoints).
    used = mm.per_keypoint_count > 0
    assert np.mean(mm.per_keypoint_mean[used]) == pytest.approx(mm.epe_mean, rel=1e-12)
    assert np.mean(mm.per_keypoint_median[used]) == pytest.approx(mm.epe_median, rel=1e-12)
    assert np.isnan(mm.per_keypoint_mean[20])  # never visible stays NaN
    assert mm.thresholds[-1] == pytest.approx(50.0) and metres.thresholds[-1] == 0.05
    # The original is unchanged (a frozen copy).
    assert metres.epe_mean == pytest.approx(float(ref["eval3d_epe_mean"]), rel=1e-12)


@pytest.fixture(scope="module")
def camera_hands():
    """Camera-frame hands [8, 21, 3] in metres, keypoint 0 = wrist, ~0.5 m from the camera."""
    rng = np.random.default_rng(3)
    xyz = rng.normal(scale=0.04, size=(8, 21, 3)) + np.array([0.0, 0.0, 0.5])
    return xyz


def test_evaluate_3d_palm_and_wrist(camera_hands):
    from hand3d_tf import keypoints as kp

    palm_rooted, _ = kp.wrist_to_palm(camera_hands)
    pred_normed, _ = geometry.normalize(palm_rooted)  # a perfect palm-rooted network
    vis = np.ones((8, 21), bool)
    s = ev.evaluate_3d(camera_hands, vis, pred_normed, root="palm", gt_index0="wrist")
    assert s.epe_mean == pytest.approx(0.0, abs=1e-12)
    # Rounding leaves ~1e-17 m errors, which miss the threshold 0 (inclusive <= 0) only.
    np.testing.assert_array_equal(s.pck_curve[1:], 1.0)
    # Against the wrist every keypoint but 0 is off by |palm - wrist| (Table 1 mismatch).
    w = ev.evaluate_3d(camera_hands, vis, pred_normed, root="wrist", gt_index0="wrist")
    offset = np.linalg.norm(palm_rooted[:, 0] - camera_hands[:, 0], axis=-1)
    np.testing.assert_allclose(w.per_keypoint_mean[1:], offset.mean(), rtol=1e-9)
    assert w.per_keypoint_mean[0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="wrist cannot be recovered"):
        ev.evaluate_3d(palm_rooted, vis, pred_normed, root="wrist", gt_index0="palm")


def test_run_protocol_pose2d_gt_crop_and_lifting(camera_hands):
    rng = np.random.default_rng(4)
    samples = [
        {
            pr.KEY_UV_CROP: rng.uniform(0, 256, (21, 2)),
            pr.KEY_VIS: rng.random(21) > 0.3,
            pr.KEY_CROP_SCALE: scale,
        }
        for scale in (0.5, 2.0, 4.0)
    ]

    def predictor(sample):  # crop-frame error = (3, 4) * scale -> 5 px in the source image
        return sample[pr.KEY_UV_CROP] + np.array([3.0, 4.0]) * sample[pr.KEY_CROP_SCALE]

    config = pr.ProtocolConfig(root="palm", gt_index0="palm", progress=False)
    s = pr.run_protocol(pr.POSE2D_GT_CROP, samples, predictor, config)
    assert s.epe_mean == pytest.approx(5.0) and s.num_samples == 3
    # lifting3d counts all 21 keypoints even when the sample says otherwise.
    samples3d = [{pr.KEY_XYZ: h, pr.KEY_VIS: np.zeros(21, bool)} for h in camera_hands]
    s3 = pr.run_protocol(
        pr.LIFTING3D,
        samples3d,
        lambda smp: geometry.normalize(smp[pr.KEY_XYZ])[0],
        pr.ProtocolConfig(root="wrist", gt_index0="wrist", progress=False, max_samples=5),
    )
    assert s3.num_samples == 5 and s3.epe_mean == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(s3.per_keypoint_count, 5)
    with pytest.raises(ValueError, match="protocol must be one of"):
        pr.run_protocol("eval2d", samples, predictor, config)


def test_plot_pck_writes_png(tmp_path):
    x = np.linspace(0, 50, 20)
    path = plots.plot_pck({"ours": (x, x / 50)}, tmp_path / "a" / "pck.png", reference="stb")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="in mm"):
        plots.plot_pck({"ours": (x, x / 50)}, tmp_path / "b.png", unit="px", reference="stb")
    with pytest.raises(ValueError, match="unit must be one of"):
        plots.plot_pck({"ours": (x, x / 50)}, tmp_path / "b.png", unit="cm")


# --- stored predictions (hand3d-evaluate --predictions) -----------------------------------


def test_score_predictions_3d(ref, tmp_path, capsys):
    npz = tmp_path / "stb_preds.npz"
    np.savez(npz, gt=ref["eval3d_gt"], vis=ref["eval3d_vis"], pred=ref["eval3d_pred"], kind="3d")
    evaluate.score_predictions(npz, "stb", "palm", tmp_path / "out")
    result = json.loads((tmp_path / "out" / "stb_preds.json").read_text())
    assert result["unit"] == "mm" and result["dataset"] == "stb"
    assert result["epe_median"] == pytest.approx(1000 * float(ref["eval3d_epe_median"]))
    assert result["auc"] == pytest.approx(float(ref["eval3d_auc"]))
    assert (tmp_path / "out" / "stb_preds_pck.png").read_bytes()[:4] == b"\x89PNG"
    assert "EPE median" in capsys.readouterr().out


def test_score_predictions_2d_and_3d_normed(ref, camera_hands, tmp_path):
    npz = tmp_path / "p2d.npz"
    np.savez(npz, gt=ref["eval2d_gt"], vis=ref["eval2d_vis"], pred=ref["eval2d_pred"], kind="2d")
    evaluate.score_predictions(npz, "rhd", "palm", tmp_path, name="x")
    result = json.loads((tmp_path / "x.json").read_text())
    assert result["unit"] == "px"
    assert result["epe_mean"] == pytest.approx(float(ref["eval2d_epe_mean"]))
    # 3d_normed: raw RHD ground truth (wrist), palm-rooted perfect predictions -> 0 mm.
    from hand3d_tf import keypoints as kp

    pred = geometry.normalize(kp.wrist_to_palm(camera_hands)[0])[0]
    npz3 = tmp_path / "n.npz"
    np.savez(npz3, gt=camera_hands, vis=np.ones((8, 21), bool), pred=pred, kind="3d_normed")
    evaluate.score_predictions(npz3, "rhd", "palm", tmp_path)
    assert json.loads((tmp_path / "n.json").read_text())["epe_mean"] == pytest.approx(0, abs=1e-9)


def test_score_predictions_errors(tmp_path):
    with pytest.raises(InputError, match="predictions file not found: .*none.npz"):
        evaluate.score_predictions(tmp_path / "none.npz", "rhd", "palm", tmp_path)
    with pytest.raises(ValueError, match="root must be one of"):
        evaluate.score_predictions(tmp_path / "none.npz", "rhd", "elbow", tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of"):
        evaluate.score_predictions(tmp_path / "none.npz", "nyu", "palm", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"protocol": "eval9d", "data_dir": "x"}, "protocol must be one of"),
        ({"protocol": "full3d", "dataset": "nyu", "data_dir": "x"}, "dataset must be one of"),
        ({"protocol": "full3d", "root": "elbow", "data_dir": "x"}, "root must be one of"),
        ({"protocol": "full3d", "dataset": "stb"}, "needs a data directory"),
    ],
)
def test_protocol_run_checks_its_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate.ProtocolRun(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"protocol": "full3d", "dataset": "stb"}, "--protocol=full3d needs --data_dir"),
        ({}, "give --predictions"),
        ({"protocol": "lifting3d", "data_dir": "d", "weights": "w", "lifting_pickle": "p"},
         "not both"),
    ],
)  # fmt: skip
def test_cli_config_names_the_flag(kwargs, match):
    from hand3d_tf.cli.errors import UserError
    from hand3d_tf.cli.evaluate import EvaluateConfig

    with pytest.raises(UserError, match=match):
        EvaluateConfig(**kwargs)


def test_cli_in_a_subprocess_success_and_user_error(ref, tmp_path):
    npz = tmp_path / "stb_preds.npz"
    np.savez(npz, gt=ref["eval3d_gt"], vis=ref["eval3d_vis"], pred=ref["eval3d_pred"], kind="3d")
    out = run_cli("evaluate", f"--predictions={npz}", "--dataset=stb", f"--output_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "EPE median" in out.stdout and (tmp_path / "stb_preds.json").is_file()
    bad = run_cli("evaluate", "--protocol=eval9d", f"--output_dir={tmp_path}/never")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("hand3d-evaluate: error: ") and "--protocol" in bad.stderr
    assert not (tmp_path / "never").exists()


def _summary_of(errors_by_keypoint: dict, n: int = 3, lo=0.0, hi=10.0, steps=3):
    """A summary of 1-D errors: keypoint k of sample i has error errors[k][i] (None: hidden)."""
    gt = np.zeros((n, 21, 2))
    pred = np.zeros((n, 21, 2))
    vis = np.zeros((n, 21), bool)
    for k, errors in errors_by_keypoint.items():
        for i, e in enumerate(errors):
            if e is not None:
                pred[i, k, 0], vis[i, k] = e, True
    e = ev.KeypointEvaluator()
    e.feed(gt, vis, pred)
    return e.summary(lo, hi, steps)


def test_keypoints_never_or_once_visible():
    # Keypoint 4 (in the middle) is never visible, keypoint 7 once: both handled per keypoint.
    s = _summary_of({0: [1.0, 3.0, 5.0], 7: [None, 8.0, None], 19: [2.0, 2.0, None]})
    np.testing.assert_array_equal(s.per_keypoint_count[[0, 4, 7, 19]], [3, 0, 1, 2])
    assert s.per_keypoint_count.dtype == np.int64 and s.per_keypoint_count.sum() == 6
    np.testing.assert_allclose(s.per_keypoint_mean[[0, 7, 19]], [3.0, 8.0, 2.0])
    assert np.isnan(s.per_keypoint_mean[4]) and np.isnan(s.per_keypoint_auc[4])
    assert s.epe_mean == pytest.approx((3.0 + 8.0 + 2.0) / 3)
    assert s.epe_median == pytest.approx((3.0 + 8.0 + 2.0) / 3)
    # PCK at (0, 5, 10), inclusive: kp0 (0, 1, 1), kp7 (0, 0, 1), kp19 (0, 1, 1).
    np.testing.assert_allclose(s.pck_curve, [0.0, 2 / 3, 1.0])
    assert s.num_samples == 3 and s.num_invalid == 0


def test_summary_with_two_thresholds_and_exact_errors():
    s = _summary_of({3: [1.0, 2.0]}, n=2, lo=0.0, hi=2.0, steps=2)
    np.testing.assert_array_equal(s.thresholds, [0.0, 2.0])
    assert s.auc == pytest.approx(0.5) and s.auc_between(0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"^no samples were fed to the evaluator$"):
        ev.KeypointEvaluator().summary(0, 1, 2)
    hidden = ev.KeypointEvaluator()
    hidden.feed(np.zeros((1, 21, 2)), np.zeros((1, 21)), np.zeros((1, 21, 2)))
    with pytest.raises(ValueError, match=r"^no keypoint was visible in any of the 1 samples$"):
        hidden.summary(0, 1, 2)


def test_auc_between_a_sub_range():
    s = _summary_of({0: [0.5, 1.5, 2.5, 9.0]}, n=4, lo=0.0, hi=4.0, steps=5)
    # PCK at 0..4: 0, .25, .5, .75, .75
    np.testing.assert_allclose(s.pck_curve, [0.0, 0.25, 0.5, 0.75, 0.75])
    assert s.auc_between(1, 3) == pytest.approx(0.375)  # mean of .25 and .5
    assert s.auc_between(3) == pytest.approx(0.75)
    assert s.auc_between(0, 2) == pytest.approx(0.125)
    with pytest.raises(ValueError, match=r"^sub-range \[4:None\] of 5 thresholds must hold at "
                                         r"least 2 thresholds$"):  # fmt: skip
        s.auc_between(4)


def test_to_dict_holds_every_field_as_json_values(ref):
    e = ev.KeypointEvaluator()
    e.feed(ref["eval2d_gt"], ref["eval2d_vis"], ref["eval2d_pred"])
    s = e.summary(*ev.PRESET_2D)
    d = s.to_dict()
    assert list(d) == [f.name for f in dataclasses.fields(ev.EvalSummary)]
    for field in dataclasses.fields(ev.EvalSummary):
        value = np.asarray(getattr(s, field.name), np.float64)
        got = np.asarray([np.nan if v is None else v for v in np.ravel(d[field.name])])
        np.testing.assert_array_equal(got, value.ravel(), err_msg=field.name)
    assert d["per_keypoint_mean"][20] is None and type(d["num_samples"]) is int
    assert all(type(c) is int for c in d["per_keypoint_count"])
    json.dumps(d, allow_nan=False)


def test_pck_auc_checks_its_arguments():
    assert ev.pck_auc([0, 1], [1, 1]) == 1.0
    assert ev.pck_auc([0, 2, 4], [0, 1, 1]) == pytest.approx(0.75)
    message = r"^thresholds and pck must be 1-D of equal length >= 2; received "
    with pytest.raises(ValueError, match=message + r"\(3,\), \(2,\)$"):
        ev.pck_auc([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=message + r"\(1, 2\), \(1, 2\)$"):
        ev.pck_auc([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match=message + r"\(1,\), \(1,\)$"):
        ev.pck_auc([0], [1])


def test_feed_messages_and_invisible_non_finite_ground_truth():
    e = ev.KeypointEvaluator()
    gt = np.zeros((2, 21, 3))
    vis = np.ones((2, 21), bool)
    gt[0, 5] = np.nan
    vis[0, 5] = False  # hidden: its ground truth may be anything
    e.feed(gt, vis, np.zeros((2, 21, 3)))
    gt[1, 3, 2] = np.inf  # the one visible non-finite entry
    with pytest.raises(ValueError, match=r"^ground truth is not finite at visible keypoint 3 "
                                         r"of sample 1$"):  # fmt: skip
        e.feed(gt, vis, np.zeros((2, 21, 3)))
    with pytest.raises(ValueError, match=r"^vis shape \(3, 21\) does not match gt \(2, 21, 3\) "
                                         r"\(expected \(2, 21\)\)$"):  # fmt: skip
        e.feed(np.zeros((2, 21, 3)), np.ones((3, 21)), np.zeros((2, 21, 3)))


def test_set_root_checks_names_and_returns_copies():
    points = np.arange(2 * 21 * 2).reshape(2, 21, 2)  # integers
    vis = np.ones((2, 21), np.int64)
    out, v = ev.set_root(points, vis, "palm", "palm")
    assert out.dtype == np.float64 and v.dtype == bool
    np.testing.assert_array_equal(out, points) and np.testing.assert_array_equal(v, vis)
    floats, bools = points.astype(np.float64), vis.astype(bool)
    out, v = ev.set_root(floats, bools, "wrist", "wrist")
    out[:], v[:] = -1.0, False
    assert floats.min() == 0 and bools.all()  # copies, not views
    with pytest.raises(ValueError, match=r"^root must be one of \('wrist', 'palm'\); "
                                         r"received 'thumb'$"):  # fmt: skip
        ev.set_root(points, vis, "thumb", "palm")
    with pytest.raises(ValueError, match=r"^gt_index0 must be one of .* received 'elbow'$"):
        ev.set_root(points, vis, "palm", "elbow")
    with pytest.raises(ValueError) as err:
        ev.set_root(points, vis, "wrist", "palm")
    assert str(err.value) == (
        "root='wrist' needs ground truth whose keypoint 0 is the wrist; received "
        "gt_index0='palm' (the wrist cannot be recovered from the palm)"
    )


def test_evaluate_3d_defaults_and_shape_checks(camera_hands):
    normed, _ = geometry.normalize(ev.set_root(camera_hands, np.ones((8, 21)), "palm", "wrist")[0])
    vis = np.ones((8, 21), bool)
    default = ev.evaluate_3d(camera_hands, vis, normed)
    explicit = ev.evaluate_3d(camera_hands, vis, normed, root="palm", gt_index0="wrist")
    assert default.to_dict() == explicit.to_dict() and default.epe_mean < 1e-12
    gt_rel, _, pred = ev.align_3d(camera_hands, vis, normed)  # the same defaults
    np.testing.assert_allclose(pred, gt_rel, atol=1e-12)
    message = r"^gt_xyz and pred_xyz_normed must both be \[B, 21, 3\]; received "
    with pytest.raises(ValueError, match=message + r"\(8, 21, 3\), \(8, 21, 2\)$"):
        ev.align_3d(camera_hands, vis, normed[..., :2])
    with pytest.raises(ValueError, match=message + r"\(8, 21, 2\), \(8, 21, 2\)$"):
        ev.align_3d(camera_hands[..., :2], vis, normed[..., :2])
