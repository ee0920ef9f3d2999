"""hand3d-benchmark-android (hand3d_tf/harness/android.py): benchmark_model log parsing
(recorded output), its result rows, and a whole run against a stand-in adb."""

from __future__ import annotations

import pytest

from hand3d_tf.harness import android, compare, result_files

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


class FakeAdb:
    """adb that records its calls and answers every shell command with ``CPU_LOG``."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        return ""

    def shell(self, command):
        self.calls.append(("shell", command))
        return CPU_LOG


def test_android_rows_join_the_compare_table(tiny_tflite_dir, tmp_path):
    adb = FakeAdb()
    rows = android.benchmark_models(
        adb,
        "/d/benchmark_model",
        [tiny_tflite_dir / "posenet_int8.tflite"],
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
    result = result_files.new_result("phone", "android-benchmark_model", {"model": "Pixel"}, {}, "")
    result["models"] = rows
    result_files.write_json(result, tmp_path / "phone.json")
    text = compare.table([result_files.load_result(tmp_path / "phone.json")])
    assert "| posenet | phone | Pixel | 4 | xnnpack | 130 ms |" in text


def test_run_android_writes_results_in_the_harness_format(tiny_tflite_dir, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"stand-in binary")
    config = android.AndroidConfig(
        benchmark_binary=str(binary),
        models=(str(tiny_tflite_dir / "lifting_fp32.tflite"),),
        threads=(2,),
        output_dir=str(tmp_path / "out"),
        name="phone",
    )
    result, paths, failed = android.run_android(config, adb=FakeAdb())
    assert failed == [] and [p.name for p in paths] == ["phone.json", "phone.csv", "phone.md"]
    loaded = result_files.load_result(tmp_path / "out" / "phone.json")
    assert loaded["source"] == "android-benchmark_model" and loaded["settings"]["threads"] == [2]
    assert [r["model"] for r in loaded["models"]] == ["lifting_fp32"]
    assert loaded["models"][0]["latency_ms"]["median"] == 130.102


def test_android_cli_user_errors_are_one_line(tmp_path, capsys):
    from hand3d_tf.harness.cli import android_main

    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    missing = tmp_path / "benchmark_model"
    args = [f"--benchmark_binary={missing}", f"--models={model}", f"--output_dir={tmp_path}"]
    assert android_main(args) == 2
    err = capsys.readouterr().err
    assert err == f"hand3d-benchmark-android: error: --benchmark_binary={missing} does not exist\n"
    assert android_main([f"--benchmark_binary={missing}", f"--models={tmp_path / 'no'}"]) == 2
    assert "no such .tflite: " in capsys.readouterr().err
