"""Keras network -> ``.onnx`` (fp32, fp16) with tf2onnx, verified, plus its JSON sidecar.

The ONNX files are for ONNX Runtime (CPU, CUDA, TensorRT execution providers) and for
TensorRT's ``trtexec`` on Jetson boards (docs/devices.md). They are traced from the same
static batch-1 ``tf.function`` as the ``.tflite`` files (``tflite.serving_function``), so the
inputs, outputs and their roles are the same: NHWC images ``pixel / 255 - 0.5``, PoseNet's
last stage only, the lifting's flip and rotation inside the model.

=====  =====================================================================================
fp32   tf2onnx's conversion as is (opset ``DEFAULT_OPSET``)
fp16   the fp32 graph with float16 weights and arithmetic, float32 inputs and outputs (a
       Cast at each edge; ``to_float16``). For CUDA / TensorRT; ONNX Runtime's CPU provider
       runs most float16 ops through inserted casts, so it is slower there, not faster
=====  =====================================================================================

Every export is run with ONNX Runtime's CPU provider on random inputs and compared with the
Keras model before anything is written: max |ONNX - Keras| per output must be at most
``bound(mode, Keras output)`` = ``VERIFY_RTOL[mode]`` x max |Keras output|. Nothing else is quantised: the integer modes stay TFLite's
(TensorRT's int8 switch calibrates the fp32 file itself).

Needs tensorflow, tf2onnx, onnx (the ``[tf]`` extra) and onnxruntime (the ``[onnx]`` extra),
all imported lazily: a missing one is an ``OnnxToolsMissing`` naming the extras. The sidecar
schema ``hand3d_tf.onnx/1`` is ``hand3d_tf/lite/sidecar.py``'s; it is checked with its
``validate`` before either file is written.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib

import numpy as np

from hand3d_tf.atomic import atomic_write
from hand3d_tf.export import tflite
from hand3d_tf.export.tflite import ExportError
from hand3d_tf.lite import sidecar as schema

FORMAT = schema.ONNX_FORMAT
MODES = schema.ONNX_MODES
# Opset 17: ONNX Runtime 1.32 reads it, and it is the newest TensorRT's ONNX parser takes
# from 8.5 (JetPack 5.1) on (docs/export.md, "ONNX").
DEFAULT_OPSET = 17
# Export check against Keras, per output: max |ONNX - Keras| <= VERIFY_RTOL[mode] * max |Keras|
# (``bound``), proportional to the output's scale, as the TFLite exports are checked
# (tests/test_export.py FLOAT_RTOL: fp32 1e-4, fp16 1e-2). fp32: both sides round in float32
# and neither is the exact result; against a float64 run of the same graph, the paper-size
# nets' Keras outputs are off by up to 7.6e-6 of their scale and the ONNX outputs by up to
# 1.9e-6 (docs/export.md "ONNX"), so ONNX vs Keras shows Keras's own float32 rounding (up to
# 1.7e-5 with other random weights): 1e-4 leaves 5x room and still catches a wrong op.
# fp16 computes in float16 (11-bit mantissa, 4.9e-4 relative rounding per op), measured at
# most 2.9e-3.
VERIFY_RTOL = {"fp32": 1e-4, "fp16": 1e-2}
VERIFY_SAMPLES = 2
TOOLS = ("tf2onnx", "onnx", "onnxruntime")
TOOLS_EXTRA = "pip install 'hand3d_tf[tf,onnx]'"


class OnnxToolsMissing(ExportError):
    """tf2onnx, onnx or onnxruntime is not installed."""

    def __init__(self, modules):
        super().__init__(
            f"the ONNX export needs {', '.join(modules)} (not installed): {TOOLS_EXTRA}"
        )


def check_tools() -> None:
    """Cheap check (no import, no TensorFlow) that the ONNX export can run here.

    Raises:
        OnnxToolsMissing: naming every missing module and the extras that install them.
    """
    missing = [m for m in TOOLS if importlib.util.find_spec(m) is None]
    if missing:
        raise OnnxToolsMissing(missing)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} has no ONNX export; ONNX modes are {list(MODES)}")
    return mode


def convert(net: str, model, shapes: dict, opset: int = DEFAULT_OPSET):
    """Trace ``model`` at ``shapes`` and convert it with tf2onnx; returns the fp32 ModelProto.

    Input and output names are the roles (``image``; ``logits``, ``scoremap``, ``xyz``, ...).
    """
    check_tools()
    import tf2onnx

    fn = tflite.serving_function(net, model, shapes)
    try:
        proto, _ = tf2onnx.convert.from_function(
            fn, input_signature=fn.input_signature, opset=opset
        )
    except Exception as e:  # tf2onnx raises plain exceptions naming the op it cannot map
        raise ExportError(f"{net}: ONNX conversion failed: {str(e).strip()[-800:]}") from e
    return proto


def _float16_array(tensor) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)


def to_float16(proto):
    """The fp32 ModelProto with float16 weights and arithmetic, float32 inputs and outputs.

    Every float32 initializer and Constant becomes float16, every Cast to float32 a Cast to
    float16; a Cast to float16 follows each float32 graph input and a Cast back to float32
    precedes each output, so the file keeps the fp32 file's names, shapes and dtypes at
    its edges. Resize's ``roi``/``scales`` inputs stay float32 (the operator requires it).
    """
    import onnx
    from onnx import TensorProto, helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    keep32 = {n.input[i] for n in graph.node if n.op_type == "Resize"
              for i in (1, 2) if i < len(n.input) and n.input[i]}  # fmt: skip
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep32:
            graph.initializer[i].CopyFrom(_float16_array(init))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            if (node.op_type == "Constant" and attr.name == "value"
                    and attr.t.data_type == TensorProto.FLOAT
                    and node.output[0] not in keep32):  # fmt: skip
                attr.t.CopyFrom(_float16_array(attr.t))
    casts_in = []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = f"{inp.name}_fp16"
        for node in graph.node:
            node.input[:] = [half if x == inp.name else x for x in node.input]
        casts_in.append(helper.make_node("Cast", [inp.name], [half], to=TensorProto.FLOAT16,
                                         name=f"{inp.name}_to_fp16"))  # fmt: skip
    casts_out = []
    for out in graph.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = f"{out.name}_fp16"
        for node in graph.node:
            node.output[:] = [half if x == out.name else x for x in node.output]
            node.input[:] = [half if x == out.name else x for x in node.input]
        casts_out.append(helper.make_node("Cast", [half], [out.name], to=TensorProto.FLOAT,
                                          name=f"{out.name}_to_fp32"))  # fmt: skip
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # float32 intermediate types would now be wrong
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(blob: bytes, feeds: dict, threads: int = 1) -> dict:
    """Run an ONNX model once with ONNX Runtime's CPU provider: {output name: array}."""
    check_tools()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = threads
    opts.log_severity_level = 3
    session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def random_inputs(net: str, shapes: dict, sample: int) -> dict:
    """Inputs in the ranges the pipeline feeds: images in [-0.5, 0.5] (normalised pixels),
    score maps in [0, 1], the hand side one-hot (left for even ``sample``, right for odd)."""
    rng = np.random.default_rng(sample)
    feeds = {}
    for role in tflite.INPUT_ROLES[net]:
        if role == "image":
            feeds[role] = rng.uniform(-0.5, 0.5, shapes[role])
        elif role == "scoremap":
            feeds[role] = rng.uniform(0.0, 1.0, shapes[role])
        else:
            feeds[role] = np.eye(2)[[sample % 2]]
    return {r: v.astype(np.float32) for r, v in feeds.items()}


def bound(mode: str, reference) -> float:
    """The largest |ONNX - Keras| the export check accepts for one output whose Keras value
    is ``reference``: ``VERIFY_RTOL[mode]`` times the output's scale, max |reference|."""
    return VERIFY_RTOL[check_mode(mode)] * float(np.abs(np.asarray(reference)).max())


def max_relative_error(blob: bytes, net: str, model, shapes: dict,
                       samples: int = VERIFY_SAMPLES) -> dict:  # fmt: skip
    """{output role: max over ``samples`` random inputs of max|ONNX - Keras| / max|Keras|},
    the error in units of the output's scale (the check: at most ``VERIFY_RTOL[mode]``)."""
    fn = tflite.serving_function(net, model, shapes)
    errors: dict = {}
    for sample in range(samples):
        feeds = random_inputs(net, shapes, sample)
        want = {k: np.asarray(v) for k, v in fn(**feeds).items()}
        got = run_onnx(blob, feeds)
        for role, ref in want.items():
            if role not in got:
                raise ExportError(f"{net}: the ONNX model has no output {role!r}: {sorted(got)}")
            err = float(np.abs(got[role] - ref).max() / max(np.abs(ref).max(), 1e-12))
            errors[role] = max(errors.get(role, 0.0), err)
    return errors


def describe(blob: bytes, proto, net: str, mode: str, model_file: str, opset: int, *,
             lifting_variant: str | None = None, weights_path: str | None = None) -> dict:  # fmt: skip
    """The sidecar dict of an ONNX model (schema ``hand3d_tf.onnx/1``)."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    from hand3d_tf.version import __version__

    def entry(role: str, value_info) -> dict:
        t = value_info.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        return {"name": value_info.name, "role": role,
                "shape": [int(d.dim_value) for d in t.shape.dim], "dtype": dtype,
                "quantization": None}  # fmt: skip

    ins = {v.name: v for v in proto.graph.input}
    outs = {v.name: v for v in proto.graph.output}
    inputs = [entry(r, ins[r]) for r in tflite.INPUT_ROLES[net]]
    outputs = [entry(r, outs[r]) for r in tflite.OUTPUT_ROLES[net] if r in outs]
    converter = {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                 "onnx": onnx.__version__, "hand3d_tf": __version__}  # fmt: skip
    return schema.describe(
        FORMAT, net, mode, model_file, blob, inputs, outputs, lifting_variant=lifting_variant,
        weights_path=weights_path, ops=sorted({n.op_type for n in proto.graph.node}),
        converter=converter, opset=int(opset),
    )  # fmt: skip


@dataclasses.dataclass
class OnnxResult:
    """Paths of one ONNX export, its sidecar dict and the verification's errors by role."""

    net: str
    mode: str
    onnx_path: pathlib.Path
    sidecar_path: pathlib.Path
    sidecar: dict
    max_rel_error: dict


def export_onnx(model, net: str, mode: str, output_dir: os.PathLike | str, *,
                shapes: dict | None = None, input_size: tuple[int, int] | None = None,
                opset: int = DEFAULT_OPSET, lifting_variant: str | None = None,
                weights_path: str | None = None, fp32=None) -> OnnxResult:  # fmt: skip
    """Convert ``model``, verify it against Keras and write ``<net>_<mode>.onnx`` +
    ``<net>_<mode>.onnx.json`` atomically (neither is written when a check fails).

    Args:
      shapes: input shapes by role; default from ``tflite.input_shapes`` (``input_size``).
      fp32: this net's fp32 ModelProto when already converted (fp16 starts from it).

    Raises:
      ExportError: conversion failed, the ONNX model misses the bound against Keras, or the
        sidecar breaks its schema. OnnxToolsMissing (an ExportError): no tf2onnx/onnx/ORT.
    """
    tflite.check_net(net)
    check_mode(mode)
    check_tools()
    out = tflite.ensure_writable_dir(output_dir)
    shapes = shapes or tflite.input_shapes(net, model, input_size)
    proto = fp32 if fp32 is not None else convert(net, model, shapes, opset)
    if mode == "fp16":
        proto = to_float16(proto)
    blob = proto.SerializeToString()
    errors = max_relative_error(blob, net, model, shapes)
    worst = max(errors, key=errors.get)
    if errors[worst] > VERIFY_RTOL[mode]:
        raise ExportError(
            f"{net} {mode}: the ONNX model differs from Keras by {errors[worst]:.3g} "
            f"(max |ONNX - Keras| / max |Keras|, output {worst!r}) > {VERIFY_RTOL[mode]:g} "
            f"on random inputs"
        )
    stem = f"{net}_{mode}"
    onnx_path = out / f"{stem}.onnx"
    car_path = schema.sidecar_path(onnx_path)
    sidecar = describe(blob, proto, net, mode, onnx_path.name, opset,
                       lifting_variant=lifting_variant, weights_path=weights_path)  # fmt: skip
    sidecar["verification"] = {"max_rel_error": errors, "bound": VERIFY_RTOL[mode],
                               "samples": VERIFY_SAMPLES}  # fmt: skip
    try:
        schema.validate(sidecar, car_path)
    except schema.SidecarError as e:
        raise ExportError(f"{net} {mode}: the sidecar breaks its schema: {e}") from e
    atomic_write(onnx_path, blob)
    atomic_write(car_path, json.dumps(sidecar, indent=2) + "\n")
    return OnnxResult(net, mode, onnx_path, car_path, sidecar, errors)
