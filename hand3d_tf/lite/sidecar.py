"""The sidecar of an exported model: its one schema, for ``.tflite`` and ``.onnx`` files.

A ``<net>_<mode>.tflite`` has its sidecar in ``<net>_<mode>.json`` (``format``
``hand3d_tf.tflite/1``); a ``<net>_<mode>.onnx`` in ``<net>_<mode>.onnx.json`` (``format``
``hand3d_tf.onnx/1``), so both exports of a net can share a folder. The two formats have
the same keys and roles; an ONNX sidecar also names its ``opset`` and its converter
versions, and exists for the float modes only (``ONNX_MODES``). ``sidecar_path`` gives the
sidecar of a model file, ``model_suffix`` the model file's suffix of a format.

The export steps (``hand3d_tf/export/tflite.py``, ``hand3d_tf/export/onnx.py``) write
sidecars with the names defined here and check each one with ``validate`` before writing
it; the runtime reads them with ``load_sidecar``, which runs the same ``validate``.
Required keys: ``REQUIRED_KEYS`` (+ ``ONNX_REQUIRED_KEYS`` for ONNX).
The runtime trusts nothing in a sidecar it cannot check against the model file: the
SHA-256 and byte size of the file, and the name, shape and dtype of every input and
output listed. A mismatch raises ``SidecarError`` naming both files.

TensorFlow-free: json and pathlib only.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import pathlib
from typing import Any

from hand3d_tf.constants import KEYPOINT_NAMES, NETS
from hand3d_tf.files import sha256_file

FORMAT = "hand3d_tf.tflite/1"
ONNX_FORMAT = "hand3d_tf.onnx/1"
# The model file's suffix of each format (the sidecar's ``model_file`` must end in it).
MODEL_SUFFIXES = {FORMAT: ".tflite", ONNX_FORMAT: ".onnx"}
# The export precisions (hand3d_tf/export/tflite.py documents each one).
MODES = ("fp32", "fp16", "dynamic", "int8", "int8_io", "int16x8", "qat")
# ONNX is exported from the float models only (hand3d_tf/export/onnx.py): fp16 = float16
# weights and arithmetic with float32 inputs and outputs.
ONNX_MODES = ("fp32", "fp16")
MODES_BY_FORMAT = {FORMAT: MODES, ONNX_FORMAT: ONNX_MODES}
# Image inputs: x = pixel * scale + offset = pixel / 255 - 0.5 (docs/original.md §1).
NORMALIZATION = {"scale": 1.0 / 255.0, "offset": -0.5}
# The roles of each net's inputs and outputs (the export's signature keys), outputs in the
# order the runtime reads them.
NET_INPUT_ROLES = {
    "handsegnet": ("image",),
    "posenet": ("image",),
    "lifting": ("scoremap", "hand_side"),
}
NET_OUTPUT_ROLES = {
    "handsegnet": ("logits",),
    "posenet": ("scoremap",),
    "lifting": ("xyz", "xyz_canonical", "rotation"),
}
# Every role a sidecar may list, in first-use order.
INPUT_ROLES = tuple(dict.fromkeys(r for net in NETS for r in NET_INPUT_ROLES[net]))
OUTPUT_ROLES = tuple(dict.fromkeys(r for net in NETS for r in NET_OUTPUT_ROLES[net]))
REQUIRED_KEYS = (
    "format",
    "net",
    "mode",
    "model_file",
    "model_sha256",
    "model_bytes",
    "inputs",
    "outputs",
    "normalization",
    "input_size",
    "output_stride",
)
# ONNX sidecars also carry the opset (int) and ``converter`` = {"tensorflow", "tf2onnx",
# "onnx", "hand3d_tf": version strings}, what a device needs to know to rebuild an engine.
ONNX_REQUIRED_KEYS = ("opset", "converter")
ONNX_CONVERTER_KEYS = ("tensorflow", "tf2onnx", "onnx", "hand3d_tf")
# The mode every other mode of the same net is compared against (agreement metrics).
REFERENCE_MODE = "fp32"


class SidecarError(ValueError):
    """A sidecar that is malformed or does not describe its model file."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output as the sidecar lists it."""

    name: str
    role: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclasses.dataclass(frozen=True)
class Sidecar:
    """A parsed, schema-checked sidecar (not yet checked against the model; see ``verify``)."""

    path: pathlib.Path
    net: str
    mode: str
    model_file: str
    model_sha256: str
    model_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    normalization: dict | None
    input_size: tuple[int, int]
    output_stride: int
    raw: dict
    format: str = FORMAT
    opset: int | None = None  # ONNX only

    @property
    def is_onnx(self) -> bool:
        return self.format == ONNX_FORMAT

    def input(self, role: str) -> TensorSpec:
        return _by_role(self.inputs, role, self.path, "inputs")

    def output(self, role: str) -> TensorSpec:
        return _by_role(self.outputs, role, self.path, "outputs")

    def output_roles(self) -> tuple[str, ...]:
        return tuple(t.role for t in self.outputs)


def _by_role(specs, role, path, where) -> TensorSpec:
    # Several PoseNet stages may share the role "scoremap": the last listed is the final one.
    found = [t for t in specs if t.role == role]
    if not found:
        have = sorted({t.role for t in specs})
        raise SidecarError(f"{path}: no {where} entry with role {role!r}; it has {have}")
    return found[-1]


def sidecar_path(model_path: pathlib.Path) -> pathlib.Path:
    """``export/posenet_int8.tflite`` -> ``export/posenet_int8.json``;
    ``export/posenet_fp32.onnx`` -> ``export/posenet_fp32.onnx.json`` (beside the
    ``.tflite`` of the same net and mode without overwriting its sidecar)."""
    model_path = pathlib.Path(model_path)
    if model_path.suffix == MODEL_SUFFIXES[ONNX_FORMAT]:
        return model_path.with_name(model_path.name + ".json")
    return model_path.with_suffix(".json")


def model_suffix(fmt: str) -> str:
    """``.tflite`` or ``.onnx``: the model file suffix of a sidecar format."""
    if fmt not in MODEL_SUFFIXES:
        raise SidecarError(f"format {fmt!r} is not one of {list(MODEL_SUFFIXES)}")
    return MODEL_SUFFIXES[fmt]


# ONNX Runtime's element type names (NodeArg.type) -> the numpy names sidecars use.
ONNX_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int32)": "int32",
               "tensor(int64)": "int64"}  # fmt: skip


def onnx_tensor_details(node_args) -> list[dict]:
    """ONNX Runtime ``session.get_inputs()`` (or outputs) as the tensor-detail dicts
    ``verify_tensors`` takes: name, shape (a symbolic dimension stays a string, so it never
    equals a sidecar shape), dtype by numpy name. Duck-typed: imports no onnxruntime."""
    return [
        {"name": a.name, "index": i, "shape": list(a.shape),
         "dtype": ONNX_DTYPES.get(a.type, a.type)}
        for i, a in enumerate(node_args)
    ]  # fmt: skip


def _tensor_spec(entry: Any, path: pathlib.Path, where: str, allowed_roles) -> TensorSpec:
    if not isinstance(entry, dict):
        raise SidecarError(f"{path}: every {where} entry must be an object, got {entry!r}")
    for key in ("name", "role", "shape", "dtype"):
        if key not in entry:
            raise SidecarError(f"{path}: {where} entry {entry!r} lacks key {key!r}")
    if entry["role"] not in allowed_roles:
        raise SidecarError(
            f"{path}: {where} role {entry['role']!r} is not one of {list(allowed_roles)}"
        )
    quant = entry.get("quantization")
    scale = zero_point = None
    if quant is not None:
        try:
            scale, zero_point = float(quant["scale"]), int(quant["zero_point"])
        except (KeyError, TypeError, ValueError) as e:
            raise SidecarError(
                f"{path}: {where} {entry['name']!r} quantization must be "
                f'{{"scale": float, "zero_point": int}} or null, got {quant!r}'
            ) from e
    return TensorSpec(
        name=str(entry["name"]),
        role=entry["role"],
        shape=tuple(int(d) for d in entry["shape"]),
        dtype=str(entry["dtype"]),
        scale=scale,
        zero_point=zero_point,
    )


def describe(fmt: str, net: str, mode: str, model_file: str, blob: bytes, inputs: list,
             outputs: list, *, lifting_variant: str | None, weights_path, ops: list,
             converter: dict, **extra) -> dict:  # fmt: skip
    """The sidecar dict both exporters write (``validate`` checks it): the fields every
    format shares, computed one way, plus ``extra`` (e.g. ONNX's ``opset``).

    inputs / outputs: [{"name", "role", "shape", "dtype", "quantization"}] in role order;
    the first input's and output's shapes give the input size and the output stride.
    """
    first_in, first_out = inputs[0]["shape"], outputs[0]["shape"]
    weights = pathlib.Path(weights_path) if weights_path else None
    return {
        "format": fmt,
        "net": net,
        "mode": mode,
        "model_file": model_file,
        "model_sha256": hashlib.sha256(blob).hexdigest(),
        "model_bytes": len(blob),
        "inputs": inputs,
        "outputs": outputs,
        "normalization": dict(NORMALIZATION) if net != "lifting" else None,
        "input_size": first_in[1:3],
        # 1: logits already at the input size (in-model legacy resize); 8: host upsamples.
        "output_stride": int(round(first_in[1] / first_out[1])) if net != "lifting" else 1,
        "keypoint_names": list(KEYPOINT_NAMES),
        "lifting_variant": lifting_variant if net == "lifting" else None,
        "weights_sha256": sha256_file(weights) if weights and weights.is_file() else None,
        "weights_path": str(weights) if weights else None,
        **extra,
        "ops": ops,
        "converter": converter,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def load_sidecar(path: pathlib.Path) -> Sidecar:
    """Read a sidecar JSON file and ``validate`` it.

    Raises:
        SidecarError: unreadable JSON, or anything ``validate`` rejects.
    """
    path = pathlib.Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SidecarError(f"{path}: cannot read the sidecar JSON: {e}") from e
    return validate(raw, path)


def validate(raw: Any, path: pathlib.Path | str) -> Sidecar:
    """Schema-check a sidecar dict (as read from, or about to be written to, ``path``).

    Raises:
        SidecarError: not an object, a missing key, or a value outside the allowed set
            (the message names the file, the key and the allowed values).
    """
    path = pathlib.Path(path)
    if not isinstance(raw, dict):
        raise SidecarError(f"{path}: a sidecar must be a JSON object, got {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        schema = raw.get("format") if raw.get("format") in MODEL_SUFFIXES else FORMAT
        raise SidecarError(f"{path}: missing keys {missing} (schema {schema})")
    fmt = raw["format"]
    if fmt not in MODEL_SUFFIXES:
        raise SidecarError(
            f"{path}: format {fmt!r}, expected {' or '.join(map(repr, MODEL_SUFFIXES))}"
        )
    if raw["net"] not in NETS:
        raise SidecarError(f"{path}: net {raw['net']!r} is not one of {list(NETS)}")
    modes = MODES_BY_FORMAT[fmt]
    if raw["mode"] not in modes:
        raise SidecarError(f"{path}: mode {raw['mode']!r} is not one of {list(modes)}")
    opset = _onnx_keys(raw, path) if fmt == ONNX_FORMAT else None
    if not str(raw["model_file"]).endswith(MODEL_SUFFIXES[fmt]):
        raise SidecarError(
            f"{path}: model_file {raw['model_file']!r} of a {fmt} sidecar must end in "
            f"{MODEL_SUFFIXES[fmt]!r}"
        )
    inputs = tuple(_tensor_spec(e, path, "inputs", INPUT_ROLES) for e in raw["inputs"])
    outputs = tuple(_tensor_spec(e, path, "outputs", OUTPUT_ROLES) for e in raw["outputs"])
    if not inputs or not outputs:
        raise SidecarError(f"{path}: 'inputs' and 'outputs' must not be empty")
    size = raw["input_size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise SidecarError(f"{path}: input_size must be [H, W], got {size!r}")
    return Sidecar(
        path=path,
        net=raw["net"],
        mode=raw["mode"],
        model_file=str(raw["model_file"]),
        model_sha256=str(raw["model_sha256"]),
        model_bytes=int(raw["model_bytes"]),
        inputs=inputs,
        outputs=outputs,
        normalization=raw["normalization"],
        input_size=(int(size[0]), int(size[1])),
        output_stride=int(raw["output_stride"]),
        raw=raw,
        format=fmt,
        opset=opset,
    )


def _onnx_keys(raw: dict, path: pathlib.Path) -> int:
    """Check an ONNX sidecar's own keys; returns its opset."""
    missing = [k for k in ONNX_REQUIRED_KEYS if k not in raw]
    if missing:
        raise SidecarError(f"{path}: missing keys {missing} (schema {ONNX_FORMAT})")
    opset = raw["opset"]
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 1:
        raise SidecarError(f"{path}: opset must be a positive integer, got {opset!r}")
    conv = raw["converter"]
    lacking = [k for k in ONNX_CONVERTER_KEYS if not isinstance(conv, dict) or k not in conv]
    if lacking:
        raise SidecarError(
            f"{path}: converter must name the versions of {list(ONNX_CONVERTER_KEYS)}; "
            f"it lacks {lacking}"
        )
    return opset


def verify_file(sidecar: Sidecar, model_path: pathlib.Path, sha256=sha256_file) -> None:
    """Check that ``model_path`` is the file the sidecar was written for (name, size, SHA-256).

    sha256: the hash function (a caller that hashes each file once passes its memo)."""
    model_path = pathlib.Path(model_path)
    if sidecar.model_file != model_path.name:
        raise SidecarError(
            f"{sidecar.path}: model_file is {sidecar.model_file!r} but it sits beside "
            f"{model_path.name!r}"
        )
    size = model_path.stat().st_size
    if size != sidecar.model_bytes:
        raise SidecarError(
            f"{sidecar.path}: model_bytes {sidecar.model_bytes} != {size} bytes of {model_path}"
        )
    digest = sha256(model_path)
    if digest != sidecar.model_sha256:
        raise SidecarError(
            f"{sidecar.path}: model_sha256 {sidecar.model_sha256[:12]}... does not match "
            f"{model_path} ({digest[:12]}...): the model was re-exported without its sidecar"
        )


def verify_tensors(sidecar: Sidecar, where: str, details: list[dict]) -> list[int]:
    """Match the sidecar's ``inputs``/``outputs`` to interpreter tensor details.

    Args:
        where: "inputs" or "outputs".
        details: ``Interpreter.get_input_details()`` (or output) dicts.

    Returns:
        For each sidecar entry (in sidecar order), the position in ``details``.

    Raises:
        SidecarError: a listed tensor is missing, or its shape or dtype differs.
    """
    specs = sidecar.inputs if where == "inputs" else sidecar.outputs
    by_name = {d["name"]: i for i, d in enumerate(details)}
    order = []
    for spec in specs:
        if spec.name not in by_name:
            raise SidecarError(
                f"{sidecar.path}: {where} tensor {spec.name!r} is not in the model; "
                f"the model has {sorted(by_name)}"
            )
        d = details[by_name[spec.name]]
        # ONNX Runtime names a symbolic dimension (a str) or leaves it None: kept as is.
        shape = tuple(s if s is None or isinstance(s, str) else int(s) for s in d["shape"])
        dtype = d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"])
        if shape != spec.shape or dtype != spec.dtype:
            raise SidecarError(
                f"{sidecar.path}: {where} {spec.name!r} is {list(spec.shape)} {spec.dtype} in "
                f"the sidecar but {list(shape)} {dtype} in the model"
            )
        order.append(by_name[spec.name])
    return order
