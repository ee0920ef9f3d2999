"""An ONNX Runtime model with the interface of ``runner.Model``: execution providers, timing.

The ``.onnx`` files of ``hand3d-export --format=onnx`` run here, by the same roles and
sidecars as the ``.tflite`` files (``nets.NetModel`` takes either model). The execution
provider is chosen by the harness's ``--delegate`` value:

================  ==============================================================================
``ort_cpu``       ``CPUExecutionProvider`` (MLAS kernels), ``threads`` intra-op threads
``ort_cuda``      ``CUDAExecutionProvider``, the CPU provider for nodes CUDA has no kernel for
``ort_tensorrt``  ``TensorrtExecutionProvider``, then CUDA, then CPU for what TensorRT leaves;
                  options (``TRT_OPTIONS``): ``trt_fp16_enable``, ``trt_int8_enable``,
                  ``trt_engine_cache_enable`` + ``trt_engine_cache_path``, ...
================  ==============================================================================

Sessions run with ``SESSION_DEFAULTS`` (intra-op spinning off); ``--delegate_option`` keys
that start with ``session.`` are session settings, the others the provider's options.

A provider that is requested but not in ``onnxruntime.get_available_providers()`` (the
CPU-only wheel has neither CUDA nor TensorRT), or that the session dropped while loading,
raises ``runner.DelegateError`` naming the model and the provider: as with the TFLite GPU
delegate, a silent fall-back to the CPU would make a "GPU" number a CPU number.

onnxruntime is imported lazily, only when an ONNX model is loaded: it is the ``[onnx]``
extra (``pip install 'hand3d_tf[onnx]'``; on a Jetson, NVIDIA's onnxruntime-gpu wheel,
docs/devices.md), and the TFLite path needs none of it. TensorFlow-free.
"""

from __future__ import annotations

import importlib
import pathlib
import time
from collections.abc import Sequence

import numpy as np

from hand3d_tf.lite import runner
from hand3d_tf.lite import sidecar as sc

PROVIDERS = {
    "ort_cpu": "CPUExecutionProvider",
    "ort_cuda": "CUDAExecutionProvider",
    "ort_tensorrt": "TensorrtExecutionProvider",
}
DELEGATES = tuple(PROVIDERS)
# What each choice puts behind its provider for the nodes that provider does not take.
FALLBACKS = {
    "ort_cpu": (),
    "ort_cuda": ("CPUExecutionProvider",),
    "ort_tensorrt": ("CUDAExecutionProvider", "CPUExecutionProvider"),
}
# The TensorRT provider's options the harness documents (docs/benchmarking.md); any other
# key is passed through to onnxruntime, which rejects what it does not know.
TRT_OPTIONS = (
    "trt_fp16_enable",
    "trt_int8_enable",
    "trt_int8_calibration_table_name",
    "trt_engine_cache_enable",
    "trt_engine_cache_path",
    "trt_timing_cache_enable",
    "trt_max_workspace_size",
    "device_id",
)
# Session settings (ONNX Runtime's own "session.*" keys; --delegate_option=session.KEY=VALUE
# overrides). Spinning off: the pipeline holds three sessions, and the idle ones' spinning
# intra-op threads took the cores from the running one. On the 2-core EPYC one frame of the
# default model took 228 ms with spinning and 72 ms without (benchmarks/RESULTS.md).
SESSION_DEFAULTS = {"session.intra_op.allow_spinning": "0"}
SUFFIX = ".onnx"
INSTALL_HINT = "pip install 'hand3d_tf[onnx]' (on a Jetson: NVIDIA's onnxruntime-gpu wheel)"
# ONNX element types (NodeArg.type) -> NumPy dtypes.
ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def is_ort(delegate: str) -> bool:
    """True if ``delegate`` is an ONNX Runtime provider choice (``ort_*``)."""
    return delegate in PROVIDERS


def load_runtime() -> runner.Runtime:
    """onnxruntime as a ``runner.Runtime`` (name, version, module).

    Raises:
        ImportError: onnxruntime is not installed; the message names the extra.
    """
    try:
        module = importlib.import_module("onnxruntime")
    except ImportError as e:
        raise ImportError(f"ONNX models need onnxruntime ({e}): {INSTALL_HINT}") from e
    return runner.Runtime("onnxruntime", str(getattr(module, "__version__", "unknown")), module)


def session_providers(delegate: str, options: dict | None = None) -> list:
    """The ``providers`` list for ``InferenceSession``: the requested one with ``options``,
    then its fallbacks (``FALLBACKS``)."""
    if delegate not in PROVIDERS:
        raise ValueError(
            f"ONNX Runtime delegate must be one of {list(DELEGATES)}; got {delegate!r}"
        )
    first = (PROVIDERS[delegate], {k: str(v) for k, v in (options or {}).items()})
    return [first, *FALLBACKS[delegate]]


def split_options(options: dict | None) -> tuple[dict, dict]:
    """--delegate_option pairs -> (provider options, session config entries): keys that start
    with ``session.`` are ONNX Runtime session settings, the others the provider's."""
    options = dict(options or {})
    session = {k: v for k, v in options.items() if k.startswith("session.")}
    return {k: v for k, v in options.items() if k not in session}, session


def _tensor_info(arg) -> runner.TensorInfo:
    if arg.type not in ONNX_DTYPES:
        raise ValueError(f"tensor {arg.name!r} has type {arg.type}, not one of {list(ONNX_DTYPES)}")
    shape = []
    for d in arg.shape:
        # The export writes static batch-1 shapes (docs/export.md); a symbolic dimension
        # (a third-party model) is taken as 1 so that random inputs can be made.
        shape.append(d if isinstance(d, int) and d > 0 else 1)
    return runner.TensorInfo(arg.name, tuple(shape), np.dtype(ONNX_DTYPES[arg.type]), 0.0, 0)


class OrtModel:
    """One loaded ``.onnx`` model, ready to run; the interface of ``runner.Model``.

    Args:
        path: the ``.onnx`` file.
        runtime: from ``load_runtime``.
        threads: intra-op threads of the session (the CPU provider's thread pool).
        delegate: one of ``DELEGATES``.
        delegate_options: the requested provider's options (strings; ``TRT_OPTIONS``);
            ``session.*`` keys are session settings instead (``SESSION_DEFAULTS``).

    Attributes:
        inputs / outputs: ``runner.TensorInfo`` (never quantised) in the session's order.
        providers: the providers the session runs with, first the requested one.
        init_ms: session creation (graph optimisation, engine build) in milliseconds.
        delegated_nodes / total_nodes: None (ONNX Runtime does not report its assignment).

    Raises:
        runner.DelegateError: the provider is not available here, or the session dropped it.
        FileNotFoundError: no such file.
    """

    def __init__(
        self,
        path,
        runtime: runner.Runtime,
        threads: int = 1,
        delegate: str = "ort_cpu",
        delegate_options: dict | None = None,
    ):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"model file {self.path} does not exist")
        if delegate not in PROVIDERS:
            raise runner.DelegateError(
                f"{self.path}: an ONNX model runs with --delegate one of {list(DELEGATES)}, "
                f"not {delegate!r}"
            )
        self.runtime, self.threads, self.delegate = runtime, int(threads), delegate
        self.delegated_nodes: int | None = None
        self.total_nodes: int | None = None
        self.warnings: list[str] = []
        ort = runtime.module
        wanted = PROVIDERS[delegate]
        available = list(ort.get_available_providers())
        if wanted not in available:
            raise runner.DelegateError(
                f"{self.path}: execution provider {wanted} (--delegate={delegate}) is not "
                f"available in onnxruntime {runtime.version}; it has {available} "
                "(CUDA/TensorRT need the onnxruntime-gpu build, docs/devices.md)"
            )
        provider_options, session_config = split_options(delegate_options)
        providers = [
            p for p in session_providers(delegate, provider_options) if _name(p) in available
        ]
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: a failed provider raises below
        for key, value in {**SESSION_DEFAULTS, **session_config}.items():
            options.add_session_config_entry(key, str(value))
        t0 = time.perf_counter()
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=providers
            )
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise runner.DelegateError(
                f"{self.path}: onnxruntime could not create a session with {wanted}: "
                f"{str(e).strip()[:300]}"
            ) from e
        self.init_ms = (time.perf_counter() - t0) * 1e3
        self.providers = list(self._session.get_providers())
        if wanted not in self.providers:
            raise runner.DelegateError(
                f"{self.path}: the session dropped {wanted} (it runs on {self.providers}): "
                "it would silently run on the CPU"
            )
        self.inputs = [_tensor_info(a) for a in self._session.get_inputs()]
        self.outputs = [_tensor_info(a) for a in self._session.get_outputs()]
        self._out_names = [o.name for o in self.outputs]
        self._feed: dict[str, np.ndarray] = {}
        self._result: list[np.ndarray] | None = None

    def tensor_details(self, where: str) -> list[dict]:
        """The session's "inputs" or "outputs" as ``sidecar.verify_tensors`` takes them
        (symbolic dimensions kept, so they never match a sidecar's static shape)."""
        args = self._session.get_inputs() if where == "inputs" else self._session.get_outputs()
        return sc.onnx_tensor_details(args)

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        """Set inputs in the session's order, already in each tensor's dtype."""
        if len(arrays) != len(self.inputs):
            raise ValueError(f"{self.path}: {len(self.inputs)} inputs, got {len(arrays)} arrays")
        feed = {}
        for info, a in zip(self.inputs, arrays):
            a = np.ascontiguousarray(a, dtype=info.dtype)
            if a.shape != info.shape:
                raise ValueError(
                    f"{self.path}: input {info.name!r} needs shape {list(info.shape)}, "
                    f"got {list(a.shape)}"
                )
            feed[info.name] = a
        self._feed = feed

    def invoke(self) -> None:
        self._result = self._session.run(self._out_names, self._feed)

    def timed_invoke(self) -> float:
        """One ``invoke()``; returns its wall time in milliseconds (nothing else is timed)."""
        t0 = time.perf_counter()
        self.invoke()
        return (time.perf_counter() - t0) * 1e3

    def get_outputs(self) -> list[np.ndarray]:
        """Outputs in the session's order, in each tensor's dtype."""
        if self._result is None:
            raise RuntimeError(f"{self.path}: get_outputs() before invoke()")
        return [np.asarray(r) for r in self._result]

    def random_inputs(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [runner.random_input(info, rng) for info in self.inputs]


def _name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider
