"""hand3d_tf/lite/sidecar.py: the one sidecar schema, checked without TensorFlow or a model.

The model file is a few arbitrary bytes and the interpreter's tensor details are plain
dicts, as ``Interpreter.get_input_details()`` returns them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import pathlib

import numpy as np
import pytest

from hand3d_tf.files import sha256_file
from hand3d_tf.lite import sidecar as sc

MODEL_BYTES = b"TFL3 not really a model, but bytes with a known sha256"


def _spec(name, role, shape, dtype="float32", quantization=None) -> dict:
    return {"name": name, "role": role, "shape": shape, "dtype": dtype,
            "quantization": quantization}  # fmt: skip


def _raw(**overrides) -> dict:
    raw = {
        "format": "hand3d_tf.tflite/1",
        "net": "lifting",
        "mode": "int8_io",
        "model_file": "lifting_int8_io.tflite",
        "model_sha256": hashlib.sha256(MODEL_BYTES).hexdigest(),
        "model_bytes": len(MODEL_BYTES),
        "inputs": [
            _spec("serving_scoremap:0", "scoremap", [1, 32, 32, 21], "int8",
                  {"scale": 0.0039, "zero_point": -128}),
            _spec("serving_hand_side:0", "hand_side", [1, 2]),
        ],
        "outputs": [
            _spec("Identity:0", "xyz", [1, 21, 3]),
            _spec("Identity_1:0", "rotation", [1, 3, 3]),
        ],
        "normalization": None,
        "input_size": [32, 32],
        "output_stride": 1,
        "extra_key": "kept in raw",
    }  # fmt: skip
    raw.update(overrides)
    return raw


@pytest.fixture()
def files(tmp_path):
    """(sidecar path, model path) of a consistent pair."""
    model = tmp_path / "lifting_int8_io.tflite"
    model.write_bytes(MODEL_BYTES)
    car = tmp_path / "lifting_int8_io.json"
    car.write_text(json.dumps(_raw()))
    return car, model


def _write(tmp_path, raw) -> pathlib.Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(raw) if isinstance(raw, dict) else raw)
    return path


def test_schema_constants():
    assert sc.FORMAT == "hand3d_tf.tflite/1"
    assert sc.NETS == ("handsegnet", "posenet", "lifting")
    assert sc.MODES == ("fp32", "fp16", "dynamic", "int8", "int8_io", "int16x8", "qat")
    assert sc.INPUT_ROLES == ("image", "scoremap", "hand_side")
    assert sc.OUTPUT_ROLES == ("logits", "scoremap", "xyz", "xyz_canonical", "rotation")
    assert sc.REFERENCE_MODE == "fp32"
    assert set(sc.REQUIRED_KEYS) == {"format", "net", "mode", "model_file", "model_sha256",
                                     "model_bytes", "inputs", "outputs", "normalization",
                                     "input_size", "output_stride"}  # fmt: skip
    assert sc.NORMALIZATION == {"scale": 1.0 / 255.0, "offset": -0.5}
    assert set(sc.NET_INPUT_ROLES) == set(sc.NET_OUTPUT_ROLES) == set(sc.NETS)
    assert sc.NET_INPUT_ROLES["lifting"] == ("scoremap", "hand_side")
    assert sc.NET_OUTPUT_ROLES["lifting"] == ("xyz", "xyz_canonical", "rotation")
    assert {r for roles in sc.NET_INPUT_ROLES.values() for r in roles} == set(sc.INPUT_ROLES)
    assert {r for roles in sc.NET_OUTPUT_ROLES.values() for r in roles} == set(sc.OUTPUT_ROLES)


def test_the_export_writes_with_the_one_definition():
    """hand3d_tf/export/tflite.py has no copy of the schema: its names are these objects."""
    from hand3d_tf.export import tflite

    assert tflite.FORMAT is sc.FORMAT and tflite.MODES is sc.MODES
    assert tflite.NORMALIZATION is sc.NORMALIZATION
    assert tflite.INPUT_ROLES is sc.NET_INPUT_ROLES
    assert tflite.OUTPUT_ROLES is sc.NET_OUTPUT_ROLES


def test_export_checks_each_sidecar_before_writing_anything(tmp_path, monkeypatch):
    """export_tflite runs the reader's validate on the sidecar it built; a broken one is an
    ExportError and neither file is written. (Conversion is stubbed: no TensorFlow.)"""
    from hand3d_tf.export import tflite

    monkeypatch.setattr(tflite, "convert", lambda *a, **k: MODEL_BYTES)
    built = {}
    monkeypatch.setattr(tflite, "describe", lambda *a, **k: built["car"])
    shapes = {"scoremap": [1, 32, 32, 21], "hand_side": [1, 2]}
    built["car"] = _raw(mode="fp32", model_file="lifting_fp32.tflite", format="hand3d_tf.tflite/0")
    with pytest.raises(tflite.ExportError, match=r"lifting fp32: the sidecar breaks its schema: "
                                                 r".*lifting_fp32\.json: format"):  # fmt: skip
        tflite.export_tflite(None, "lifting", "fp32", tmp_path, shapes=shapes)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    built["car"] = _raw(mode="fp32", model_file="lifting_fp32.tflite")
    result = tflite.export_tflite(None, "lifting", "fp32", tmp_path, shapes=shapes)
    car = sc.load_sidecar(result.sidecar_path)
    sc.verify_file(car, result.tflite_path)


def test_validate_is_the_check_load_applies(tmp_path):
    path = _write(tmp_path, _raw())
    car = sc.validate(_raw(), path)
    assert car == sc.load_sidecar(path)
    assert car.path == path and car.net == "lifting"
    with pytest.raises(sc.SidecarError, match=r"about\.json: mode 'int4' is not one of"):
        sc.validate(_raw(mode="int4"), "about.json")
    with pytest.raises(
        sc.SidecarError, match=r"x\.json: a sidecar must be a JSON object, got list"
    ):
        sc.validate([_raw()], "x.json")
    with pytest.raises(sc.SidecarError, match=r"x\.json: a sidecar must be a JSON object"):
        sc.load_sidecar(_write(tmp_path, "[1, 2]").rename(tmp_path / "x.json"))


def test_load_parses_every_field(files):
    car_path, _ = files
    car = sc.load_sidecar(car_path)
    assert car.path == car_path
    assert (car.net, car.mode, car.model_file) == ("lifting", "int8_io", "lifting_int8_io.tflite")
    assert car.model_sha256 == hashlib.sha256(MODEL_BYTES).hexdigest()
    assert car.model_bytes == len(MODEL_BYTES) and isinstance(car.model_bytes, int)
    assert car.input_size == (32, 32) and car.output_stride == 1 and car.normalization is None
    assert car.raw["extra_key"] == "kept in raw"
    scoremap, side = car.inputs
    assert scoremap == sc.TensorSpec("serving_scoremap:0", "scoremap", (1, 32, 32, 21), "int8",
                                     0.0039, -128)  # fmt: skip
    assert side == sc.TensorSpec("serving_hand_side:0", "hand_side", (1, 2), "float32")
    assert side.scale is None and side.zero_point is None
    assert isinstance(scoremap.shape, tuple) and all(type(d) is int for d in scoremap.shape)
    assert type(scoremap.scale) is float and type(scoremap.zero_point) is int
    assert car.output_roles() == ("xyz", "rotation")
    assert car.input("hand_side") is side and car.output("rotation") is car.outputs[1]


def test_numbers_are_converted_from_json_strings_and_floats(tmp_path):
    raw = _raw(model_bytes="55", output_stride=8.0, input_size=["240", 320.0],
               normalization={"scale": 0.00392156862745098, "offset": -0.5})  # fmt: skip
    raw["inputs"][0]["shape"] = ["1", 32.0, 32, 21]
    raw["inputs"][0]["quantization"] = {"scale": "0.5", "zero_point": "3"}
    car = sc.load_sidecar(_write(tmp_path, raw))
    assert car.model_bytes == 55 and car.output_stride == 8 and car.input_size == (240, 320)
    assert car.inputs[0].shape == (1, 32, 32, 21) and car.inputs[0].scale == 0.5
    assert car.inputs[0].zero_point == 3
    assert type(car.model_file) is str and type(car.inputs[0].name) is str
    assert car.normalization == {"scale": 0.00392156862745098, "offset": -0.5}


def test_several_outputs_with_one_role_return_the_last(tmp_path):
    raw = _raw(
        net="posenet",
        inputs=[_spec("image:0", "image", [1, 256, 256, 3])],
        outputs=[_spec(f"s{i}:0", "scoremap", [1, 32, 32, 21]) for i in (1, 2, 3)],
    )
    car = sc.load_sidecar(_write(tmp_path, raw))  # fmt: skip
    assert car.output("scoremap").name == "s3:0"
    assert car.output_roles() == ("scoremap",) * 3
    with pytest.raises(sc.SidecarError, match=r"case\.json: no outputs entry with role 'xyz'; "
                                              r"it has \['scoremap'\]"):  # fmt: skip
        car.output("xyz")
    with pytest.raises(sc.SidecarError, match=r"case\.json: no inputs entry with role 'scoremap'; "
                                              r"it has \['image'\]"):  # fmt: skip
        car.input("scoremap")


@pytest.mark.parametrize(
    "change,match",
    [
        ({"format": "hand3d_tf.tflite/2"},
         r"format 'hand3d_tf\.tflite/2', expected 'hand3d_tf\.tflite/1'"),
        ({"net": "palm"}, r"net 'palm' is not one of \['handsegnet', 'posenet', 'lifting'\]"),
        ({"mode": "int4"}, r"mode 'int4' is not one of \['fp32', 'fp16', 'dynamic'"),
        ({"inputs": []}, r"'inputs' and 'outputs' must not be empty"),
        ({"outputs": []}, r"'inputs' and 'outputs' must not be empty"),
        ({"input_size": [32]}, r"input_size must be \[H, W\], got \[32\]"),
        ({"input_size": 32}, r"input_size must be \[H, W\], got 32"),
        ({"input_size": [1, 2, 3]}, r"input_size must be \[H, W\], got \[1, 2, 3\]"),
        ({"inputs": ["image"]}, r"every inputs entry must be an object, got 'image'"),
        ({"outputs": [{"name": "x", "role": "xyz", "shape": [1]}]},
         r"outputs entry .* lacks key 'dtype'"),
        ({"inputs": [{"role": "image", "shape": [1], "dtype": "float32"}]},
         r"inputs entry .* lacks key 'name'"),
        ({"inputs": [_spec("a", "logits", [1])]},
         r"inputs role 'logits' is not one of \['image', 'scoremap', 'hand_side'\]"),
        ({"outputs": [_spec("a", "image", [1])]},
         r"outputs role 'image' is not one of \['logits', 'scoremap', 'xyz'"),
        ({"inputs": [_spec("q", "image", [1], "int8", {"scale": 0.1})]},
         r"inputs 'q' quantization must be \{\"scale\": float, \"zero_point\": int\} or null, "
         r"got \{'scale': 0\.1\}"),
        ({"inputs": [_spec("q", "image", [1], "int8", {"scale": "x", "zero_point": 0})]},
         r"inputs 'q' quantization must be"),
        ({"inputs": [_spec("q", "image", [1], "int8", [0.1, 0])]},
         r"inputs 'q' quantization must be"),
    ],
)  # fmt: skip
def test_schema_errors_name_the_file_the_key_and_the_allowed_values(tmp_path, change, match):
    path = _write(tmp_path, _raw(**change))
    with pytest.raises(sc.SidecarError, match=r"case\.json: " + match) as err:
        sc.load_sidecar(path)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("missing", ["format", "model_sha256", "output_stride", "normalization"])
def test_missing_keys_are_listed(tmp_path, missing):
    raw = _raw()
    del raw[missing]
    with pytest.raises(sc.SidecarError, match=rf"missing keys \['{missing}'\] "
                                              r"\(schema hand3d_tf\.tflite/1\)"):  # fmt: skip
        sc.load_sidecar(_write(tmp_path, raw))
    raw = {"format": "hand3d_tf.tflite/1"}
    with pytest.raises(sc.SidecarError) as err:
        sc.load_sidecar(_write(tmp_path, raw))
    assert str(sc.REQUIRED_KEYS[1:]).replace("(", "[").replace(")", "]") in str(err.value)


def test_unreadable_json_names_the_file(tmp_path):
    with pytest.raises(sc.SidecarError, match=r"case\.json: cannot read the sidecar JSON"):
        sc.load_sidecar(_write(tmp_path, "{not json"))
    with pytest.raises(sc.SidecarError, match=r"nothing\.json: cannot read the sidecar JSON"):
        sc.load_sidecar(tmp_path / "nothing.json")


def test_sidecar_path_and_sha256(tmp_path):
    assert sc.sidecar_path(pathlib.Path("export/posenet_int8.tflite")) == pathlib.Path(
        "export/posenet_int8.json"
    )
    big = tmp_path / "big.bin"
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several read blocks
    big.write_bytes(data)
    assert sha256_file(big) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_verify_file_accepts_its_model_and_names_each_mismatch(files, tmp_path):
    car_path, model = files
    car = sc.load_sidecar(car_path)
    sc.verify_file(car, model)
    sc.verify_file(car, str(model))  # a str path works too
    renamed = tmp_path / "other.tflite"
    renamed.write_bytes(MODEL_BYTES)
    with pytest.raises(sc.SidecarError, match=r"lifting_int8_io\.json: model_file is "
                                              r"'lifting_int8_io\.tflite' but it sits beside "
                                              r"'other\.tflite'"):  # fmt: skip
        sc.verify_file(car, renamed)
    model.write_bytes(MODEL_BYTES + b"!")
    with pytest.raises(sc.SidecarError, match=rf"model_bytes {len(MODEL_BYTES)} != "
                                              rf"{len(MODEL_BYTES) + 1} bytes of "):  # fmt: skip
        sc.verify_file(car, model)
    tampered = bytearray(MODEL_BYTES)
    tampered[0] ^= 1
    model.write_bytes(bytes(tampered))
    digest = hashlib.sha256(bytes(tampered)).hexdigest()
    with pytest.raises(sc.SidecarError) as err:
        sc.verify_file(car, model)
    assert str(err.value) == (
        f"{car_path}: model_sha256 {car.model_sha256[:12]}... does not match {model} "
        f"({digest[:12]}...): the model was re-exported without its sidecar"
    )


def _details(*specs) -> list[dict]:
    """Interpreter-style tensor details: numpy dtype classes, numpy int32 shapes."""
    return [{"name": name, "index": i, "shape": np.array(shape, np.int32), "dtype": dtype}
            for i, (name, shape, dtype) in enumerate(specs)]  # fmt: skip


def test_verify_tensors_maps_sidecar_order_to_interpreter_positions(files):
    car = sc.load_sidecar(files[0])
    inputs = _details(("serving_hand_side:0", [1, 2], np.float32),
                      ("serving_scoremap:0", [1, 32, 32, 21], np.int8))  # fmt: skip
    assert sc.verify_tensors(car, "inputs", inputs) == [1, 0]
    outputs = _details(("Identity_1:0", [1, 3, 3], np.float32), ("extra:0", [5], np.float32),
                       ("Identity:0", [1, 21, 3], np.float32))  # fmt: skip
    assert sc.verify_tensors(car, "outputs", outputs) == [2, 0]
    # dtype given as a string (some runtimes) is compared as is.
    as_text = [dict(d, dtype="float32" if d["dtype"] is np.float32 else "int8") for d in inputs]
    assert sc.verify_tensors(car, "inputs", as_text) == [1, 0]


def test_verify_tensors_names_missing_tensors_and_shape_or_dtype_changes(files):
    car = sc.load_sidecar(files[0])
    good = [("serving_scoremap:0", [1, 32, 32, 21], np.int8),
            ("serving_hand_side:0", [1, 2], np.float32)]  # fmt: skip
    with pytest.raises(sc.SidecarError) as err:
        sc.verify_tensors(car, "inputs", _details(good[0], ("hand:0", [1, 2], np.float32)))
    assert str(err.value) == (
        f"{files[0]}: inputs tensor 'serving_hand_side:0' is not in the model; "
        "the model has ['hand:0', 'serving_scoremap:0']"
    )
    with pytest.raises(sc.SidecarError) as err:
        sc.verify_tensors(car, "inputs", _details(("serving_scoremap:0", [1, 16, 16, 21],
                                                   np.int8), good[1]))  # fmt: skip
    assert str(err.value) == (
        f"{files[0]}: inputs 'serving_scoremap:0' is [1, 32, 32, 21] int8 in the sidecar but "
        "[1, 16, 16, 21] int8 in the model"
    )
    with pytest.raises(
        sc.SidecarError,
        match=r"'serving_scoremap:0' is \[1, 32, 32, 21\] int8 "
        r"in the sidecar but \[1, 32, 32, 21\] float32",
    ):
        sc.verify_tensors(car, "inputs", _details(("serving_scoremap:0", [1, 32, 32, 21],
                                                   np.float32), good[1]))  # fmt: skip
    with pytest.raises(sc.SidecarError, match=r"outputs tensor 'Identity:0' is not in the model"):
        sc.verify_tensors(car, "outputs", _details(*good))


# ---------- ONNX sidecars (hand3d_tf.onnx/1, issue 19) ----------


def _onnx_raw(**overrides) -> dict:
    raw = _raw(format="hand3d_tf.onnx/1", mode="fp32", model_file="lifting_fp32.onnx",
               opset=17, converter={"tensorflow": "2.21.0", "tf2onnx": "1.17.0",
                                    "onnx": "1.23.2", "hand3d_tf": "0"})  # fmt: skip
    raw["inputs"] = [_spec("scoremap", "scoremap", [1, 32, 32, 21]),
                     _spec("hand_side", "hand_side", [1, 2])]  # fmt: skip
    raw.update(overrides)
    return raw


def test_onnx_schema_constants():
    assert sc.ONNX_FORMAT == "hand3d_tf.onnx/1"
    assert sc.ONNX_MODES == ("fp32", "fp16")
    assert sc.MODES_BY_FORMAT == {sc.FORMAT: sc.MODES, sc.ONNX_FORMAT: sc.ONNX_MODES}
    assert sc.model_suffix(sc.FORMAT) == ".tflite" and sc.model_suffix(sc.ONNX_FORMAT) == ".onnx"
    with pytest.raises(sc.SidecarError, match=r"format 'x' is not one of"):
        sc.model_suffix("x")
    assert sc.ONNX_REQUIRED_KEYS == ("opset", "converter")


def test_onnx_sidecar_sits_beside_the_tflite_one():
    """Both exports of a net and mode can share a folder: the sidecars have other names."""
    onnx = sc.sidecar_path(pathlib.Path("export/posenet_fp32.onnx"))
    assert onnx == pathlib.Path("export/posenet_fp32.onnx.json")
    assert sc.sidecar_path(pathlib.Path("export/posenet_fp32.tflite")) != onnx
    assert sc.sidecar_path("posenet_fp16.onnx") == pathlib.Path("posenet_fp16.onnx.json")


def test_onnx_sidecar_loads_with_format_and_opset(tmp_path):
    model = tmp_path / "lifting_fp32.onnx"
    model.write_bytes(MODEL_BYTES)
    path = sc.sidecar_path(model)
    path.write_text(json.dumps(_onnx_raw()))
    car = sc.load_sidecar(path)
    assert car.is_onnx and car.format == "hand3d_tf.onnx/1" and car.opset == 17
    assert car.raw["converter"]["tf2onnx"] == "1.17.0"
    sc.verify_file(car, model)
    tfl = sc.validate(_raw(), "x.json")
    assert not tfl.is_onnx and tfl.format == sc.FORMAT and tfl.opset is None


@pytest.mark.parametrize(
    "change,match",
    [
        ({"mode": "int8"}, r"mode 'int8' is not one of \['fp32', 'fp16'\]"),
        ({"model_file": "lifting_fp32.tflite"},
         r"model_file 'lifting_fp32\.tflite' of a hand3d_tf\.onnx/1 sidecar must end in '\.onnx'"),
        ({"opset": 0}, r"opset must be a positive integer, got 0"),
        ({"opset": "17"}, r"opset must be a positive integer, got '17'"),
        ({"converter": {"tensorflow": "2.21.0"}},
         r"converter must name the versions of .* it lacks \['tf2onnx', 'onnx', 'hand3d_tf'\]"),
        ({"converter": None}, r"converter must name the versions of"),
    ],
)  # fmt: skip
def test_onnx_schema_errors(tmp_path, change, match):
    with pytest.raises(sc.SidecarError, match=r"case\.json: " + match):
        sc.load_sidecar(_write(tmp_path, _onnx_raw(**change)))


def test_onnx_sidecar_missing_opset_names_its_schema(tmp_path):
    raw = _onnx_raw()
    del raw["opset"]
    with pytest.raises(sc.SidecarError, match=r"missing keys \['opset'\] "
                                              r"\(schema hand3d_tf\.onnx/1\)"):  # fmt: skip
        sc.load_sidecar(_write(tmp_path, raw))
    raw = _onnx_raw()
    del raw["output_stride"]
    with pytest.raises(sc.SidecarError, match=r"\(schema hand3d_tf\.onnx/1\)"):
        sc.load_sidecar(_write(tmp_path, raw))
    # a TFLite sidecar needs neither opset nor converter
    sc.validate(_raw(), "t.json")
    with pytest.raises(sc.SidecarError, match=r"model_file 'x\.onnx' of a hand3d_tf\.tflite/1"):
        sc.validate(_raw(model_file="x.onnx"), "t.json")


class _NodeArg:
    def __init__(self, name, shape, type_):
        self.name, self.shape, self.type = name, shape, type_


def test_onnx_tensor_details_feed_verify_tensors(tmp_path):
    car = sc.validate(_onnx_raw(), tmp_path / "lifting_fp32.onnx.json")
    args = [_NodeArg("hand_side", [1, 2], "tensor(float)"),
            _NodeArg("scoremap", [1, 32, 32, 21], "tensor(float)")]  # fmt: skip
    details = sc.onnx_tensor_details(args)
    assert details[1] == {"name": "scoremap", "index": 1, "shape": [1, 32, 32, 21],
                          "dtype": "float32"}  # fmt: skip
    assert sc.verify_tensors(car, "inputs", details) == [1, 0]
    dynamic = sc.onnx_tensor_details([_NodeArg("scoremap", ["batch", 32, 32, 21],
                                               "tensor(float16)"), args[0]])  # fmt: skip
    with pytest.raises(sc.SidecarError, match=r"'scoremap' is \[1, 32, 32, 21\] float32 in the "
                                              r"sidecar but"):  # fmt: skip
        sc.verify_tensors(car, "inputs", dynamic)


def test_unknown_onnx_dtype_is_kept_as_onnx_names_it():
    """A type the table does not know stays ONNX's own name, so verify_tensors reports it."""
    (detail,) = sc.onnx_tensor_details([_NodeArg("x", [1], "tensor(weird)")])
    assert detail["dtype"] == "tensor(weird)"


def test_an_unknown_format_names_the_ones_expected():
    with pytest.raises(sc.SidecarError) as err:
        sc.validate(_raw(format="hand3d_tf.other/9"), "t.json")
    assert str(err.value) == (
        "t.json: format 'hand3d_tf.other/9', expected 'hand3d_tf.tflite/1' or 'hand3d_tf.onnx/1'"
    )


def test_opset_one_is_the_smallest_accepted(tmp_path):
    assert sc.validate(_onnx_raw(opset=1), tmp_path / "lifting_fp32.onnx.json").opset == 1


@pytest.mark.parametrize("net", ["handsegnet", "posenet", "lifting"])
def test_describe_writes_every_field_one_way(tmp_path, net):
    """The dict both exporters write: each field computed from its inputs, and it validates."""
    weights = tmp_path / f"{net}.npz"
    weights.write_bytes(b"weights")
    if net == "lifting":
        inputs = [_spec("s", "scoremap", [1, 32, 32, 21]), _spec("h", "hand_side", [1, 2])]
        outputs = [_spec("x", "xyz", [1, 21, 3])]
    else:
        role = "logits" if net == "handsegnet" else "scoremap"
        inputs = [_spec("i", "image", [1, 240, 320, 3])]
        outputs = [_spec("o", role, [1, 30, 40, 2 if net == "handsegnet" else 21])]
    model_file = f"{net}_fp32.tflite"
    raw = sc.describe(sc.FORMAT, net, "fp32", model_file, MODEL_BYTES, inputs, outputs,
                      lifting_variant="proposed", weights_path=weights, ops=["CONV_2D"],
                      converter={"tensorflow": "2.21.0"}, note="extra")  # fmt: skip
    assert raw["format"] == sc.FORMAT and raw["net"] == net and raw["mode"] == "fp32"
    assert raw["model_file"] == model_file
    assert raw["model_sha256"] == hashlib.sha256(MODEL_BYTES).hexdigest()
    assert raw["model_bytes"] == len(MODEL_BYTES)
    assert raw["inputs"] == inputs and raw["outputs"] == outputs
    assert raw["keypoint_names"] == list(sc.KEYPOINT_NAMES)
    assert raw["weights_sha256"] == sha256_file(weights)
    assert raw["weights_path"] == str(weights)
    assert raw["ops"] == ["CONV_2D"] and raw["converter"] == {"tensorflow": "2.21.0"}
    assert raw["note"] == "extra"
    created = datetime.datetime.fromisoformat(raw["created"])
    assert created.utcoffset() == datetime.timedelta(0)  # an aware UTC time, to the second
    assert created.microsecond == 0
    if net == "lifting":
        assert raw["normalization"] is None and raw["lifting_variant"] == "proposed"
        assert raw["input_size"] == [32, 32] and raw["output_stride"] == 1
    else:
        assert raw["normalization"] == dict(sc.NORMALIZATION)
        assert raw["lifting_variant"] is None
        assert raw["input_size"] == [240, 320] and raw["output_stride"] == 8
    car = sc.validate(raw, tmp_path / f"{net}_fp32.json")
    assert car.net == net and car.model_sha256 == raw["model_sha256"]
    bare = sc.describe(sc.FORMAT, net, "fp32", model_file, MODEL_BYTES, inputs, outputs,
                       lifting_variant=None, weights_path=None, ops=[], converter={})  # fmt: skip
    assert bare["weights_sha256"] is None and bare["weights_path"] is None
    missing = sc.describe(sc.FORMAT, net, "fp32", model_file, MODEL_BYTES, inputs, outputs,
                          lifting_variant=None, weights_path=tmp_path / "gone.npz", ops=[],
                          converter={})  # fmt: skip
    assert missing["weights_sha256"] is None and missing["weights_path"].endswith("gone.npz")
