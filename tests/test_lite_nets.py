"""hand3d_tf.lite nets (models by role), evalset (eval.npz) and accuracy (the metrics)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hand3d_tf.evaluation import tflite_accuracy as acc
from hand3d_tf.lite import evalset, nets, runner
from hand3d_tf.lite import sidecar as sc
from tests.lite_models import save_eval


def test_discover_orders_by_net_then_mode_and_keeps_third_party(tiny_tflite_dir):
    entries = nets.discover([str(tiny_tflite_dir)])
    assert [e.label for e in entries] == [
        "handsegnet_fp32", "handsegnet_int8", "posenet_fp32", "posenet_int8",
        "lifting_fp32", "lifting_int8", "third_party",
    ]  # fmt: skip
    assert entries[-1].sidecar is None and entries[-1].error is None
    with pytest.raises(FileNotFoundError, match="neither a .tflite file nor a directory"):
        nets.discover([str(tiny_tflite_dir / "missing")])


def test_net_model_runs_by_role(tiny_tflite_dir):
    """lifting stand-in: xyz_k = mean(scoremap_k) * (1, 2, 3) + hand_side[0] * (0, 0, 1).
    (int8 against fp32: tests/test_benchmark_run.py, agreement.)"""
    (entry,) = [e for e in nets.discover([str(tiny_tflite_dir)]) if e.label == "lifting_fp32"]
    net = nets.NetModel(entry, runner.Model(entry.path, runner.load_runtime()))
    rng = np.random.default_rng(2)
    scoremap = rng.random((1, 32, 32, 21)).astype(np.float32)
    out = net.run(scoremap=scoremap, hand_side=np.float32([[1, 0]]))
    want = scoremap.mean(axis=(1, 2))[..., None] * np.float32([1, 2, 3]) + np.float32([0, 0, 1])
    np.testing.assert_allclose(out["xyz"], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs input role 'hand_side'"):
        net.run(scoremap=scoremap)


def test_normalize_pixels_is_the_sidecar_formula():
    pixels = np.array([0, 255, 128], np.uint8)
    got = nets.normalize_pixels(pixels, sc.NORMALIZATION)
    np.testing.assert_allclose(got, pixels / 255.0 - 0.5, atol=1e-7)
    assert got.dtype == np.float32
    assert nets.normalize_pixels(pixels, None).tolist() == [0.0, 255.0, 128.0]


def test_sidecar_mismatches_name_the_file(tiny_tflite_dir, tmp_path):
    for f in ("lifting_fp32.tflite", "lifting_fp32.json"):
        shutil.copy(tiny_tflite_dir / f, tmp_path / f)
    car = json.loads((tmp_path / "lifting_fp32.json").read_text())
    rt = runner.load_runtime()
    bad = dict(car, inputs=[dict(car["inputs"][0], shape=[1, 16, 16, 21]), car["inputs"][1]])
    (tmp_path / "lifting_fp32.json").write_text(json.dumps(bad))
    entry = nets.discover([str(tmp_path)])[0]
    with pytest.raises(sc.SidecarError, match=r"lifting_fp32\.json.*\[1, 16, 16, 21\]"):
        nets.NetModel(entry, runner.Model(entry.path, rt))
    (tmp_path / "lifting_fp32.json").write_text(json.dumps(dict(car, model_sha256="0" * 64)))
    entry = nets.discover([str(tmp_path)])[0]
    assert entry.sidecar is None and "model_sha256" in entry.error and "lifting_fp32" in entry.error
    (tmp_path / "lifting_fp32.json").write_text(json.dumps(dict(car, mode="int4")))
    assert "'int4' is not one of" in nets.discover([str(tmp_path)])[0].error


def test_evalset_errors(tmp_path, tiny_eval_arrays):
    arrays = dict(tiny_eval_arrays)
    arrays.pop("crops")
    path = save_eval(tmp_path / "bad.npz", arrays)
    with pytest.raises(evalset.EvalSetError, match=r"bad\.npz: missing keys \['crops'\]"):
        evalset.load_eval_set(path)
    good = evalset.load_eval_set(save_eval(tmp_path / "good.npz", tiny_eval_arrays))
    assert len(good) == len(tiny_eval_arrays["images"]) and len(good.subset(2)) == 2
    with pytest.raises(
        evalset.EvalSetError, match=r"good\.npz.*\[48, 64\].*m\.tflite.*\[240, 320\]"
    ):
        good.check_input_size((240, 320), "m.tflite")


def test_mask_iou_and_agreement_numbers():
    pred = np.zeros((2, 4, 4), bool)
    gt = np.zeros((2, 4, 4), bool)
    pred[0, :2] = True  # 8 px
    gt[0, 1:3] = True  # 8 px, overlap 4 -> IoU 4/12
    r = acc.mask_iou(pred, gt)  # image 1: both empty, not counted
    assert r["mask_iou"] == pytest.approx(1 / 3) and r["mask_iou_pooled"] == pytest.approx(1 / 3)
    ref = {"xyz": np.zeros((2, 21, 3))}
    out = {"xyz": np.zeros((2, 21, 3))}
    out["xyz"][1, 5] = [3.0, 4.0, 0.0]
    data = {"keypoint_scale": np.array([0.01, 0.02])}
    g = acc.agreement("lifting", out, ref, data)
    assert g["max_abs_diff"] == 4.0 and g["keypoint_diff_mm_max"] == pytest.approx(5 * 0.02 * 1000)
