"""hand3d_tf.harness.trtexec: trtexec logs -> results rows, on a log in trtexec's layout."""

from __future__ import annotations

import json
import pathlib

import pytest

from hand3d_tf.harness import cli, compare, trtexec

LOG = pathlib.Path(__file__).parent / "data" / "trtexec_posenet_fp16.txt"


def test_recorded_log_is_read_field_by_field():
    p = trtexec.parse_trtexec_output(LOG.read_text())
    assert p["tensorrt_version"] == "8.6.2" and p["passed"] is True
    assert p["command"].startswith("/usr/src/tensorrt/bin/trtexec --onnx=export/posenet_fp32.onnx")
    assert (p["device"], p["precision"], p["model"]) == (
        "Orin",
        "FP32+FP16",
        "export/posenet_fp32.onnx",
    )
    assert (p["engine_build_s"], p["engine_mib"], p["throughput_qps"]) == (
        101.538,
        21.4463,
        142.196,
    )
    assert p["latency_ms"] == {
        "min": 6.93384, "max": 9.87524, "mean": 7.02917, "median": 7.01855,
        "p90": 7.06592, "p95": 7.09448, "p99": 7.59619,
    }  # fmt: skip
    assert p["gpu_compute_ms"]["median"] == 6.92603 and p["gpu_compute_ms"]["p99"] == 7.49902
    assert p["enqueue_ms"]["mean"] == 1.20113 and p["h2d_ms"]["max"] == 0.112793
    assert p["d2h_ms"]["min"] == 0.0209961
    assert (p["total_host_walltime_s"], p["total_gpu_compute_s"]) == (10.0142, 9.87656)


def test_trace_lines_before_the_summary_are_not_taken_for_it():
    text = LOG.read_text().replace("Latency: min = 6.93384", "Latency: min = 1.5")
    assert trtexec.parse_trtexec_output(text)["latency_ms"]["min"] == 1.5
    cut = LOG.read_text().split("=== Performance summary ===")[0]  # trace averages only
    with pytest.raises(trtexec.TrtexecParseError, match="no '=== Performance summary ==='"):
        trtexec.parse_trtexec_output(cut)


def test_tensorrt_version_codes():
    assert trtexec.tensorrt_version("v8502") == "8.5.2"
    assert trtexec.tensorrt_version("v8601") == "8.6.1"
    assert trtexec.tensorrt_version("v100300") == "10.3.0"


def test_failed_and_old_logs_are_refused_with_the_reason():
    failed = "&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec --onnx=a.onnx\n"
    failed += (
        "[E] Error[4]: network has no layers\n&&&& FAILED TensorRT.trtexec [TensorRT v8502] # x\n"
    )
    with pytest.raises(trtexec.TrtexecParseError, match="trtexec FAILED"):
        trtexec.parse_trtexec_output(failed)
    old = "[I] Host Latency\n[I] min: 2.5 ms (end to end 4.6 ms)\n"
    old += "[I] percentile: 2.9 ms at 99% (end to end 5.5 ms at 99%)\n"
    with pytest.raises(trtexec.TrtexecParseError, match="TensorRT < 8.4"):
        trtexec.parse_trtexec_output(old)


def test_results_rows_name_the_engine_precision_and_compare_reads_them(tmp_path):
    result = trtexec.results_from_logs([LOG], "orin_maxn")
    (row,) = result["models"]
    assert (row["net"], row["mode"], row["delegate"]) == ("posenet", "fp16", "tensorrt")
    assert row["latency_ms"]["median"] == 7.01855 and row["latency_ms"]["n"] is None
    assert row["init_ms"] == pytest.approx(101538.0) and row["gpu_compute_ms"]["median"] == 6.92603
    assert result["source"] == "trtexec" and result["device"]["runtime"]["version"] == "8.6.2"
    assert cli.trtexec_main([str(LOG), f"--output_dir={tmp_path}", "--name=orin"]) == 0
    written = json.loads((tmp_path / "orin.json").read_text())
    assert written["models"][0]["latency_ms"]["p99"] == 7.59619
    table = compare.compare_files([str(tmp_path / "orin.json")], "median")
    assert "posenet" in table and "7.02" in table


def test_trtexec_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "build_only.log"
    bad.write_text("[I] Engine built in 3.0 sec.\n")
    assert cli.trtexec_main([str(bad), f"--output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hand3d-benchmark-trtexec: error: ") and "build_only.log" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "trtexec.json").exists()
    assert cli.trtexec_main([str(tmp_path / "missing.log")]) == 2
    assert "missing.log" in capsys.readouterr().err
