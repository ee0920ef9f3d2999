"""A TensorFlow-free LiteRT model runner: runtime choice, delegates, (de)quantisation, timing.

The runtime is ``ai_edge_litert`` (LiteRT) where it has a wheel, else the older
``tflite_runtime`` (e.g. Python 3.8 on JetPack 5). Delegates, by the ``--delegate`` value:

============  ===================================================================
``xnnpack``   the interpreter's default (XNNPACK applied automatically on CPU)
``none``      plain builtin kernels, no default delegate
``gpu``       the TFLite GPU delegate, loaded by library name (``GPU_DELEGATE_LIBS``)
``litert_gpu`` / ``litert_npu`` / ``litert_cpu``
              LiteRT's accelerator API (``CompiledModel``; ai-edge-litert only)
PATH.so       any external delegate, loaded with ``load_delegate(PATH, options)``
============  ===================================================================

A delegate other than ``xnnpack`` that takes no node raises ``DelegateError``: a silent
fall-back to the CPU kernels would make a "GPU" number a CPU number.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import time
from collections.abc import Sequence

import numpy as np

# Library names the TFLite GPU delegate is built/shipped as (Linux/Android, macOS).
GPU_DELEGATE_LIBS = (
    "libtensorflowlite_gpu_delegate.so",
    "libtensorflowlite_gpu_gl.so",
    "libtensorflowlite_gpu_delegate.dylib",
)
BUILTIN_DELEGATES = ("xnnpack", "none", "gpu")
ACCELERATORS = {"litert_cpu": "CPU", "litert_gpu": "GPU", "litert_npu": "NPU"}
DELEGATE_CHOICES = BUILTIN_DELEGATES + tuple(ACCELERATORS) + ("PATH.so",)
# What an accelerator needs, for its load error (LiteRT's own log, on stderr, says more).
ACCELERATOR_HINTS = {
    "GPU": " (it needs a GPU with a WebGPU, OpenCL or Metal driver)",
    "NPU": " (it needs a vendor dispatch library for the NPU)",
}


class DelegateError(RuntimeError):
    """A requested delegate failed to load or took no part of the graph."""


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The interpreter module in use: ``name`` is the package, ``version`` its version."""

    name: str
    version: str
    module: object


def load_runtime(prefer: str | None = None) -> Runtime:
    """Import ai_edge_litert's interpreter, else tflite_runtime's.

    Args:
        prefer: "ai_edge_litert" or "tflite_runtime" to force one; None tries both in order.
    """
    candidates = ("ai_edge_litert", "tflite_runtime")
    if prefer is not None:
        if prefer not in candidates:
            raise ValueError(f"runtime {prefer!r} is not one of {list(candidates)}")
        candidates = (prefer,)
    errors = []
    for name in candidates:
        try:
            module = importlib.import_module(f"{name}.interpreter")
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        return Runtime(name=name, version=_package_version(name), module=module)
    raise ImportError(
        "no TFLite runtime found; install one of: pip install ai-edge-litert | "
        "pip install tflite-runtime (" + "; ".join(errors) + ")"
    )


def _package_version(name: str) -> str:
    try:
        from importlib import metadata

        return metadata.version(name.replace("_", "-"))
    except Exception:  # noqa: BLE001 - a version is informative only
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """An interpreter input/output: name, shape, NumPy dtype, per-tensor quantisation."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


def _tensor_info(d: dict) -> TensorInfo:
    scale, zero_point = d.get("quantization", (0.0, 0))
    return TensorInfo(
        name=d["name"],
        shape=tuple(int(s) for s in d["shape"]),
        dtype=np.dtype(d["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float -> the tensor's dtype: q = round(x / scale) + zero_point, clipped to the dtype."""
    if not info.quantized:
        return np.asarray(x, dtype=info.dtype)
    limits = np.iinfo(info.dtype)
    q = np.round(np.asarray(x, np.float64) / info.scale) + info.zero_point
    return np.clip(q, limits.min, limits.max).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The tensor's dtype -> float32: x = (q - zero_point) * scale."""
    if not info.quantized:
        return np.asarray(q, dtype=np.float32)
    return ((q.astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)


def random_input(info: TensorInfo, rng: np.random.Generator) -> np.ndarray:
    """Random data of the declared shape and dtype (for models without a sidecar)."""
    if np.issubdtype(info.dtype, np.integer):
        limits = np.iinfo(info.dtype)
        return rng.integers(limits.min, limits.max, size=info.shape, endpoint=True).astype(
            info.dtype
        )
    if info.dtype == np.bool_:
        return rng.integers(0, 2, size=info.shape).astype(bool)
    return rng.uniform(-0.5, 0.5, size=info.shape).astype(info.dtype)


def count_delegated_nodes(ops: Sequence[dict]) -> tuple[int, int]:
    """(original nodes taken by delegates, original nodes) from ``Interpreter._get_ops_details``.

    A delegate replaces a partition of the graph by one "DELEGATE" node appended after the
    original nodes; the interpreter keeps the replaced nodes in its node list. A partition
    is what lies between the delegate node's inputs and outputs: walk back from its
    outputs through the original producers and stop at its inputs.
    """
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {}
    for op in original:
        for t in op["outputs"]:
            producer[int(t)] = op["index"]
    by_index = {op["index"]: op for op in original}
    taken: set[int] = set()
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            node = producer.get(t)
            if t in boundary or node is None or node in taken:
                continue
            taken.add(node)
            stack.extend(int(u) for u in by_index[node]["inputs"] if int(u) >= 0)
    return len(taken), len(original)


class ModelFileError(ValueError):
    """A ``.tflite`` file that the runtime loads but whose contents are damaged."""


class Model:
    """One loaded ``.tflite`` model, ready to invoke.

    Args:
        path: the ``.tflite`` file.
        runtime: from ``load_runtime``.
        threads: CPU threads for the interpreter (and XNNPACK).
        delegate: one of ``DELEGATE_CHOICES`` (a path for an external delegate).
        delegate_options: ``load_delegate`` options for an external delegate.

    Attributes:
        inputs / outputs: ``TensorInfo`` in the interpreter's order.
        init_ms: load + delegate + ``allocate_tensors`` time in milliseconds.
        delegated_nodes / total_nodes: how many of the model's nodes a delegate took
            (None where the runtime cannot tell).
    """

    def __init__(
        self,
        path,
        runtime: Runtime,
        threads: int = 1,
        delegate: str = "xnnpack",
        delegate_options: dict | None = None,
    ):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"model file {self.path} does not exist")
        self.runtime, self.threads, self.delegate = runtime, int(threads), delegate
        self.delegated_nodes: int | None = None
        self.total_nodes: int | None = None
        self.warnings: list[str] = []
        self._compiled = None
        t0 = time.perf_counter()
        if delegate in ACCELERATORS:
            self._init_compiled(ACCELERATORS[delegate])
        else:
            self._init_interpreter(delegate, delegate_options or {})
        self.init_ms = (time.perf_counter() - t0) * 1e3

    # -- construction ------------------------------------------------------------------
    def _init_interpreter(self, delegate: str, options: dict) -> None:
        mod = self.runtime.module
        kwargs = {"model_path": str(self.path), "num_threads": self.threads}
        resolver = getattr(mod, "OpResolverType", None)
        if delegate != "xnnpack" and resolver is not None:
            # Without this the default XNNPACK delegate would take the graph first.
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if delegate == "gpu":
            kwargs["experimental_delegates"] = [self._load_gpu_delegate(mod)]
        elif delegate not in ("xnnpack", "none"):
            kwargs["experimental_delegates"] = [self._load_external(mod, delegate, options)]
        try:
            self._interp = mod.Interpreter(**kwargs)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            if "experimental_delegates" in kwargs:
                raise DelegateError(
                    f"{self.path}: delegate {delegate!r} failed to apply: {e}"
                ) from e
            raise
        try:
            inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        except UnicodeDecodeError as e:  # a flipped bit in a tensor name
            raise ModelFileError(
                f"{self.path} is damaged: a tensor name in it is not UTF-8 text ({e.reason}); "
                "export or copy the model again"
            ) from None
        self.inputs = [_tensor_info(d) for d in inputs]
        self.outputs = [_tensor_info(d) for d in outputs]
        self._in_idx = [d["index"] for d in inputs]
        self._out_idx = [d["index"] for d in outputs]
        ops = getattr(self._interp, "_get_ops_details", None)
        if ops is not None:
            self.delegated_nodes, self.total_nodes = count_delegated_nodes(ops())
        if delegate != "none" and self.delegated_nodes == 0:
            message = f"{self.path}: delegate {delegate!r} took 0 of {self.total_nodes} nodes"
            if delegate != "xnnpack":
                raise DelegateError(message + ": it would silently run on the CPU kernels")
            # XNNPACK is the CPU default; reference kernels are a legitimate outcome.
            self.warnings.append(message + " (reference CPU kernels ran)")

    def _load_gpu_delegate(self, mod):
        errors = []
        for lib in GPU_DELEGATE_LIBS:
            try:
                return mod.load_delegate(lib)
            except (ValueError, RuntimeError, OSError) as e:
                errors.append(f"{lib}: {e}")
        raise DelegateError(
            f"{self.path}: the GPU delegate could not be loaded (tried {list(GPU_DELEGATE_LIBS)}); "
            "build it (benchmarks/README.md) and pass --delegate=/path/to/libtensorflowlite_"
            "gpu_delegate.so, or use --delegate=litert_gpu. Errors: " + " | ".join(errors)
        )

    def _load_external(self, mod, library: str, options: dict):
        if not pathlib.Path(library).is_file() and "/" in library:
            raise DelegateError(
                f"{self.path}: delegate library {library} does not exist "
                f"(--delegate takes one of {list(DELEGATE_CHOICES)})"
            )
        try:
            return mod.load_delegate(library, options or None)
        except (ValueError, RuntimeError, OSError) as e:
            raise DelegateError(
                f"{self.path}: external delegate {library} failed to load: {e}"
            ) from e

    def _init_compiled(self, accelerator: str) -> None:
        if self.runtime.name != "ai_edge_litert":
            raise DelegateError(
                f"{self.path}: LiteRT's accelerator API needs ai-edge-litert, "
                f"runtime is {self.runtime.name}"
            )
        try:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.cpu_options import CpuOptions
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
            from ai_edge_litert.options import Options
        except ImportError as e:
            raise DelegateError(f"this ai-edge-litert has no accelerator API: {e}") from e
        # Metadata (names, quantisation) from a plain interpreter: CompiledModel lacks it.
        meta = self.runtime.module.Interpreter(model_path=str(self.path))
        self.inputs = [_tensor_info(d) for d in meta.get_input_details()]
        self.outputs = [_tensor_info(d) for d in meta.get_output_details()]
        ops = getattr(meta, "_get_ops_details", None)
        self.total_nodes = len(ops()) if ops is not None else None
        accel = getattr(HardwareAccelerator, accelerator)
        try:
            options = Options(
                hardware_accelerators=accel, cpu_options=CpuOptions(num_threads=self.threads)
            )
            model = CompiledModel.from_file(str(self.path), options=options)
        except (RuntimeError, ValueError, TypeError) as e:
            hint = ACCELERATOR_HINTS.get(accelerator, "")
            raise DelegateError(
                f"{self.path}: LiteRT accelerator {accelerator} failed{hint}: "
                f"{str(e).strip()[:300]}"
            ) from e
        if not model.is_fully_accelerated():
            raise DelegateError(
                f"{self.path}: LiteRT accelerator {accelerator} did not take the whole graph"
            )
        self.delegated_nodes = self.total_nodes
        self._compiled = model
        names = model.get_signature_list()
        self._signature = next(iter(names))
        self._sig_outputs = names[self._signature]["outputs"]
        self._in_buf = model.create_input_buffers(0)
        self._out_buf = model.create_output_buffers(0)
        # Signature output order may differ from the interpreter's: map by tensor name.
        details = model.get_output_tensor_details(self._signature)
        by_name = {details[k]["name"]: i for i, k in enumerate(self._sig_outputs)}
        self._out_perm = [by_name.get(o.name, i) for i, o in enumerate(self.outputs)]

    # -- running -----------------------------------------------------------------------
    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        """Set inputs in the interpreter's order, already in each tensor's dtype."""
        if len(arrays) != len(self.inputs):
            raise ValueError(f"{self.path}: {len(self.inputs)} inputs, got {len(arrays)} arrays")
        for i, (info, a) in enumerate(zip(self.inputs, arrays)):
            a = np.ascontiguousarray(a, dtype=info.dtype)
            if a.shape != info.shape:
                raise ValueError(
                    f"{self.path}: input {info.name!r} needs shape {list(info.shape)}, "
                    f"got {list(a.shape)}"
                )
            if self._compiled is not None:
                self._in_buf[i].write(a)
            else:
                self._interp.set_tensor(self._in_idx[i], a)

    def invoke(self) -> None:
        if self._compiled is not None:
            self._compiled.run_by_index(0, self._in_buf, self._out_buf)
        else:
            self._interp.invoke()

    def timed_invoke(self) -> float:
        """One ``invoke()``; returns its wall time in milliseconds (nothing else is timed)."""
        t0 = time.perf_counter()
        self.invoke()
        return (time.perf_counter() - t0) * 1e3

    def get_outputs(self) -> list[np.ndarray]:
        """Outputs in the interpreter's order, in each tensor's dtype (copies)."""
        if self._compiled is None:
            return [self._interp.get_tensor(i).copy() for i in self._out_idx]
        out = []
        for info, j in zip(self.outputs, self._out_perm):
            n = int(np.prod(info.shape))
            out.append(np.asarray(self._out_buf[j].read(n, info.dtype)).reshape(info.shape))
        return out

    def random_inputs(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [random_input(info, rng) for info in self.inputs]
