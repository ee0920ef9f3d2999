"""ONNX export (hand3d_tf/export/onnx.py, issue 19): round trip against Keras, the fp16
file, the sidecar, the exporter's format rules and the CLI.

Tiny-width nets (tests/conftest.py TINY_CONFIGS); the reference is the tf_keras model
itself on random inputs, compared as max |ONNX - Keras| / max |Keras| per output (the
export's own check, docs/export.md "ONNX").
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
ort = pytest.importorskip("onnxruntime")
onnx_lib = pytest.importorskip("onnx")

from hand3d_tf import models  # noqa: E402
from hand3d_tf.export import exporter, tflite  # noqa: E402
from hand3d_tf.export import onnx as ox  # noqa: E402
from hand3d_tf.lite import sidecar as sc  # noqa: E402
from tests.conftest import TINY_CONFIGS  # noqa: E402
from tests.helpers import run_cli  # noqa: E402

NETS = ("handsegnet", "posenet", "lifting")
HANDSEG_SIZE = (32, 48)  # non-square: catches an H/W swap


@pytest.fixture(scope="module")
def nets():
    return {n: models.build(n, dict(TINY_CONFIGS[n])) for n in NETS}


@pytest.fixture(scope="module")
def shapes(nets):
    return {n: tflite.input_shapes(n, nets[n], HANDSEG_SIZE) for n in NETS}


@pytest.fixture(scope="module")
def exported(nets, shapes, tmp_path_factory):
    """{(net, mode): OnnxResult} for every net in fp32 and fp16, in one folder."""
    out = tmp_path_factory.mktemp("onnx_export")
    results = {}
    for n in NETS:
        fp32 = ox.convert(n, nets[n], shapes[n])
        for mode in ox.MODES:
            results[n, mode] = ox.export_onnx(nets[n], n, mode, out, shapes=shapes[n],
                                              lifting_variant="proposed" if n == "lifting"
                                              else None, fp32=fp32)  # fmt: skip
    return results


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _relative_errors(session, net, model, shapes, seeds) -> dict:
    """{role: max over seeds of max|ONNX - Keras| / max|Keras|}, Keras called directly."""
    errors = {}
    for seed in seeds:
        feeds = ox.random_inputs(net, shapes, seed)
        if net == "lifting":
            out = model([feeds["scoremap"], feeds["hand_side"]], training=False)
            want = {k: np.asarray(v) for k, v in out.items()}
        else:
            y = model(feeds["image"], training=False)
            want = {tflite.OUTPUT_ROLES[net][0]: np.asarray(y[-1] if isinstance(y, list) else y)}
        names = [o.name for o in session.get_outputs()]
        got = dict(zip(names, session.run(None, feeds)))
        for role, ref in want.items():
            assert got[role].shape == ref.shape and got[role].dtype == np.float32, role
            err = np.abs(got[role] - ref).max() / np.abs(ref).max()
            errors[role] = max(errors.get(role, 0.0), float(err))
    return errors


@pytest.mark.parametrize("net", NETS)
def test_fp32_round_trip_matches_keras(net, nets, shapes, exported):
    """Issue 19: ONNX fp32 vs Keras on random inputs (other inputs than the export's own
    check: seeds 10-12): within 1e-5 of the output's scale on these tiny nets, well inside
    the check's bound of 1e-4 (the paper-size nets: the slow tests below)."""
    result = exported[net, "fp32"]
    errors = _relative_errors(_session(result.onnx_path), net, nets[net], shapes[net],
                              seeds=(10, 11, 12))  # fmt: skip
    assert set(errors) == {r for r in tflite.OUTPUT_ROLES[net]}
    assert max(errors.values()) <= 1e-5, errors
    assert max(result.max_rel_error.values()) <= ox.VERIFY_RTOL["fp32"] == 1e-4


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_the_fp32_bound_is_1e4_of_the_output_scale(scale, nets, shapes, tmp_path, monkeypatch):
    """The check accepts max |ONNX - Keras| up to 1e-4 x max |Keras| per output and refuses
    more, whatever the output's scale (a tiny HandSegNet with its logits scaled by ``scale``);
    ONNX Runtime's outputs are replaced by Keras's plus a known error. A fixed 1e-5 refused
    the paper-size HandSegNet's float32 rounding (1.7e-5)."""
    net, shape = "handsegnet", shapes["handsegnet"]
    model = models.build(net, dict(TINY_CONFIGS[net]))
    model.set_weights(nets[net].get_weights())
    head = model.get_layer("conv6_2")
    head.set_weights([w * scale for w in head.get_weights()])
    proto = ox.convert(net, model, shape)
    serve = tflite.serving_function(net, model, shape)
    logits = np.asarray(serve(**ox.random_inputs(net, shape, 0))["logits"])
    assert ox.bound("fp32", logits) == pytest.approx(1e-4 * float(np.abs(logits).max()))
    assert ox.bound("fp32", -3 * logits) == pytest.approx(3 * ox.bound("fp32", logits))

    def keras_plus(fraction):
        def run(blob, feeds, threads=1):
            out = {k: np.array(v) for k, v in serve(**feeds).items()}
            out["logits"].flat[7] += fraction * ox.bound("fp32", out["logits"])
            return out

        return run

    monkeypatch.setattr(ox, "run_onnx", keras_plus(0.9))
    result = ox.export_onnx(model, net, "fp32", tmp_path / "ok", shapes=shape, fp32=proto)
    assert result.max_rel_error["logits"] == pytest.approx(0.9e-4, rel=1e-3)
    assert result.sidecar["verification"]["bound"] == 1e-4
    monkeypatch.setattr(ox, "run_onnx", keras_plus(1.1))
    with pytest.raises(tflite.ExportError, match=r"differs from Keras by 0\.00011 \(max "
                                                 r"\|ONNX - Keras\| / max \|Keras\|, output "
                                                 r"'logits'\) > 0\.0001 on"):  # fmt: skip
        ox.export_onnx(model, net, "fp32", tmp_path / "no", shapes=shape, fp32=proto)
    assert not (tmp_path / "no" / "handsegnet_fp32.onnx").exists()


@pytest.mark.parametrize("net", NETS)
def test_fp16_is_float16_inside_and_float32_at_its_edges(net, nets, shapes, exported):
    """fp16: float16 weights (about half the bytes), float32 inputs and outputs, within the
    stated looser bound 1e-2 (measured here at most 1.3e-3)."""
    fp16, fp32 = exported[net, "fp16"], exported[net, "fp32"]
    proto = onnx_lib.load(str(fp16.onnx_path))
    kinds = {i.data_type for i in proto.graph.initializer if i.dims and np.prod(i.dims) > 16}
    assert onnx_lib.TensorProto.FLOAT16 in kinds and onnx_lib.TensorProto.FLOAT not in kinds
    assert fp16.sidecar["model_bytes"] < 0.6 * fp32.sidecar["model_bytes"]
    assert fp16.sidecar["inputs"] == fp32.sidecar["inputs"]
    assert fp16.sidecar["outputs"] == fp32.sidecar["outputs"]
    errors = _relative_errors(_session(fp16.onnx_path), net, nets[net], shapes[net],
                              seeds=(10, 11))  # fmt: skip
    assert max(errors.values()) <= ox.VERIFY_RTOL["fp16"] == 1e-2, errors


@pytest.mark.parametrize("net,mode", [("handsegnet", "fp32"), ("lifting", "fp16")])
def test_sidecar_validates_and_describes_its_model(net, mode, exported):
    result = exported[net, mode]
    assert result.onnx_path.name == f"{net}_{mode}.onnx"
    assert result.sidecar_path.name == f"{net}_{mode}.onnx.json"
    raw = json.loads(result.sidecar_path.read_text())
    assert raw == result.sidecar
    car = sc.load_sidecar(result.sidecar_path)  # the runtime's reader
    sc.verify_file(car, result.onnx_path)
    assert car.is_onnx and car.opset == ox.DEFAULT_OPSET == 17
    assert (raw["format"], raw["net"], raw["mode"]) == ("hand3d_tf.onnx/1", net, mode)
    import tensorflow as tf
    import tf2onnx

    assert raw["converter"] == {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                                "onnx": onnx_lib.__version__,
                                "hand3d_tf": raw["converter"]["hand3d_tf"]}  # fmt: skip
    proto = onnx_lib.load(str(result.onnx_path))
    assert raw["ops"] == sorted({n.op_type for n in proto.graph.node})
    assert proto.opset_import[0].version == 17
    session = _session(result.onnx_path)
    assert sc.verify_tensors(car, "inputs", sc.onnx_tensor_details(session.get_inputs()))
    order = sc.verify_tensors(car, "outputs", sc.onnx_tensor_details(session.get_outputs()))
    assert len(order) == len(tflite.OUTPUT_ROLES[net])
    assert [e["role"] for e in raw["inputs"]] == list(tflite.INPUT_ROLES[net])
    assert [e["role"] for e in raw["outputs"]] == list(tflite.OUTPUT_ROLES[net])
    if net == "handsegnet":
        assert raw["input_size"] == list(HANDSEG_SIZE) and raw["output_stride"] == 1
        assert raw["normalization"] == {"scale": pytest.approx(1 / 255), "offset": -0.5}
        assert raw["outputs"][0]["shape"] == [1, *HANDSEG_SIZE, 2]
    else:
        assert raw["normalization"] is None and raw["lifting_variant"] == "proposed"
        assert raw["input_size"] == [32, 32] and raw["outputs"][0]["shape"] == [1, 21, 3]
    assert raw["verification"]["bound"] == ox.VERIFY_RTOL[mode]


def test_a_failed_check_writes_nothing(nets, shapes, tmp_path, monkeypatch):
    monkeypatch.setitem(ox.VERIFY_RTOL, "fp32", 1e-12)
    with pytest.raises(tflite.ExportError, match=r"lifting fp32: the ONNX model differs from "
                                                 r"Keras by .* > 1e-12 on random inputs"):  # fmt: skip
        ox.export_onnx(nets["lifting"], "lifting", "fp32", tmp_path, shapes=shapes["lifting"])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"mode 'int8' has no ONNX export; ONNX modes are "
                                         r"\['fp32', 'fp16'\]"):  # fmt: skip
        ox.export_onnx(nets["lifting"], "lifting", "int8", tmp_path)


def test_missing_tools_name_the_extras(monkeypatch):
    real = ox.importlib.util.find_spec
    monkeypatch.setattr(ox.importlib.util, "find_spec",
                        lambda m: None if m in ("tf2onnx", "onnxruntime") else real(m))  # fmt: skip
    with pytest.raises(ox.OnnxToolsMissing) as err:
        ox.check_tools()
    assert str(err.value) == ("the ONNX export needs tf2onnx, onnxruntime (not installed): "
                              "pip install 'hand3d_tf[tf,onnx]'")  # fmt: skip
    assert isinstance(err.value, tflite.ExportError)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"formats": ("onnx",), "modes": ("fp32", "int8")},
         r"mode\(s\) \['int8'\] have no ONNX export"),
        ({"formats": ("tflite", "onnx"), "modes": ("dynamic",)}, r"\['dynamic'\] have no ONNX"),
        ({"formats": ("onnx", "pt")}, r"unknown format\(s\) \['pt'\]; formats are "
                                      r"\['tflite', 'onnx'\]"),
        ({"formats": ()}, r"unknown format\(s\) \[\]"),
        ({"formats": ("onnx",), "check_gpu": True}, r"check_gpu and report check the \.tflite"),
    ],
)  # fmt: skip
def test_export_config_format_rules(kwargs, match):
    with pytest.raises(ValueError, match=match):
        exporter.ExportConfig(weights="random", **kwargs)
    exporter.ExportConfig(weights="random", formats=("tflite", "onnx"), modes=("fp16",))


def test_run_export_writes_both_formats_side_by_side(tiny_weights, tmp_path):
    """--format=tflite,onnx: each file keeps its own sidecar in one folder."""
    cfg = exporter.ExportConfig(nets=("lifting",), modes=("fp32",), weights=str(tiny_weights()),
                                formats=("tflite", "onnx"), saved_model=False,
                                output_dir=str(tmp_path))  # fmt: skip
    lines = []
    summary = exporter.run_export(cfg, log=lines.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lifting_fp32.json", "lifting_fp32.onnx", "lifting_fp32.onnx.json",
        "lifting_fp32.tflite"]  # fmt: skip
    assert [r.onnx_path.name for r in summary.run.onnx_results] == ["lifting_fp32.onnx"]
    assert any("lifting_fp32.onnx" in ln and "opset 17" in ln for ln in lines)
    onnx_car = sc.load_sidecar(tmp_path / "lifting_fp32.onnx.json")
    tfl_car = sc.load_sidecar(tmp_path / "lifting_fp32.json")
    assert onnx_car.is_onnx and not tfl_car.is_onnx
    assert onnx_car.raw["weights_sha256"] == tfl_car.raw["weights_sha256"] is not None


def test_cli_format_onnx_once_in_a_subprocess(tiny_weights, tmp_path):
    out = tmp_path / "out"
    ok = run_cli("export", "--format=onnx", "--mode=all", "--net=lifting",
                 f"--weights={tiny_weights()}", f"--output_dir={out}")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("opset 17  max rel. error vs Keras") == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "lifting_fp16.onnx", "lifting_fp16.onnx.json", "lifting_fp32.onnx",
        "lifting_fp32.onnx.json"]  # fmt: skip
    assert "tfonnx.py" not in ok.stderr  # tf2onnx's INFO lines are quieted
    bad = run_cli("export", "--format=onnx", "--mode=fp32,int8", "--weights=random",
                  f"--output_dir={tmp_path / 'bad'}")  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "hand3d-export: error: --mode: ['int8'] have no ONNX export; --format=onnx takes "
        "--mode of ['fp32', 'fp16']"
    ]
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------ paper size (slow)
def _keras_outputs(net, model, feeds, dtype) -> dict:
    """{role: array} of ``model`` called directly on ``feeds`` cast to ``dtype``."""
    if net == "lifting":
        out = model([feeds["scoremap"].astype(dtype), feeds["hand_side"].astype(dtype)],
                    training=False)  # fmt: skip
        return {k: np.asarray(out[k], np.float64) for k in tflite.OUTPUT_ROLES[net]}
    y = model(feeds["image"].astype(dtype), training=False)
    return {
        tflite.OUTPUT_ROLES[net][0]: np.asarray(y[-1] if isinstance(y, list) else y, np.float64)
    }


@pytest.mark.slow
@pytest.mark.parametrize("net", NETS)
def test_paper_size_fp32_export_is_as_close_to_float64_as_keras(net, tmp_path):
    """Issue 28: the paper-size nets (random weights, as from released-format pickles) pass
    the export check, which refused HandSegNet at 1.7e-5 > 1e-5. The bound is about float32
    rounding, not slack: against a float64 run of the same graph on the check's inputs, Keras
    and ONNX Runtime both stay within a quarter of it (measured with other random weights:
    Keras up to 7.6e-6 of the output's scale, ONNX up to 1.9e-6; the bound is 1e-4). Seed 6
    gives a HandSegNet that the old check refused (ONNX vs Keras 1.27e-5)."""
    from hand3d_tf.keras import keras

    keras.utils.set_random_seed(6)
    model = models.build(net, {})
    assert model.count_params() == {"handsegnet": 13_601_986, "posenet": 17_518_847,
                                    "lifting": 3_875_682}[net]  # fmt: skip
    shape = tflite.input_shapes(net, model, (240, 320))
    result = ox.export_onnx(model, net, "fp32", tmp_path, shapes=shape)
    keras.mixed_precision.set_global_policy("float64")
    try:
        twin = models.build(net, {})
    finally:
        keras.mixed_precision.set_global_policy("float32")
    twin.set_weights([w.astype(np.float64) for w in model.get_weights()])
    blob = result.onnx_path.read_bytes()
    for sample in range(ox.VERIFY_SAMPLES):
        feeds = ox.random_inputs(net, shape, sample)
        exact = _keras_outputs(net, twin, feeds, np.float64)
        keras32 = _keras_outputs(net, model, feeds, np.float32)
        onnx32 = ox.run_onnx(blob, feeds)
        for role, ref in exact.items():
            quarter = ox.bound("fp32", ref) / 4
            assert np.abs(keras32[role] - ref).max() <= quarter, (role, sample)
            assert np.abs(onnx32[role] - ref).max() <= quarter, (role, sample)
