"""Keras network -> ``.tflite`` in one of seven precisions, plus its JSON sidecar.

One switch on the mode (``configure_converter``); everything else is shared:

=========  =================================================================================
fp32       plain float conversion
fp16       float16 weights (DEQUANTIZE to float32 at load; GPUs run them natively)
dynamic    dynamic-range: int8 weights, float activations quantised on the fly
int8       full int8 weights and activations, float32 inputs/outputs (QUANTIZE/DEQUANTIZE
           at the edges); needs calibration data
int8_io    as int8 but int8 inputs/outputs (scale/zero point in the sidecar)
int16x8    int16 activations, int8 weights (the usual cure for heat-map regressions);
           ops without a 16x8 kernel (the rotation's SIN/COS/SQRT) stay float
qat        int8 conversion of a quantization-aware fine-tuned model (``qat.py``), float I/O
=========  =================================================================================

Every model is traced with a static batch-1 signature and converted with TFLITE_BUILTINS
only, so an op without a builtin (a Flex op) is a conversion error naming the op: Flex
ops cannot run in the Python LiteRT runtimes nor be delegated (docs/original.md §10).

The sidecar schema ``hand3d_tf.tflite/1`` (its format, modes, roles and keys) is defined
once, in ``hand3d_tf/lite/sidecar.py``; every sidecar is checked with its ``validate``, the
check the runtime applies when it reads one, before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any, Callable

from hand3d_tf.atomic import atomic_write, remove_dead_temporaries, temporary_prefix
from hand3d_tf.constants import DEFAULT_INPUT_SIZE, NETS
from hand3d_tf.export.gpu_check import model_ops
from hand3d_tf.lite import sidecar as schema

# The sidecar schema's names, kept here for this module's callers. INPUT_ROLES / OUTPUT_ROLES
# are per net: the signature keys double as sidecar roles, outputs in the order read.
FORMAT = schema.FORMAT
MODES = schema.MODES
NORMALIZATION = schema.NORMALIZATION
INPUT_ROLES = schema.NET_INPUT_ROLES
OUTPUT_ROLES = schema.NET_OUTPUT_ROLES
# Modes whose activation ranges come from a representative dataset.
CALIBRATED_MODES = ("int8", "int8_io", "int16x8", "qat")

RepresentativeData = Callable[[], Iterable[dict]]


class ExportError(RuntimeError):
    """A conversion that cannot succeed (Flex op, missing calibration, bad output dir)."""


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown export mode {mode!r}; modes are {list(MODES)}")
    return mode


def check_net(net: str) -> str:
    if net not in NETS:
        raise ValueError(f"unknown net {net!r}; nets are {list(NETS)}")
    return net


def ensure_writable_dir(path: os.PathLike | str) -> pathlib.Path:
    """Create ``path`` if needed and prove a file can be written there (before any long work)."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ExportError(f"output dir {str(path)!r} is not a writable directory: {e}") from e
    return path


write_atomic = atomic_write  # kept for callers of this module


def input_shapes(net: str, model, input_size: tuple[int, int] | None = None) -> dict:
    """Static batch-1 input shapes by role.

    ``input_size`` (H, W) is used for HandSegNet (the frame, default 240x320, the demo
    size, docs/original.md §5); PoseNet and lifting take their model's own static input shape.
    """
    check_net(net)
    if net == "handsegnet":
        h, w = input_size or DEFAULT_INPUT_SIZE
        return {"image": [1, int(h), int(w), 3]}
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if net == "posenet":
        side = shapes[0][1] or 256
        return {"image": [1, int(side), int(side), 3]}
    h, w, c = (d or default for d, default in zip(shapes[0][1:], (32, 32, 21)))
    return {"scoremap": [1, h, w, c], "hand_side": [1, 2]}


def serving_function(net: str, model, shapes: dict):
    """A ``tf.function`` returning ``{role: tensor}`` traced at ``shapes`` (no dropout)."""
    import tensorflow as tf

    specs = [tf.TensorSpec(shapes[r], tf.float32, name=r) for r in INPUT_ROLES[net]]

    if net == "lifting":

        def serve(scoremap, hand_side):
            out = model([scoremap, hand_side], training=False)
            if not isinstance(out, dict) or "xyz" not in out:
                have = sorted(out) if isinstance(out, dict) else type(out).__name__
                raise ExportError(
                    f"the lifting model returns {have}; only variants with an 'xyz' output "
                    "(proposed, direct, bottleneck) can be exported"
                )
            return {k: out[k] for k in OUTPUT_ROLES["lifting"] if k in out}

    else:
        role = OUTPUT_ROLES[net][0]

        def serve(image):
            out = model(image, training=False)
            # PoseNet returns [S1, S2, S3]: only the last stage is used at inference (docs/original.md §2).
            return {role: out[-1] if isinstance(out, (list, tuple)) else out}

    return tf.function(serve, input_signature=specs)


def positional(representative: RepresentativeData, net: str) -> Callable[[], Iterable[list]]:
    """``representative``'s ``{role: array}`` samples as lists in the converted model's input
    order (the serving function's argument order, ``INPUT_ROLES[net]``).

    The converter's calibrator maps a dict sample to input tensors through the deprecated
    ``tf.lite.Interpreter`` (which prints its deletion warning); a list it feeds as is. A
    sample without some role is an ExportError naming the roles.
    """
    roles = INPUT_ROLES[net]

    def generate():
        for sample in representative():
            missing = [r for r in roles if r not in sample]
            if missing:
                raise ExportError(
                    f"{net} calibration sample lacks {missing}; it has {sorted(sample)}"
                )
            yield [sample[r] for r in roles]

    return generate


def configure_converter(
    converter, mode: str, representative: RepresentativeData | None, net: str | None = None
):
    """The one switch on ``mode``: optimisation, op sets and I/O types of the converter.

    With ``net``, the representative samples are fed as lists in input order (``positional``).
    """
    import tensorflow as tf

    check_mode(mode)
    if mode in CALIBRATED_MODES and representative is None:
        raise ExportError(f"mode {mode!r} needs calibration data (a representative dataset)")
    if representative is not None and net is not None:
        representative = positional(representative, net)
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    converter.target_spec.supported_ops = [builtins]
    if mode == "fp32":
        pass
    elif mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode in ("int8", "int8_io", "qat"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8_io":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    elif mode == "int16x8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # Builtins as fallback: 16x8 has no SIN/COS/SQRT/GREATER kernels (the rotation).
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            builtins,
        ]
    return converter


def _no_builtin_ops(message: str) -> list[str]:
    return sorted(set(re.findall(r"\btf\.[A-Za-z0-9_]+", message)))


def convert(net: str, model, mode: str, shapes: dict, representative=None) -> bytes:
    """Trace ``model`` at ``shapes`` and convert it in ``mode``; returns the flatbuffer."""
    import tensorflow as tf

    check_net(net)
    check_mode(mode)
    concrete = serving_function(net, model, shapes).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    configure_converter(converter, mode, representative, net)
    try:
        return converter.convert()
    except Exception as e:  # ConverterError and friends: name the ops when there are some
        ops = _no_builtin_ops(str(e))
        hint = f"ops with no TFLite builtin: {ops}" if ops else str(e).strip()[-800:]
        raise ExportError(f"{net} {mode}: conversion failed: {hint}") from e


def _tensor_entry(role: str, detail: dict) -> dict:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    dtype = detail["dtype"].__name__
    quantized = scale != 0.0 and dtype.startswith(("int", "uint"))
    return {
        "name": detail["name"],
        "role": role,
        "shape": [int(d) for d in detail["shape"]],
        "dtype": dtype,
        "quantization": {"scale": float(scale), "zero_point": int(zero_point)}
        if quantized
        else None,
    }


def describe(
    tflite: bytes,
    net: str,
    mode: str,
    model_file: str,
    *,
    lifting_variant: str | None = None,
    weights_path: str | None = None,
) -> dict:
    """The sidecar dict of a converted model (schema ``hand3d_tf.tflite/1``)."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from hand3d_tf.version import __version__

    interp = Interpreter(model_content=tflite)
    runner = interp.get_signature_runner()
    ins, outs = runner.get_input_details(), runner.get_output_details()
    # Signature details carry the tensor index; the harness matches by tensor name.
    by_index = {d["index"]: d for d in interp.get_input_details() + interp.get_output_details()}
    inputs = [_tensor_entry(r, by_index[ins[r]["index"]]) for r in INPUT_ROLES[net]]
    outputs = [_tensor_entry(r, by_index[outs[r]["index"]]) for r in OUTPUT_ROLES[net] if r in outs]
    return schema.describe(
        FORMAT, net, mode, model_file, tflite, inputs, outputs, lifting_variant=lifting_variant,
        weights_path=weights_path, ops=model_ops(tflite),
        converter={"tensorflow": tf.__version__, "hand3d_tf": __version__},
    )  # fmt: skip


@dataclasses.dataclass
class ExportResult:
    """Paths of one export and its sidecar dict."""

    net: str
    mode: str
    tflite_path: pathlib.Path
    sidecar_path: pathlib.Path
    sidecar: dict[str, Any]


def export_tflite(
    model,
    net: str,
    mode: str,
    output_dir: os.PathLike | str,
    *,
    shapes: dict | None = None,
    input_size: tuple[int, int] | None = None,
    representative: RepresentativeData | None = None,
    lifting_variant: str | None = None,
    weights_path: str | None = None,
) -> ExportResult:
    """Convert ``model`` and write ``<net>_<mode>.tflite`` + ``<net>_<mode>.json`` atomically.

    Args:
      model: the tf_keras network (for ``qat``: the quantization-aware model from qat.py).
      shapes: input shapes by role; default from :func:`input_shapes` (``input_size``).
      representative: zero-argument callable yielding ``{role: float32 [1, ...]}`` dicts
        (required for CALIBRATED_MODES; see calibration.py).
    """
    check_net(net)
    check_mode(mode)
    if mode in CALIBRATED_MODES and representative is None:
        raise ExportError(f"mode {mode!r} needs calibration data (a representative dataset)")
    out = ensure_writable_dir(output_dir)
    shapes = shapes or input_shapes(net, model, input_size)
    flatbuffer = convert(net, model, mode, shapes, representative)
    stem = f"{net}_{mode}"
    sidecar = describe(
        flatbuffer,
        net,
        mode,
        f"{stem}.tflite",
        lifting_variant=lifting_variant,
        weights_path=weights_path,
    )
    tflite_path, sidecar_path = out / f"{stem}.tflite", out / f"{stem}.json"
    try:  # the reader's own check, before either file is written
        schema.validate(sidecar, sidecar_path)
    except schema.SidecarError as e:
        raise ExportError(f"{net} {mode}: the sidecar breaks its schema: {e}") from e
    write_atomic(tflite_path, flatbuffer)
    write_atomic(sidecar_path, json.dumps(sidecar, indent=2) + "\n")
    return ExportResult(net, mode, tflite_path, sidecar_path, sidecar)


def save_float_savedmodel(model, net: str, output_dir, shapes: dict) -> pathlib.Path:
    """Write the float SavedModel ``<output_dir>/<net>_saved_model`` (serving_default = the
    same batch-1 signature as the ``.tflite``), via a temp folder renamed into place."""
    import tensorflow as tf

    out = ensure_writable_dir(output_dir)
    target = out / f"{net}_saved_model"
    stem = f".{net}_saved_model."
    remove_dead_temporaries(out, stem)  # left by a killed export
    tmp = pathlib.Path(tempfile.mkdtemp(dir=out, prefix=temporary_prefix(stem)))
    try:
        signature = serving_function(net, model, shapes).get_concrete_function()
        tf.saved_model.save(model, str(tmp), signatures={"serving_default": signature})
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
