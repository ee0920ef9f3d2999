"""The TF-free benchmark harness (benchmarks/): runner, sidecars, accuracy, pipeline, reports.

Tiny stand-in networks with known outputs are converted to .tflite here (TensorFlow in the
TEST process only), with sidecars in the export schema, so every accuracy number the
harness reports can be re-computed independently in NumPy:
- "handsegnet": logits = (-10 a, 10 a), a = 8x8 average of the red channel (stride 8);
- "posenet": 21 copies of the 8x8 average of the red channel (+ 0.001 k to break ties);
- "lifting": xyz_k = mean(scoremap_k) * (1, 2, 3) + hand_side[0] * (0, 0, 1).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import accuracy as acc
from benchmarks import android, bench, compare, evalset, latency, nets, report, runner
from benchmarks import sidecar as sc

REPO = pathlib.Path(__file__).resolve().parents[1]
FRAME_HW = (48, 64)
N_EVAL = 6


# --- fixtures: tiny models, sidecars, an eval set -------------------------------------------


def _tiny_functions(tf):
    def handsegnet(image):
        hand = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID") * 10.0
        return {"logits": tf.concat([-hand, hand], -1)}

    def posenet(image):
        s = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID")
        return {"scoremap": tf.tile(s, [1, 1, 1, 21]) + tf.range(21, dtype=tf.float32) * 1e-3}

    def lifting(scoremap, hand_side):
        m = tf.reduce_mean(scoremap, axis=[1, 2])
        xyz = m[..., None] * tf.constant([1.0, 2.0, 3.0])
        return {"xyz": xyz + hand_side[:, :1, None] * tf.constant([0.0, 0.0, 1.0])}

    return {
        "handsegnet": (handsegnet, {"image": [1, *FRAME_HW, 3]}, ["logits"]),
        "posenet": (posenet, {"image": [1, 256, 256, 3]}, ["scoremap"]),
        "lifting": (lifting, {"scoremap": [1, 32, 32, 21], "hand_side": [1, 2]}, ["xyz"]),
    }


def _entry(role, detail):
    scale, zero_point = detail["quantization"]
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {
        "name": detail["name"],
        "role": role,
        "shape": [int(d) for d in detail["shape"]],
        "dtype": detail["dtype"].__name__,
        "quantization": quant,
    }


def write_sidecar(path: pathlib.Path, net: str, mode: str, in_roles, out_roles, stride: int):
    """Sidecar in the schema hand3d_tf.tflite/1 for the model at ``path``."""
    from ai_edge_litert.interpreter import Interpreter

    blob = path.read_bytes()
    interp = Interpreter(model_content=blob)
    sig = interp.get_signature_runner()
    by_index = {d["index"]: d for d in interp.get_input_details() + interp.get_output_details()}
    ins = [_entry(r, by_index[sig.get_input_details()[r]["index"]]) for r in in_roles]
    outs = [_entry(r, by_index[sig.get_output_details()[r]["index"]]) for r in out_roles]
    car = {
        "format": sc.FORMAT,
        "net": net,
        "mode": mode,
        "model_file": path.name,
        "model_sha256": hashlib.sha256(blob).hexdigest(),
        "model_bytes": len(blob),
        "inputs": ins,
        "outputs": outs,
        "normalization": {"scale": 1 / 255, "offset": -0.5} if net != "lifting" else None,
        "input_size": ins[0]["shape"][1:3],
        "output_stride": stride,
        "keypoint_names": [],
        "lifting_variant": None,
        "weights_sha256": None,
        "weights_path": None,
        "ops": [],
        "converter": {},
        "created": "2025-01-01",
    }
    path.with_suffix(".json").write_text(json.dumps(car, indent=1))
    return car


def _representative(shapes, rng):
    def gen():
        for _ in range(8):
            yield {
                r: (
                    np.float32([[1, 0]])
                    if r == "hand_side"
                    else rng.uniform(-0.5, 0.5, s).astype(np.float32)
                )
                for r, s in shapes.items()
            }

    return gen


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """export-like folder: {handsegnet,posenet,lifting}_{fp32,int8}, plus third_party.tflite."""
    tf = pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    for net, (fn, shapes, out_roles) in _tiny_functions(tf).items():
        module = tf.Module()
        module.f = tf.function(
            fn, input_signature=[tf.TensorSpec(s, tf.float32, name=r) for r, s in shapes.items()]
        )
        concrete = module.f.get_concrete_function()
        for mode in ("fp32", "int8"):
            conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
            if mode == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = _representative(shapes, rng)
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = tf.int8
                conv.inference_output_type = tf.int8
            path = out / f"{net}_{mode}.tflite"
            path.write_bytes(conv.convert())
            write_sidecar(path, net, mode, list(shapes), out_roles, 8 if net != "lifting" else 1)
    # A "third-party" model: no sidecar (int8 input, timed with random int8 data).
    shutil.copy(out / "posenet_int8.tflite", out / "third_party.tflite")
    return out


def make_eval_arrays(n=N_EVAL, hw=FRAME_HW, seed=1):
    """Eval-set arrays with known structure (see expected_* below)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 100, (n, *hw, 3), dtype=np.uint8)
    gt_mask = np.zeros((n, *hw), bool)
    crops = np.full((n, 256, 256, 3), -0.5, np.float32)
    cells = rng.integers(1, 31, (n, 2))
    for i in range(n):
        r0, c0 = 8 * rng.integers(1, 3), 8 * rng.integers(1, 4)
        images[i, r0 : r0 + 16, c0 : c0 + 16, 0] = 250  # a bright 2x2-cell "hand"
        gt_mask[i, r0 - 2 : r0 + 18, c0 - 1 : c0 + 17] = True
        r, c = cells[i]
        crops[i, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8, 0] = 0.5  # one bright score-map cell
    return {
        "images": images,
        "hand_side": np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)],
        "gt_mask": gt_mask,
        "gt_uv": rng.uniform(0, hw[1], (n, 21, 2)).astype(np.float32),
        "gt_vis": rng.random((n, 21)) > 0.2,
        "crops": crops,
        "crop_uv": rng.uniform(0, 256, (n, 21, 2)).astype(np.float32),
        "crop_scale": rng.uniform(1, 3, n).astype(np.float32),
        "scoremaps": rng.random((n, 32, 32, 21)).astype(np.float32),
        "gt_xyz": rng.normal(0, 0.05, (n, 21, 3)).astype(np.float32),
        "keypoint_scale": rng.uniform(0.02, 0.04, n).astype(np.float32),
        "cells": cells,
    }


def save_eval(path, arrays):
    data = {k: v for k, v in arrays.items() if k != "cells"}
    np.savez(path, meta=json.dumps({"dataset": "test", "has_mask": True}), **data)
    return path


@pytest.fixture(scope="session")
def eval_arrays():
    return make_eval_arrays()


@pytest.fixture(scope="session")
def eval_path(tmp_path_factory, eval_arrays):
    return save_eval(tmp_path_factory.mktemp("eval") / "eval.npz", eval_arrays)


def _legacy_upsample_np(x, out_hw):
    """Independent TF1 legacy bilinear resize (loops over output rows/cols)."""
    h, w = x.shape[:2]
    out = np.zeros((out_hw[0], out_hw[1]) + x.shape[2:], np.float64)
    for i in range(out_hw[0]):
        sy = i * h / out_hw[0]
        y0, fy = int(np.floor(sy)), sy - np.floor(sy)
        y1 = min(y0 + 1, h - 1)
        for j in range(out_hw[1]):
            sx = j * w / out_hw[1]
            x0, fx = int(np.floor(sx)), sx - np.floor(sx)
            x1 = min(x0 + 1, w - 1)
            top = x[y0, x0] + (x[y0, x1] - x[y0, x0]) * fx
            bot = x[y1, x0] + (x[y1, x1] - x[y1, x0]) * fx
            out[i, j] = top + (bot - top) * fy
    return out


def expected_mask_iou(arrays):
    ious = []
    for img, gt in zip(arrays["images"], arrays["gt_mask"]):
        red = img[..., 0].astype(np.float64) / 255 - 0.5
        pooled = red.reshape(FRAME_HW[0] // 8, 8, FRAME_HW[1] // 8, 8).mean(axis=(1, 3))
        pred = _legacy_upsample_np(pooled, FRAME_HW) > 0  # hand logit > background logit
        ious.append((pred & gt).sum() / (pred | gt).sum())
    return float(np.mean(ious))


def expected_posenet_2d(arrays):
    """Predicted crop uv = 8 x (bright cell) (legacy upsampling keeps a cell at 8p)."""
    pred = np.repeat((8 * arrays["cells"][:, None, ::-1]).astype(np.float64), 21, axis=1)
    err = np.linalg.norm(pred - arrays["crop_uv"], axis=-1) / arrays["crop_scale"][:, None]
    vis = arrays["gt_vis"]
    return float(np.mean([err[vis[:, k], k].mean() for k in range(21)]))


def expected_lifting_3d_mm(arrays):
    m = arrays["scoremaps"].astype(np.float64).mean(axis=(1, 2))  # [N, 21]
    xyz = m[..., None] * np.array([1.0, 2.0, 3.0])
    xyz[..., 2] += arrays["hand_side"][:, :1]
    err = np.linalg.norm(xyz * arrays["keypoint_scale"][:, None, None] - arrays["gt_xyz"], axis=-1)
    return float(err.mean(axis=0).mean() * 1000)


def _raw_run(path, feeds_by_index):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feeds_by_index):
        scale, zp = d["quantization"]
        if scale:
            x = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
        it.set_tensor(d["index"], x.astype(d["dtype"]))
    it.invoke()
    d = it.get_output_details()[0]
    y = it.get_tensor(d["index"]).astype(np.float64)
    scale, zp = d["quantization"]
    return (y - zp) * scale if scale else y


# --- unit tests --------------------------------------------------------------------------


def test_latency_stats_match_numpy():
    t = np.random.default_rng(3).gamma(2.0, 5.0, 97)
    s = latency.latency_stats(t)
    assert s["median"] == pytest.approx(np.median(t))
    assert s["p90"] == pytest.approx(np.percentile(t, 90))
    assert s["p99"] == pytest.approx(np.percentile(t, 99))
    assert s["std"] == pytest.approx(t.std()) and s["n"] == 97
    with pytest.raises(ValueError, match="at least one"):
        latency.latency_stats([])


def test_quantize_dequantize_formula():
    info = runner.TensorInfo("x", (4,), np.dtype(np.int8), 0.5, -3)
    q = runner.quantize(np.array([0.0, 1.26, 100.0, -100.0]), info)
    np.testing.assert_array_equal(q, [-3, -0, 127, -128])  # round(x/0.5) - 3, clipped
    np.testing.assert_allclose(runner.dequantize(q, info), [0.0, 1.5, 65.0, -62.5])
    f = runner.TensorInfo("y", (2,), np.dtype(np.float32), 0.0, 0)
    assert runner.quantize(np.array([1.5, 2.0]), f).dtype == np.float32


def test_count_delegated_nodes_partial_partition():
    ops = [  # 0 -> CONV -> 5 -> RELU -> 6 -> CUSTOM -> 7 -> CONV -> 8, weights 1..4
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 1, 2], "outputs": [5]},
        {"index": 1, "op_name": "RELU", "inputs": [5], "outputs": [6]},
        {"index": 2, "op_name": "CUSTOM", "inputs": [6], "outputs": [7]},
        {"index": 3, "op_name": "CONV_2D", "inputs": [7, 3, 4], "outputs": [8]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [0, 1, 2], "outputs": [6]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [7, 3, 4], "outputs": [8]},
    ]
    assert runner.count_delegated_nodes(ops) == (3, 4)
    assert runner.count_delegated_nodes(ops[:4]) == (0, 4)


def test_model_counts_xnnpack_nodes_and_none(models_dir):
    rt = runner.load_runtime()
    x = runner.Model(models_dir / "posenet_fp32.tflite", rt, threads=1, delegate="xnnpack")
    assert x.total_nodes >= 2 and x.delegated_nodes == x.total_nodes
    n = runner.Model(models_dir / "posenet_fp32.tflite", rt, threads=1, delegate="none")
    assert n.delegated_nodes == 0 and n.total_nodes == x.total_nodes and not n.warnings


def test_missing_external_delegate_fails_loudly(models_dir, tmp_path):
    rt = runner.load_runtime()
    with pytest.raises(runner.DelegateError, match=r"posenet_fp32\.tflite.*nope\.so"):
        runner.Model(models_dir / "posenet_fp32.tflite", rt, delegate=str(tmp_path / "nope.so"))
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not a library")
    with pytest.raises(runner.DelegateError, match="bogus.so failed to load"):
        runner.Model(models_dir / "posenet_fp32.tflite", rt, delegate=str(bogus))


def test_litert_accelerator_runs_or_fails_loudly(models_dir):
    rt = runner.load_runtime()
    path = models_dir / "lifting_fp32.tflite"
    cpu = runner.Model(path, rt, delegate="litert_cpu")
    ref = runner.Model(path, rt, delegate="none")
    inputs = ref.random_inputs(seed=4)
    for m in (cpu, ref):
        m.set_inputs(inputs)
        m.invoke()
    np.testing.assert_allclose(cpu.get_outputs()[0], ref.get_outputs()[0], rtol=1e-5, atol=1e-6)
    try:  # this machine has no GPU adapter: it must raise DelegateError, never run on CPU
        runner.Model(path, rt, delegate="litert_gpu")
    except runner.DelegateError as e:
        assert "lifting_fp32.tflite" in str(e)


def test_sidecar_mismatches_name_the_file(models_dir, tmp_path):
    for f in ("lifting_fp32.tflite", "lifting_fp32.json"):
        shutil.copy(models_dir / f, tmp_path / f)
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


def test_evalset_errors(tmp_path, eval_arrays):
    arrays = dict(eval_arrays)
    arrays.pop("crops")
    path = save_eval(tmp_path / "bad.npz", arrays)
    with pytest.raises(evalset.EvalSetError, match=r"bad\.npz: missing keys \['crops'\]"):
        evalset.load_eval_set(path)
    good = evalset.load_eval_set(save_eval(tmp_path / "good.npz", eval_arrays))
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


# --- the harness end to end ----------------------------------------------------------------

TF_BLOCKER = r"""
import sys, runpy, atexit
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'):
            raise ImportError('TensorFlow is blocked in this test: ' + name)
sys.meta_path.insert(0, _Block())
def _check():
    bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))
    print('TF_MODULES=' + ','.join(bad))
atexit.register(_check)
sys.argv = ['benchmarks.run'] + sys.argv[1:]
runpy.run_module('benchmarks.run', run_name='__main__', alter_sys=True)
"""


@pytest.fixture(scope="session")
def harness_run(models_dir, eval_path, tmp_path_factory):
    """One `python -m benchmarks.run` in a subprocess with TensorFlow import blocked."""
    out = tmp_path_factory.mktemp("results")
    cmd = [
        sys.executable,
        "-c",
        TF_BLOCKER,
        f"--models={models_dir}",
        f"--eval_set={eval_path}",
        "--threads=1,2",
        "--runs=5",
        "--warmup=1",
        f"--output_dir={out}",
        "--name=tiny",
        "--no_progress",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    return proc, out


def test_harness_runs_without_tensorflow(harness_run):
    proc, out = harness_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TF_MODULES=\n" in proc.stdout or proc.stdout.rstrip().endswith("TF_MODULES=")
    for suffix in (".json", ".csv", ".md", "_latency_accuracy.png", "_pck.png", "_stages.png"):
        assert (out / f"tiny{suffix}").stat().st_size > 100, suffix
    assert "| handsegnet_fp32 |" in proc.stdout
    for table in (out / "tiny.md").read_text().split("\n\n"):
        rows = [ln for ln in table.splitlines() if ln.startswith("|")]
        assert len({ln.count("|") for ln in rows}) <= 1, table  # no stray "|" in a cell


def _rows(out):
    result = report.load_result(out / "tiny.json")
    return result, {(r["model"], r["threads"]): r for r in result["models"]}


def test_harness_latency_fields(harness_run):
    result, rows = _rows(harness_run[1])
    assert len(result["models"]) == 7 * 2 and all(r["status"] == "ok" for r in result["models"])
    r = rows[("posenet_fp32", 2)]
    lat = r["latency_ms"]
    assert lat["n"] == 5 and lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert r["init_ms"] > 0 and r["first_inference_ms"] > 0 and r["peak_rss_mb"] > 10
    assert r["delegated_nodes"] == r["total_nodes"] > 0 and r["input_source"] == "eval_set"
    third = rows[("third_party", 1)]
    assert third["net"] is None and third["input_source"] == "random" and third["accuracy"] is None
    dev = result["device"]
    assert dev["runtime"]["name"] == "ai_edge_litert" and dev["cpu_model"]


def test_harness_accuracy_matches_numpy(harness_run, eval_arrays):
    _, rows = _rows(harness_run[1])
    hs = rows[("handsegnet_fp32", 1)]["accuracy"]
    assert hs["mask_iou"] == pytest.approx(expected_mask_iou(eval_arrays), abs=1e-9)
    pn = rows[("posenet_fp32", 1)]["accuracy"]["2d"]
    assert pn["epe_mean"] == pytest.approx(expected_posenet_2d(eval_arrays), rel=1e-9)
    lf = rows[("lifting_fp32", 2)]["accuracy"]["3d"]  # copied to the 2-thread row
    assert lf["epe_mean"] == pytest.approx(expected_lifting_3d_mm(eval_arrays), rel=1e-5)
    assert lf["unit"] == "mm" and 0 <= lf["auc_20_50"] <= 1


def test_harness_agreement_matches_direct_runs(harness_run, models_dir, eval_arrays):
    _, rows = _rows(harness_run[1])
    g = rows[("lifting_int8", 1)]["agreement"]
    diffs = []
    for i in range(N_EVAL):
        feeds = [eval_arrays["scoremaps"][i : i + 1], eval_arrays["hand_side"][i : i + 1]]
        diffs.append(
            _raw_run(models_dir / "lifting_int8.tflite", feeds)
            - _raw_run(models_dir / "lifting_fp32.tflite", feeds)
        )
    diffs = np.abs(np.stack(diffs))
    assert g["max_abs_diff"] == pytest.approx(diffs.max(), rel=1e-5)
    assert g["mean_abs_diff"] == pytest.approx(diffs.mean(), rel=1e-5)
    pose = rows[("posenet_int8", 1)]["agreement"]
    assert pose["argmax_agreement"] == 1.0  # one bright cell: int8 finds the same argmax
    assert rows[("posenet_fp32", 1)]["agreement"] is None


def test_harness_pipeline_rows(harness_run, eval_arrays):
    result, _ = _rows(harness_run[1])
    pipes = {(p["mode"], p["threads"]): p for p in result["pipelines"]}
    assert set(pipes) == {("fp32", 1), ("fp32", 2), ("int8", 1), ("int8", 2)}
    p = pipes[("fp32", 1)]
    assert p["status"] == "ok" and p["frame_source"] == "eval_set"
    assert p["fps"] == pytest.approx(1000 / p["total_ms"]["median"])
    stage_sum = sum(s["mean"] for s in p["stages_ms"].values())
    assert 0.8 * p["total_ms"]["mean"] <= stage_sum <= p["total_ms"]["mean"] * 1.001
    assert 0 < p["glue_share"] < 1
    a = p["accuracy"]
    assert a["2d"]["num_samples"] == N_EVAL and a["3d"]["unit"] == "mm"
    assert 0 <= a["blob"]["mask_iou"] <= 1 and a["hand_found_rate"] == 1.0


def test_bad_inputs_do_not_abort_the_others(models_dir, tmp_path, eval_arrays):
    """Eval set for another frame size + a corrupt sidecar: those fail, the rest is measured."""
    folder = tmp_path / "export"
    shutil.copytree(models_dir, folder)
    car = json.loads((folder / "posenet_int8.json").read_text())
    (folder / "posenet_int8.json").write_text(json.dumps(dict(car, model_bytes=1)))
    for mode, digest in (("fp32", "a" * 64), ("int8", "b" * 64)):  # exported from other weights
        side = folder / f"lifting_{mode}.json"
        side.write_text(json.dumps(dict(json.loads(side.read_text()), weights_sha256=digest)))
    small = {k: v for k, v in make_eval_arrays(n=2, hw=(40, 64)).items()}
    data = evalset.load_eval_set(save_eval(tmp_path / "eval40.npz", small))
    cfg = bench.BenchConfig(models=[str(folder)], eval_set=data, threads=[1], runs=2, warmup=0)
    result = report.new_result("bad", "test", {}, {}, "")
    bench.run_benchmark(cfg, result, show_progress=False)
    status = {r["model"]: r for r in result["models"]}
    assert "eval40.npz" in status["handsegnet_fp32"]["error"]
    assert "handsegnet_fp32.tflite" in status["handsegnet_fp32"]["error"]
    assert "model_bytes 1" in status["posenet_int8"]["error"]
    assert status["posenet_fp32"]["status"] == "ok" and status["lifting_int8"]["status"] == "ok"
    assert status["posenet_fp32"]["accuracy"]["2d"]["num_samples"] == 2
    pipes = {p["mode"]: p for p in result["pipelines"]}
    assert set(pipes) == {"fp32"} and "eval40.npz" in pipes["fp32"]["error"]
    assert "eval40.npz" in status["handsegnet_int8"]["error"]
    assert "other weights" in status["lifting_int8"]["agreement"]["warning"]
    assert "other weights" in status["lifting_int8"]["warnings"][0]
    assert len(bench.failures(result)) == 4


def test_cli_errors_and_failed_delegate_exit_code(models_dir, tmp_path, capsys):
    from benchmarks import run

    assert (
        run.main([f"--models={tmp_path / 'none'}", "--no_progress", f"--output_dir={tmp_path}"])
        == 2
    )
    assert "neither a .tflite file nor a directory" in capsys.readouterr().err
    code = run.main(
        [
            f"--models={models_dir / 'lifting_fp32.tflite'}",
            "--runs=1",
            "--warmup=0",
            f"--delegate={tmp_path / 'missing_delegate.so'}",
            f"--output_dir={tmp_path}",
            "--name=d",
            "--no_progress",
            "--no_plots",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "missing_delegate.so does not exist" in err and "lifting_fp32.tflite" in err
    row = report.load_result(tmp_path / "d.json")["models"][0]
    assert row["status"] == "failed" and "DelegateError" in row["error"]


def test_compare_puts_precisions_side_by_side(harness_run):
    _, out = harness_run
    result = report.load_result(out / "tiny.json")
    other = json.loads(json.dumps(result))
    other["label"] = "phone"
    text = compare.table([result, other])
    lines = [ln for ln in text.splitlines() if ln.startswith("| lifting |")]
    assert [ln.split(" | ")[1:4:2] for ln in lines] == [
        ["phone", "1"],
        ["phone", "2"],
        ["tiny", "1"],
        ["tiny", "2"],
    ]
    assert text.splitlines()[0].endswith("| fp32 | int8 | no sidecar |")
    lines = [ln for ln in lines if "| tiny |" in ln]
    row = next(r for r in result["models"] if r["model"] == "lifting_int8" and r["threads"] == 1)
    base = next(r for r in result["models"] if r["model"] == "lifting_fp32" and r["threads"] == 1)
    speedup = base["latency_ms"]["median"] / row["latency_ms"]["median"]
    assert f"({speedup:.2f}x)" in lines[0]
    assert f"· {row['accuracy']['3d']['auc']:.3f}" in lines[0]
    assert compare.main([str(out / "tiny.json")]) == 0


# --- android: benchmark_model log parsing --------------------------------------------------

CPU_LOG = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/hand3d/posenet_int8.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/hand3d/posenet_int8.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 33 out of 35 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions for the whole graph.
INFO: The input model file size (MB): 17.8912
INFO: Initialized session in 61.25ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=4 first=160321 curr=131003 min=130554 max=160321 avg=138216 std=12633 p5=130554 median=131003 p95=160321

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=131512 curr=129876 min=128004 max=140220 avg=130411.5 std=1987 p5=128210 median=130102 p95=134880

INFO: Inference timings in us: Init: 61250, First inference: 160321, Warmup (avg): 138216, Inference (avg): 130411.5
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=42.3516 overall=60.7539
INFO: Overall peak memory footprint (MB) via periodic monitoring: 66.8125
INFO: Memory status at the end of exeution:
INFO: - VmRSS              : 71 MB
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t  TfLiteXNNPackDelegate\t        2\t   127.910\t    98.421%\t    98.421%\t     0.000\t        2
\t                QUANTIZE\t        1\t     1.650\t     1.270%\t    99.691%\t     0.000\t        1
\t              DEQUANTIZE\t        1\t     0.402\t     0.309%\t   100.000%\t     0.000\t        1

Timings (microseconds): count=50 first=131200 curr=129500 min=127700 max=139900 avg=129962 std=1990
"""

GPU_PARTIAL_LOG = """\
INFO: Num threads: [1]
INFO: #threads used for CPU inference: [1]
INFO: Use gpu: [1]
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Replacing 30 out of 34 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.
INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 2 delegate kernels.
INFO: Initialized session in 1845.3ms.
INFO: count=50 first=21943 curr=20110 min=19876 max=23001 avg=20412 std=402
INFO: Inference timings in us: Init: 1845300, First inference: 201436, Warmup (avg): 39460, Inference (avg): 20412
INFO: Memory footprint delta from the start of the tool (MB): init=312.5 overall=319.02
"""

GPU_FAILED_LOG = """\
INFO: Use gpu: [1]
ERROR: Following operations are not supported by GPU delegate:
ERROR: Failed to apply GPU delegate.
INFO: Initialized session in 12.1ms.
INFO: count=50 first=901000 curr=899000 min=880000 max=950000 avg=900000 std=9000
INFO: Inference timings in us: Init: 12100, First inference: 901000, Warmup (avg): 900000, Inference (avg): 900000
"""


def test_android_parser_reads_recorded_output():
    p = android.parse_benchmark_output(CPU_LOG)
    assert p["init_ms"] == 61.25 and p["first_inference_ms"] == 160.321
    assert p["warmup_avg_ms"] == 138.216
    lat = p["latency_ms"]  # the steady-state block, not the warm-up block
    assert lat["n"] == 50 and lat["mean"] == 130.4115 and lat["median"] == 130.102
    assert lat["std"] == 1.987 and lat["min"] == 128.004 and lat["max"] == 140.22
    assert p["memory_init_mb"] == 42.3516 and p["memory_overall_mb"] == 60.7539
    assert p["peak_memory_mb"] == 66.8125 and p["model_size_mb"] == 17.8912 and p["threads"] == 4
    assert (p["delegated_nodes"], p["total_nodes"], p["partitions"]) == (33, 35, 2)
    assert p["op_profile"][0] == {
        "node_type": "TfLiteXNNPackDelegate",
        "count": 2,
        "avg_ms": 127.91,
        "avg_percent": 98.421,
    }
    assert [r["node_type"] for r in p["op_profile"]] == [
        "TfLiteXNNPackDelegate",
        "QUANTIZE",
        "DEQUANTIZE",
    ]
    g = android.parse_benchmark_output(GPU_PARTIAL_LOG)
    assert g["delegate"] == "gpu" and g["fully_delegated"] is False
    assert (g["delegated_nodes"], g["total_nodes"]) == (30, 34) and g["latency_ms"][
        "median"
    ] is None
    android.check_delegate(g, "gpu", "m.tflite")  # partial: reported, not an error
    f = android.parse_benchmark_output(GPU_FAILED_LOG)
    with pytest.raises(
        android.BenchmarkModelError,
        match="m.tflite: --delegate=gpu was not applied.*Failed to apply GPU delegate",
    ):
        android.check_delegate(f, "gpu", "m.tflite")
    with pytest.raises(android.BenchmarkModelError, match="no 'Inference timings'"):
        android.parse_benchmark_output("ERROR: Could not open model\n")


def test_android_rows_join_the_compare_table(models_dir, tmp_path):
    class FakeAdb:
        def __init__(self):
            self.calls = []

        def __call__(self, *args):
            self.calls.append(args)
            return ""

        def shell(self, command):
            self.calls.append(("shell", command))
            return CPU_LOG

    adb = FakeAdb()
    rows = android.benchmark_models(
        adb,
        "/d/benchmark_model",
        [models_dir / "posenet_int8.tflite"],
        [1, 4],
        "xnnpack",
        50,
        5,
        "/d",
        True,
        [],
    )
    assert [c[0] for c in adb.calls] == ["push", "shell", "shell"]
    assert "--num_threads=4" in adb.calls[2][1] and "--use_xnnpack=true" in adb.calls[2][1]
    assert rows[0]["status"] == "ok" and rows[0]["net"] == "posenet" and rows[0]["mode"] == "int8"
    result = report.new_result("phone", "android-benchmark_model", {"model": "Pixel"}, {}, "")
    result["models"] = rows
    report.write_json(result, tmp_path / "phone.json")
    text = compare.table([report.load_result(tmp_path / "phone.json")])
    assert "| posenet | phone | Pixel | 4 | xnnpack | 130 ms |" in text


def test_runtime_falls_back_to_tflite_runtime(monkeypatch):
    import importlib

    real = importlib.import_module
    litert = real("ai_edge_litert.interpreter")

    def fake(name, *args):
        if name.startswith("ai_edge_litert"):
            raise ImportError("no ai_edge_litert wheel for this Python")
        if name == "tflite_runtime.interpreter":
            return litert  # stands in for the older package with the same API
        return real(name, *args)

    monkeypatch.setattr(runner.importlib, "import_module", fake)
    monkeypatch.setattr(runner, "_package_version", lambda name: "2.14.0")
    rt = runner.load_runtime()
    assert (rt.name, rt.version, rt.module) == ("tflite_runtime", "2.14.0", litert)
    monkeypatch.setattr(
        runner.importlib, "import_module", lambda *a: (_ for _ in ()).throw(ImportError("nothing"))
    )
    with pytest.raises(
        ImportError, match="pip install ai-edge-litert .* pip install tflite-runtime"
    ):
        runner.load_runtime()
    with pytest.raises(ValueError, match="runtime 'tf' is not one of"):
        runner.load_runtime("tf")
