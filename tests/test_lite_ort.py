"""hand3d_tf.lite.ort and the harness on .onnx models: providers, loud failures, and the ONNX
end-to-end pipeline on the bundled default against the TFLite fp32 one."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hand3d_tf.harness.bench import timed_pipeline
from hand3d_tf.lite import nets, ort, runner
from hand3d_tf.runtime import stages

onnxruntime = pytest.importorskip("onnxruntime")
DEFAULT = pathlib.Path(__file__).resolve().parents[1] / "weights" / "default"
NET_ORDER = ("handsegnet", "posenet", "lifting")


def _tiny_onnx(path: pathlib.Path, batch=1) -> pathlib.Path:
    """y = x + 1 on [batch, 4, 4, 3] float32 ("image" -> "scoremap"), written with onnx."""
    onnx = pytest.importorskip("onnx")
    h = onnx.helper
    x = h.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [batch, 4, 4, 3])
    y = h.make_tensor_value_info("scoremap", onnx.TensorProto.FLOAT, [batch, 4, 4, 3])
    one = h.make_tensor("one", onnx.TensorProto.FLOAT, [1], [1.0])
    graph = h.make_graph([h.make_node("Add", ["image", "one"], ["scoremap"])], "g", [x], [y], [one])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def test_ort_model_runs_and_reports_its_provider(tmp_path):
    rt = ort.load_runtime()
    model = ort.OrtModel(_tiny_onnx(tmp_path / "t.onnx"), rt, threads=2, delegate="ort_cpu")
    assert model.providers[0] == "CPUExecutionProvider" and rt.name == "onnxruntime"
    assert [i.name for i in model.inputs] == ["image"] and model.inputs[0].shape == (1, 4, 4, 3)
    assert not model.inputs[0].quantized and model.delegated_nodes is None
    x = model.random_inputs(3)
    model.set_inputs(x)
    assert model.timed_invoke() >= 0.0
    np.testing.assert_array_equal(model.get_outputs()[0], x[0] + 1)
    with pytest.raises(ValueError, match=r"t\.onnx: input 'image' needs shape \[1, 4, 4, 3\]"):
        model.set_inputs([np.zeros((1, 4, 4, 2), np.float32)])


def test_symbolic_dimension_never_matches_a_sidecar(tmp_path):
    model = ort.OrtModel(_tiny_onnx(tmp_path / "t.onnx", batch="N"), ort.load_runtime())
    assert model.inputs[0].shape == (1, 4, 4, 3)  # random inputs can still be made
    assert model.tensor_details("inputs")[0]["shape"] == ["N", 4, 4, 3]


@pytest.mark.parametrize("delegate", ["ort_cuda", "ort_tensorrt"])
def test_requested_provider_that_is_missing_fails_loudly(tmp_path, delegate):
    provider = ort.PROVIDERS[delegate]
    if provider in onnxruntime.get_available_providers():
        pytest.skip(f"{provider} is available here")
    path = _tiny_onnx(tmp_path / "posenet_fp32.onnx")
    with pytest.raises(
        runner.DelegateError, match=rf"posenet_fp32\.onnx: .*{provider}.*not available"
    ):
        ort.OrtModel(path, ort.load_runtime(), delegate=delegate)


def test_format_and_delegate_must_agree(tmp_path):
    path = _tiny_onnx(tmp_path / "posenet_fp32.onnx")
    with pytest.raises(runner.DelegateError, match=r"--delegate=xnnpack runs \.tflite models"):
        nets.load_model(path, runner.load_runtime(), delegate="xnnpack")
    tfl = DEFAULT / "posenet_fp32.tflite"
    with pytest.raises(runner.DelegateError, match=r"--delegate=ort_cpu runs \.onnx models"):
        nets.load_model(tfl, ort.load_runtime(), delegate="ort_cpu")
    assert nets.model_suffix("ort_tensorrt") == ".onnx" and nets.model_suffix("gpu") == ".tflite"


def test_tensorrt_options_go_to_the_tensorrt_provider_first():
    providers = ort.session_providers("ort_tensorrt", {"trt_fp16_enable": True})
    assert providers == [
        ("TensorrtExecutionProvider", {"trt_fp16_enable": "True"}),
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert ort.session_providers("ort_cpu") == [("CPUExecutionProvider", {})]


def test_importing_ort_imports_no_onnxruntime_and_its_absence_is_one_line():
    code = (
        "import sys, hand3d_tf.lite.ort as o, hand3d_tf.lite.nets, hand3d_tf.harness.bench; "
        "print('onnxruntime' in sys.modules); sys.modules['onnxruntime'] = None\n"
        "try:\n    o.load_runtime()\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, message = out.stdout.strip().splitlines()
    assert first == "False"
    assert "pip install 'hand3d_tf[onnx]'" in message and message.startswith("ONNX models need")


def test_benchmark_cli_flag_errors_are_one_line(capsys):
    from hand3d_tf.harness import cli

    for argv, needle in (
        (["--delegate=ort_cpu", "--trt_fp16"], "--trt_fp16 needs --delegate=ort_tensorrt"),
        (["--delegate=xnnpack", "--trt_engine_cache=c/"], "--trt_engine_cache needs"),
        (["--delegate=ort_cpu", "--runtime=tflite_runtime"], "runs on onnxruntime"),
        (["--delegate=ort_gpu"], "use one of"),
    ):
        with pytest.raises(SystemExit) as e:
            cli.benchmark_main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


# --- the bundled default as ONNX ------------------------------------------------------------


@pytest.fixture(scope="session")
def default_onnx_dir(tmp_path_factory):
    """The bundled default's three nets as ``<net>_fp32.onnx`` + ``.onnx.json`` sidecars,
    exported here from its Keras weights by hand3d-export's library (tf2onnx)."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnx")
    from hand3d_tf.export import exporter
    from hand3d_tf.export import onnx as onnx_export

    out = tmp_path_factory.mktemp("onnx_default")
    for net in NET_ORDER:
        loaded = exporter.load_net(net, str(DEFAULT))
        onnx_export.export_onnx(
            loaded.model, net, "fp32", out,
            lifting_variant=loaded.lifting_variant, weights_path=loaded.weights_path,
        )  # fmt: skip
    return out


def _pipeline(folder, delegate):
    rt = nets.load_runtime(delegate)
    found = nets.discover([str(folder)], nets.model_suffix(delegate))
    entries = {e.net: e for e in found if e.mode == "fp32"}
    loaded = [
        nets.NetModel(entries[n], nets.load_model(entries[n].path, rt, 2, delegate))
        for n in NET_ORDER
    ]
    return timed_pipeline(*loaded)


def test_onnx_pipeline_equals_the_tflite_fp32_pipeline(default_onnx_dir):
    _assert_pipelines_agree(_pipeline(default_onnx_dir, "ort_cpu"), _pipeline(DEFAULT, "xnnpack"))


@pytest.mark.slow
def test_paper_size_onnx_pipeline_equals_the_tflite_fp32_pipeline(tmp_path):
    """Issue 28: at paper size (the bundled default widened to width 1.0 without noise, so
    it computes the trained function and its score maps have clear peaks) the fp32 ONNX and
    fp32 TFLite pipelines agree: the same masks, 2D keypoints within 0.5 px."""
    pytest.importorskip("tf2onnx")
    from hand3d_tf.export import exporter, tflite
    from hand3d_tf.export import onnx as onnx_export
    from hand3d_tf.training.widen import widen_weights_file

    wide, out = tmp_path / "weights", tmp_path / "export"
    for net in NET_ORDER:
        widen_weights_file(str(DEFAULT), net, 1.0, str(wide), noise=0.0)
        loaded = exporter.load_net(net, str(wide))
        assert loaded.model.count_params() == {"handsegnet": 13_601_986, "posenet": 17_518_847,
                                               "lifting": 3_875_682}[net]  # fmt: skip
        kwargs = dict(lifting_variant=loaded.lifting_variant, weights_path=loaded.weights_path)
        onnx_export.export_onnx(loaded.model, net, "fp32", out, **kwargs)
        tflite.export_tflite(loaded.model, net, "fp32", out, **kwargs)
    _assert_pipelines_agree(_pipeline(out, "ort_cpu"), _pipeline(out, "xnnpack"))


def _assert_pipelines_agree(onnx_pipe, tflite_pipe):
    """The example image and two random frames, each as a left and a right hand."""
    example = cv2.cvtColor(cv2.imread(str(DEFAULT.parent / "example_hand.png")), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    frames = [example, *rng.integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)]
    for i, frame in enumerate(frames):
        for side in (np.float32([1, 0]), np.float32([0, 1])):
            got, times = onnx_pipe.predict(frame, side), onnx_pipe.timer.times
            want = tflite_pipe.predict(frame, side)
            assert set(times) == set(stages.STAGES) | {"total"}
            assert got.hand_found[0] == want.hand_found[0]
            np.testing.assert_array_equal(got.hand_mask, want.hand_mask)
            # keypoints within 0.5 px, xyz within 1e-4 relative (the bounds)
            assert np.abs(got.keypoints_uv - want.keypoints_uv).max() <= 0.5, i
            scale = np.abs(want.keypoints_xyz).max()
            assert np.abs(got.keypoints_xyz - want.keypoints_xyz).max() <= 1e-4 * scale, i


def test_harness_runs_the_onnx_models_and_pipeline(default_onnx_dir, tmp_path, capsys):
    from hand3d_tf.harness import cli

    status = cli.benchmark_main(
        [f"--models={default_onnx_dir}", "--delegate=ort_cpu", "--runs=2", "--warmup=1",
         "--threads=2", "--no_plots", "--no_progress", f"--output_dir={tmp_path}", "--name=r"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["source"] == "onnxruntime-python"
    assert result["device"]["runtime"]["name"] == "onnxruntime"
    assert [r["net"] for r in result["models"]] == list(NET_ORDER)
    for row in result["models"]:
        assert row["status"] == "ok" and row["providers"][0] == "CPUExecutionProvider"
        assert row["file"].endswith("_fp32.onnx") and row["latency_ms"]["n"] == 2
    (pipe,) = result["pipelines"]
    assert pipe["status"] == "ok" and pipe["mode"] == "fp32" and pipe["delegate"] == "ort_cpu"
    assert pipe["stages_ms"]["posenet"]["median"] > 0


def test_session_keys_are_session_settings_and_spinning_is_off_by_default(tmp_path):
    provider, session = ort.split_options({"trt_fp16_enable": "True", "session.x": "1"})
    assert provider == {"trt_fp16_enable": "True"} and session == {"session.x": "1"}
    assert ort.SESSION_DEFAULTS == {"session.intra_op.allow_spinning": "0"}
    path = _tiny_onnx(tmp_path / "t.onnx")
    model = ort.OrtModel(
        path, ort.load_runtime(), delegate_options={"session.intra_op.allow_spinning": "1"}
    )
    assert model.providers == ["CPUExecutionProvider"]
