"""The ``<net>_<mode>.json`` sidecar of an exported ``.tflite`` model: its one schema.

The export step (``hand3d_tf/export/tflite.py``) writes sidecars with the names defined
here and checks each one with ``validate`` before writing it; the runtime reads them with
``load_sidecar``, which runs the same ``validate``. Required keys: ``REQUIRED_KEYS``.
The runtime trusts nothing in a sidecar it cannot check against the model file: the
SHA-256 and byte size of the file, and the name, shape and dtype of every input and
output listed. A mismatch raises ``SidecarError`` naming both files.

TensorFlow-free: json and pathlib only.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from hand3d_tf.constants import NETS
from hand3d_tf.files import sha256_file

FORMAT = "hand3d_tf.tflite/1"
# The export precisions (hand3d_tf/export/tflite.py documents each one).
MODES = ("fp32", "fp16", "dynamic", "int8", "int8_io", "int16x8", "qat")
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
    """``export/posenet_int8.tflite`` -> ``export/posenet_int8.json``."""
    return model_path.with_suffix(".json")


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
        raise SidecarError(f"{path}: missing keys {missing} (schema {FORMAT})")
    if raw["format"] != FORMAT:
        raise SidecarError(f"{path}: format {raw['format']!r}, expected {FORMAT!r}")
    if raw["net"] not in NETS:
        raise SidecarError(f"{path}: net {raw['net']!r} is not one of {list(NETS)}")
    if raw["mode"] not in MODES:
        raise SidecarError(f"{path}: mode {raw['mode']!r} is not one of {list(MODES)}")
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
    )


def verify_file(sidecar: Sidecar, model_path: pathlib.Path) -> None:
    """Check that ``model_path`` is the file the sidecar was written for (name, size, SHA-256)."""
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
    digest = sha256_file(model_path)
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
        shape = tuple(int(s) for s in d["shape"])
        dtype = d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"])
        if shape != spec.shape or dtype != spec.dtype:
            raise SidecarError(
                f"{sidecar.path}: {where} {spec.name!r} is {list(spec.shape)} {spec.dtype} in "
                f"the sidecar but {list(shape)} {dtype} in the model"
            )
        order.append(by_name[spec.name])
    return order
