"""The benchmark harness end to end: ``hand3d-benchmark`` with TensorFlow blocked (latency,
accuracy, agreement, pipelines), bad inputs, the CLI's exit codes, ``hand3d-benchmark-compare``
on its results, and the checkout's ``python -m benchmarks.*`` entry points. The tiny stand-in models and the NumPy re-computation
of their numbers: tests/lite_models.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hand3d_tf.harness import bench, compare, latency, result_files
from hand3d_tf.lite.evalset import load_eval_set
from tests.helpers import tensorflow_after
from tests.lite_models import FRAME_HW, N_EVAL, make_eval_arrays, save_eval

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def eval_path(tmp_path_factory, tiny_eval_arrays):
    return save_eval(tmp_path_factory.mktemp("eval") / "eval.npz", tiny_eval_arrays)


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


def test_every_benchmark_module_imports_no_tensorflow():
    package = REPO / "hand3d_tf" / "harness"
    modules = sorted(f"hand3d_tf.harness.{p.stem}" for p in package.glob("[!_]*.py"))
    assert len(modules) >= 8
    assert tensorflow_after(f"import {', '.join(modules)}") == []


def test_latency_stats_match_numpy():
    t = np.random.default_rng(3).gamma(2.0, 5.0, 97)
    s = latency.latency_stats(t)
    assert s["median"] == pytest.approx(np.median(t))
    assert s["p90"] == pytest.approx(np.percentile(t, 90))
    assert s["p99"] == pytest.approx(np.percentile(t, 99))
    assert s["std"] == pytest.approx(t.std()) and s["n"] == 97
    with pytest.raises(ValueError, match="at least one"):
        latency.latency_stats([])


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
sys.argv = ['hand3d-benchmark'] + sys.argv[1:]
from hand3d_tf.harness.cli import benchmark
benchmark()
"""


@pytest.fixture(scope="session")
def harness_run(tiny_tflite_dir, eval_path, tmp_path_factory):
    """One `hand3d-benchmark` in a subprocess with TensorFlow import blocked."""
    out = tmp_path_factory.mktemp("results")
    cmd = [
        sys.executable,
        "-c",
        TF_BLOCKER,
        f"--models={tiny_tflite_dir}",
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
    result = result_files.load_result(out / "tiny.json")
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


def test_harness_accuracy_matches_numpy(harness_run, tiny_eval_arrays):
    _, rows = _rows(harness_run[1])
    hs = rows[("handsegnet_fp32", 1)]["accuracy"]
    assert hs["mask_iou"] == pytest.approx(expected_mask_iou(tiny_eval_arrays), abs=1e-9)
    pn = rows[("posenet_fp32", 1)]["accuracy"]["2d"]
    assert pn["epe_mean"] == pytest.approx(expected_posenet_2d(tiny_eval_arrays), rel=1e-9)
    lf = rows[("lifting_fp32", 2)]["accuracy"]["3d"]  # copied to the 2-thread row
    assert lf["epe_mean"] == pytest.approx(expected_lifting_3d_mm(tiny_eval_arrays), rel=1e-5)
    assert lf["unit"] == "mm" and 0 <= lf["auc_20_50"] <= 1


def test_harness_agreement_matches_direct_runs(harness_run, tiny_tflite_dir, tiny_eval_arrays):
    _, rows = _rows(harness_run[1])
    g = rows[("lifting_int8", 1)]["agreement"]
    diffs = []
    for i in range(N_EVAL):
        feeds = [tiny_eval_arrays["scoremaps"][i : i + 1], tiny_eval_arrays["hand_side"][i : i + 1]]
        diffs.append(
            _raw_run(tiny_tflite_dir / "lifting_int8.tflite", feeds)
            - _raw_run(tiny_tflite_dir / "lifting_fp32.tflite", feeds)
        )
    diffs = np.abs(np.stack(diffs))
    assert g["max_abs_diff"] == pytest.approx(diffs.max(), rel=1e-5)
    assert g["mean_abs_diff"] == pytest.approx(diffs.mean(), rel=1e-5)
    pose = rows[("posenet_int8", 1)]["agreement"]
    assert pose["argmax_agreement"] == 1.0  # one bright cell: int8 finds the same argmax
    assert rows[("posenet_fp32", 1)]["agreement"] is None


def test_harness_pipeline_rows(harness_run, tiny_eval_arrays):
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


def test_bad_inputs_do_not_abort_the_others(tiny_tflite_dir, tmp_path, tiny_eval_arrays):
    """Eval set for another frame size + a corrupt sidecar: those fail, the rest is measured."""
    folder = tmp_path / "export"
    shutil.copytree(tiny_tflite_dir, folder)
    car = json.loads((folder / "posenet_int8.json").read_text())
    (folder / "posenet_int8.json").write_text(json.dumps(dict(car, model_bytes=1)))
    for mode, digest in (("fp32", "a" * 64), ("int8", "b" * 64)):  # exported from other weights
        side = folder / f"lifting_{mode}.json"
        side.write_text(json.dumps(dict(json.loads(side.read_text()), weights_sha256=digest)))
    small = {k: v for k, v in make_eval_arrays(n=2, hw=(40, 64)).items()}
    data = load_eval_set(save_eval(tmp_path / "eval40.npz", small))
    cfg = bench.BenchConfig(models=[str(folder)], eval_set=data, threads=[1], runs=2, warmup=0)
    result = result_files.new_result("bad", "test", {}, {}, "")
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


def test_cli_errors_and_failed_delegate_exit_code(tiny_tflite_dir, tmp_path, capsys):
    from hand3d_tf.harness.cli import benchmark_main

    args = [f"--models={tmp_path / 'none'}", "--no_progress", f"--output_dir={tmp_path}"]
    assert benchmark_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hand3d-benchmark: error: ") and err.count("\n") == 1
    assert "neither a .tflite file nor a directory" in err
    code = benchmark_main(
        [
            f"--models={tiny_tflite_dir / 'lifting_fp32.tflite'}",
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
    row = result_files.load_result(tmp_path / "d.json")["models"][0]
    assert row["status"] == "failed" and "DelegateError" in row["error"]


def test_compare_puts_precisions_side_by_side(harness_run):
    _, out = harness_run
    result = result_files.load_result(out / "tiny.json")
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
    from hand3d_tf.harness.cli import compare_main

    assert compare_main([str(out / "tiny.json"), f"--output={out / 'compare.md'}"]) == 0
    assert (out / "compare.md").read_text() == compare.table([result])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs=0"], "hand3d-benchmark: error: --runs must be >= 1; received 0"),
        (["--threads=0"], "hand3d-benchmark: error: argument --threads: thread counts must be"),
        (["--delegate=tpu"], "hand3d-benchmark: error: argument --delegate: use one of"),
        (["--delegate_option=x"], "hand3d-benchmark: error: --delegate_option='x' must be"),
    ],
)
def test_benchmark_flag_errors_are_one_line(args, message, capsys):
    from hand3d_tf.harness.cli import benchmark_main

    with pytest.raises(SystemExit) as exit_info:
        benchmark_main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(message) and err.count("\n") == 1


def test_compare_refuses_a_file_that_is_not_a_result(tmp_path, capsys):
    from hand3d_tf.harness.cli import compare_main

    (tmp_path / "x.json").write_text('{"format": "other"}')
    assert compare_main([str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hand3d-benchmark-compare: error: ") and "x.json: format 'other'" in err


@pytest.mark.parametrize("module", ["run", "compare", "android"])
def test_checkout_entry_points_are_the_console_scripts(module):
    """``python -m benchmarks.X`` (a checkout) runs the installed package's command."""
    prog = {"run": "hand3d-benchmark"}.get(module, f"hand3d-benchmark-{module}")
    out = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"usage: {prog}" in out.stdout and "Example:" in out.stdout
