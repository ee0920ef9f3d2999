"""Offline TFLite GPU-delegate readiness check (no TensorFlow needed).

Why our own check: TF 2.21's ``tf.lite.experimental.Analyzer`` reports every model as
GPU-compatible, even models with Flex ops (upstream bug tensorflow#77042). This module
reads the ``.tflite`` flatbuffer itself (the schema module shipped with ai-edge-litert)
and compares every operator and tensor with what the TFLite GPU delegate (OpenCL/GL
backends, ``tensorflow/lite/delegates/gpu``) accepts:

- the builtin op is one the delegate has a parser for, at an op version it accepts;
- no Flex (``SELECT_TF_OPS``) or custom ops, except the few custom ops the delegate knows;
- every non-constant tensor has a static shape, at most 4 dimensions, and a type the
  delegate moves to the GPU (float32/float16; int8/uint8 only in quantized models, which
  the delegate dequantizes; int16 activations are never accepted);
- op-specific constraints the delegate checks before taking a node (strided-slice masks,
  slice rank, softmax beta, fused activations, reduction axes, pad shapes, ...).

The op table and constraints are restated from the delegate's public sources
(``model_builder.cc`` and ``tools/versioning/gpu_compatibility.cc``, TF 2.1x); a model
that passes here can still fail on a device whose delegate is older. Everything the
delegate does not take runs on the CPU, and by default the delegate takes only the
largest connected run of supported ops, so each finding usually costs a CPU round trip.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Union

from hand3d_tf.export.gpu_rules import (
    ELEMENTWISE_2,
    LOGICAL_OPS,
    OK_ACTIVATIONS,
    QUANT_ONLY_OPS,
    SUPPORTED_CUSTOM_OPS,
    SUPPORTED_OPS,
)

ModelSource = Union[bytes, bytearray, str, os.PathLike]


def _schema():
    """The flatbuffer schema module: ai-edge-litert's copy, else TensorFlow's."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - only without ai-edge-litert
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One reason the GPU delegate would not run (part of) the model.

    ``op_index`` is the operator's position in subgraph ``subgraph`` (execution order);
    None for model-level findings.
    """

    op: str | None
    message: str
    op_index: int | None = None
    subgraph: int = 0

    def __str__(self) -> str:
        where = "model" if self.op_index is None else f"op #{self.op_index} {self.op}"
        if self.subgraph:
            where = f"subgraph {self.subgraph} {where}"
        return f"{where}: {self.message}"


@dataclasses.dataclass
class GpuReport:
    """The result of :func:`check_gpu_compatibility`.

    ``ops``: sorted distinct op names; ``num_ops``: operators in the main subgraph;
    ``delegable_ops``: how many of them the delegate would take; ``partitions``: runs of
    consecutive delegable ops (the delegate takes only the largest one by default).
    """

    model: str
    ops: list[str]
    findings: list[Finding]
    num_ops: int
    delegable_ops: int
    partitions: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        """One line per distinct (op, reason), listing the operator positions."""
        head = (
            f"{self.model}: {'GPU-ready' if self.ok else 'NOT GPU-ready'} "
            f"({self.delegable_ops}/{self.num_ops} ops delegable, "
            f"{self.partitions} GPU partition(s))"
        )
        groups: dict = {}
        for f in self.findings:
            groups.setdefault((f.subgraph, f.op, f.message), []).append(f.op_index)
        lines = [head]
        for (subgraph, op, message), where in groups.items():
            if where == [None]:
                lines.append(f"  - model: {message}")
                continue
            shown = ", ".join(f"#{k}" for k in where[:8]) + (" ..." if len(where) > 8 else "")
            prefix = f"subgraph {subgraph} " if subgraph else ""
            lines.append(f"  - {prefix}{op} ({len(where)}x: {shown}): {message}")
        return "\n".join(lines)


def _read(model: ModelSource) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "<bytes>"
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TFLite model {path!r} does not exist")
    with open(path, "rb") as f:
        return f.read(), path


class _Graph:
    """Thin accessor over one subgraph of a parsed flatbuffer."""

    def __init__(self, schema, model, subgraph):
        self.schema, self.model, self.sg = schema, model, subgraph
        self.type_names = _enum_names(schema.TensorType)
        # fp16 weights: the delegate folds DEQUANTIZE(constant float16) into a constant,
        # so the outputs of those ops count as constants too.
        self.folded: set[int] = set()
        self.folded_ops: set[int] = set()
        names = _enum_names(schema.BuiltinOperator)
        for k in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(k)
            if _op_name(model.OperatorCodes(op.OpcodeIndex()), names) != "DEQUANTIZE":
                continue
            src = int(op.Inputs(0))
            if self._has_data(src) and self.dtype(src) == "float16":
                self.folded.add(int(op.Outputs(0)))
                self.folded_ops.add(k)

    def tensor(self, idx):
        return self.sg.Tensors(idx)

    def is_const(self, idx: int) -> bool:
        return idx in self.folded or self._has_data(idx)

    def _has_data(self, idx: int) -> bool:
        buf = self.model.Buffers(self.tensor(idx).Buffer())
        # Buffer 0 is the empty sentinel; constants carry data (or an offset in >2 GB files).
        return buf is not None and (buf.DataLength() > 0 or buf.Offset() > 1)

    def dtype(self, idx: int) -> str:
        return self.type_names.get(self.tensor(idx).Type(), "UNKNOWN").lower()

    def dims(self, idx: int) -> list[int]:
        t = self.tensor(idx)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def signature(self, idx: int) -> list[int]:
        t = self.tensor(idx)
        return [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []


def _options(schema, op, cls_name: str):
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = getattr(schema, cls_name)()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _op_constraints(name: str, op, g: _Graph, schema, act_names) -> list[str]:
    """Op-specific checks the delegate runs before it takes a node (gpu_compatibility.cc)."""
    problems = []
    ins = [i for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
    runtime_in = [i for i in ins if not g.is_const(i)]
    act_opts = {
        "CONV_2D": "Conv2DOptions",
        "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
        "AVERAGE_POOL_2D": "Pool2DOptions",
        "MAX_POOL_2D": "Pool2DOptions",
        "MUL": "MulOptions",
        "SUB": "SubOptions",
        "DIV": "DivOptions",
    }
    if name in act_opts:
        opts = _options(schema, op, act_opts[name])
        act = act_names.get(opts.FusedActivationFunction()) if opts is not None else "NONE"
        if act not in OK_ACTIVATIONS:
            problems.append(f"fused activation {act} is not supported")
    if name == "STRIDED_SLICE":
        opts = _options(schema, op, "StridedSliceOptions")
        for mask in ("EllipsisMask", "NewAxisMask", "ShrinkAxisMask"):
            if opts is not None and getattr(opts, mask)():
                snake = {"EllipsisMask": "ellipsis", "NewAxisMask": "new_axis"}.get(
                    mask, "shrink_axis"
                )
                problems.append(f"{snake}_mask is not supported (use a plain slice)")
    if name in ("STRIDED_SLICE", "SLICE") and ins and len(g.dims(ins[0])) not in (3, 4):
        problems.append(f"input rank {len(g.dims(ins[0]))}: only 3-D or 4-D inputs are sliced")
    if name == "SOFTMAX":
        opts = _options(schema, op, "SoftmaxOptions")
        if opts is not None and opts.Beta() != 1.0:
            problems.append(f"softmax beta {opts.Beta()} != 1")
    if name == "RESIZE_BILINEAR":
        opts = _options(schema, op, "ResizeBilinearOptions")
        if opts is not None and opts.AlignCorners() and opts.HalfPixelCenters():
            problems.append("align_corners and half_pixel_centers are both set")
    if name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        if len(ins) < 2 or not g.is_const(ins[1]) or g.dtype(ins[1]) != "int32":
            problems.append("reduction axes must be a constant int32 tensor")
    if name in ("PAD", "PADV2", "MIRROR_PAD") and len(ins) > 1:
        pad = g.dims(ins[1])
        if len(pad) != 2 or pad[0] not in (3, 4) or pad[1] != 2:
            problems.append(f"paddings of shape {pad}: only [4, 2] or [3, 2]")
    if name == "FULLY_CONNECTED":
        opts = _options(schema, op, "FullyConnectedOptions")
        if opts is not None and opts.WeightsFormat() != 0:
            problems.append("shuffled FULLY_CONNECTED weights format is not supported")
        if ins and g.is_const(ins[0]):
            problems.append("constant FULLY_CONNECTED input is not supported")
        if len(runtime_in) > 2:
            problems.append("more than 2 runtime inputs")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV") and len(runtime_in) > 2:
        problems.append("more than 2 runtime inputs")
    if name in ELEMENTWISE_2 + ["MUL"] and name not in ("ADD", "MUL"):
        if len(ins) == 2 and not runtime_in:
            problems.append("both operands are constant")
    return problems


def _tensor_problems(name: str, op, g: _Graph, quantized: bool) -> list[str]:
    """Runtime (non-constant) tensors must be static, <= 4-D and of a GPU type."""
    ins = [i for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
    outs = [i for i in op.OutputsAsNumpy() if i >= 0] if op.OutputsLength() else []
    allowed_in = {"float32", "float16"} | ({"int8", "uint8"} if quantized else set())
    allowed_out = set(allowed_in)
    if name in LOGICAL_OPS:
        allowed_out.add("bool")
    if name == "CAST":
        allowed_in |= {"bool", "int32"}
        allowed_out |= {"int32"}
    if name == "ONE_HOT":
        allowed_in.add("int32")
    bad_types, too_deep, dynamic = set(), [], []
    for idxs, allowed in ((ins, allowed_in), (outs, allowed_out)):
        for i in idxs:
            if g.is_const(i):
                continue
            if len(g.dims(i)) > 4:
                too_deep.append(len(g.dims(i)))
            if any(d < 0 for d in g.signature(i)):
                dynamic.append(g.signature(i))
            if g.dtype(i) not in allowed:
                bad_types.add(g.dtype(i))
    problems = []
    if bad_types:
        problems.append(
            f"runtime tensors of type {sorted(bad_types)}; the delegate moves only "
            f"{sorted(allowed_in)} tensors to the GPU"
        )
    if too_deep:
        problems.append(f"{max(too_deep)}-D tensors: the delegate handles at most 4-D")
    if dynamic:
        problems.append(f"dynamic shapes {dynamic[0]}: static shapes only")
    return problems


def model_ops(model: ModelSource) -> list[str]:
    """Sorted distinct op names of all subgraphs (custom ops by their custom code)."""
    buf, _ = _read(model)
    schema = _schema()
    m = schema.Model.GetRootAs(buf, 0)
    names = _enum_names(schema.BuiltinOperator)
    ops = set()
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for k in range(sg.OperatorsLength()):
            ops.add(_op_name(m.OperatorCodes(sg.Operators(k).OpcodeIndex()), names))
    return sorted(ops)


def _op_name(code, names: dict[int, str]) -> str:
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        return (code.CustomCode() or b"?").decode(errors="replace")
    return name


def check_gpu_compatibility(model: ModelSource) -> GpuReport:
    """Lists every operator/tensor of ``model`` the TFLite GPU delegate would refuse.

    ``model``: a ``.tflite`` path or the flatbuffer bytes. Quantized (int8/uint8) models
    are judged as the delegate's default options do (quantized ops enabled, tensors
    dequantized on the GPU); int16 activations (``int16x8``) are always refused.
    Returns a :class:`GpuReport`; ``report.ok`` is True when there is no finding.
    """
    buf, label = _read(model)
    schema = _schema()
    if not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise ValueError(f"{label} is not a TFLite flatbuffer (file identifier 'TFL3' missing)")
    m = schema.Model.GetRootAs(buf, 0)
    names = _enum_names(schema.BuiltinOperator)
    act_names = _enum_names(schema.ActivationFunctionType)
    findings: list[Finding] = []
    if m.SubgraphsLength() > 1:
        findings.append(
            Finding(None, f"{m.SubgraphsLength()} subgraphs: control flow (WHILE/IF) stays on CPU")
        )
    g = _Graph(schema, m, m.Subgraphs(0))
    num_ops = g.sg.OperatorsLength()
    delegable = [False] * num_ops
    all_ops = set()
    for k in range(num_ops):
        op = g.sg.Operators(k)
        if k in g.folded_ops:
            all_ops.add("DEQUANTIZE")
            delegable[k] = True
            continue
        code = m.OperatorCodes(op.OpcodeIndex())
        name = _op_name(code, names)
        all_ops.add(name)
        problems = _classify(name, code, op, g, schema, act_names)
        findings += [Finding(name, p, k) for p in problems]
        delegable[k] = not problems
    for s in range(1, m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for k in range(sg.OperatorsLength()):
            all_ops.add(_op_name(m.OperatorCodes(sg.Operators(k).OpcodeIndex()), names))
    partitions = sum(1 for k in range(num_ops) if delegable[k] and (k == 0 or not delegable[k - 1]))
    return GpuReport(label, sorted(all_ops), findings, num_ops, sum(delegable), partitions)


def _feeds_float_cast(op, g: _Graph) -> bool:
    out = int(op.Outputs(0))
    names = _enum_names(g.schema.BuiltinOperator)
    consumers = []
    for k in range(g.sg.OperatorsLength()):
        other = g.sg.Operators(k)
        if other.InputsLength() and out in other.InputsAsNumpy():
            consumers.append(other)
    if len(consumers) != 1:
        return False
    cast = consumers[0]
    if _op_name(g.model.OperatorCodes(cast.OpcodeIndex()), names) != "CAST":
        return False
    return g.dtype(int(cast.Outputs(0))) in ("float32", "float16")


def _is_quantized(g: _Graph) -> bool:
    """True if any tensor of the subgraph is int8/uint8 (the delegate then dequantizes)."""
    return any(g.dtype(i) in ("int8", "uint8") for i in range(g.sg.TensorsLength()))


def _classify(name: str, code, op, g: _Graph, schema, act_names) -> list[str]:
    if name.startswith("Flex"):
        return [f"Flex op {name[4:]} (SELECT_TF_OPS) cannot run on the GPU delegate"]
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        if name in SUPPORTED_CUSTOM_OPS:
            return []
        return [f"custom op {name!r} is not implemented by the GPU delegate"]
    if name not in SUPPORTED_OPS:
        return [f"{name} is not implemented by the GPU delegate (falls back to CPU)"]
    quantized = _is_quantized(g)
    if name in QUANT_ONLY_OPS:
        ins = [i for i in op.InputsAsNumpy() if i >= 0]
        if name == "DEQUANTIZE" and ins and g.dtype(ins[0]) == "int16":
            return ["DEQUANTIZE of int16 is not supported"]
    problems = []
    if name in LOGICAL_OPS and not _feeds_float_cast(op, g):
        # The delegate keeps bool tensors only as the input of a CAST back to float.
        problems.append(f"{name} output must feed exactly one CAST to float")
    max_version = SUPPORTED_OPS[name]
    if max_version is not None and code.Version() > max_version:
        problems.append(
            f"op version {code.Version()} > {max_version}, the newest the delegate takes"
        )
    problems += _op_constraints(name, op, g, schema, act_names)
    problems += _tensor_problems(name, op, g, quantized)
    return problems
