"""hand3d_tf.lite.runner: runtime choice, (de)quantisation, delegates and their failures."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from hand3d_tf.lite import runner

# Device files through which a process reaches a GPU (NVIDIA, DRM render nodes, Adreno, Mali).
GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/dri/renderD*", "/dev/kgsl-3d0", "/dev/mali*")


def _gpu_devices() -> list[str]:
    return sorted(p for pattern in GPU_DEVICE_FILES for p in glob.glob(pattern))


def test_quantize_dequantize_formula():
    info = runner.TensorInfo("x", (4,), np.dtype(np.int8), 0.5, -3)
    q = runner.quantize(np.array([0.0, 1.26, 100.0, -100.0]), info)
    np.testing.assert_array_equal(q, [-3, -0, 127, -128])  # round(x/0.5) - 3, clipped
    np.testing.assert_allclose(runner.dequantize(q, info), [0.0, 1.5, 65.0, -62.5])
    f = runner.TensorInfo("y", (2,), np.dtype(np.float32), 0.0, 0)
    assert runner.quantize(np.array([1.5, 2.0]), f).dtype == np.float32


def test_count_delegated_nodes_partial_partition():
    ops = [  # 0 -> CONV -> 5 -> RELU -> 6 -> CUSTOM -> 7 -> CONV -> 8, weights 1..4
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 1, 2], "outputs": [5]},
        {"index": 1, "op_name": "RELU", "inputs": [5], "outputs": [6]},
        {"index": 2, "op_name": "CUSTOM", "inputs": [6], "outputs": [7]},
        {"index": 3, "op_name": "CONV_2D", "inputs": [7, 3, 4], "outputs": [8]},
        {"index": 4, "op_name": "DELEGATE", "inputs": [0, 1, 2], "outputs": [6]},
        {"index": 5, "op_name": "DELEGATE", "inputs": [7, 3, 4], "outputs": [8]},
    ]
    assert runner.count_delegated_nodes(ops) == (3, 4)
    assert runner.count_delegated_nodes(ops[:4]) == (0, 4)


def test_model_counts_xnnpack_nodes_and_none(tiny_tflite_dir):
    rt = runner.load_runtime()
    x = runner.Model(tiny_tflite_dir / "posenet_fp32.tflite", rt, threads=1, delegate="xnnpack")
    assert x.total_nodes >= 2 and x.delegated_nodes == x.total_nodes
    n = runner.Model(tiny_tflite_dir / "posenet_fp32.tflite", rt, threads=1, delegate="none")
    assert n.delegated_nodes == 0 and n.total_nodes == x.total_nodes and not n.warnings


def test_missing_external_delegate_fails_loudly(tiny_tflite_dir, tmp_path):
    rt = runner.load_runtime()
    model = tiny_tflite_dir / "posenet_fp32.tflite"
    with pytest.raises(runner.DelegateError, match=r"posenet_fp32\.tflite.*nope\.so"):
        runner.Model(model, rt, delegate=str(tmp_path / "nope.so"))
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not a library")
    with pytest.raises(runner.DelegateError, match="bogus.so failed to load"):
        runner.Model(model, rt, delegate=str(bogus))


def test_litert_cpu_accelerator_matches_the_builtin_kernels(tiny_tflite_dir):
    rt = runner.load_runtime()
    path = tiny_tflite_dir / "lifting_fp32.tflite"
    cpu = runner.Model(path, rt, delegate="litert_cpu")
    ref = runner.Model(path, rt, delegate="none")
    inputs = ref.random_inputs(seed=4)
    for m in (cpu, ref):
        m.set_inputs(inputs)
        m.invoke()
    np.testing.assert_allclose(cpu.get_outputs()[0], ref.get_outputs()[0], rtol=1e-5, atol=1e-6)


@pytest.fixture()
def requested_accelerators(monkeypatch):
    """The accelerator sets the runner hands to LiteRT's ``CompiledModel.from_file``."""
    from ai_edge_litert.compiled_model import CompiledModel

    requested = []
    real = CompiledModel.from_file

    def spy(model_path, *args, options=None, **kwargs):
        requested.append(options.hardware_accelerators)
        return real(model_path, *args, options=options, **kwargs)

    monkeypatch.setattr(CompiledModel, "from_file", staticmethod(spy))
    return requested


def test_litert_gpu_fails_loudly_or_really_runs_on_a_gpu(tiny_tflite_dir, requested_accelerators):
    """Never a silent CPU fall-back: no GPU -> DelegateError naming the model; a GPU that
    loads must have taken the whole graph with the CPU left out of the accelerator set."""
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    rt = runner.load_runtime()
    path = tiny_tflite_dir / "lifting_fp32.tflite"
    if not _gpu_devices():
        with pytest.raises(
            runner.DelegateError, match=r"lifting_fp32\.tflite: LiteRT accelerator GPU"
        ):
            runner.Model(path, rt, delegate="litert_gpu")
        assert requested_accelerators == [HardwareAccelerator.GPU]
        return
    try:
        model = runner.Model(path, rt, delegate="litert_gpu")
    except runner.DelegateError as e:  # a GPU without a driver LiteRT can use: loud, fine
        assert "lifting_fp32.tflite" in str(e)
        return
    # It loaded. GPU alone (no CPU bit) and "fully accelerated": no op ran on the CPU.
    assert requested_accelerators == [HardwareAccelerator.GPU]
    assert not requested_accelerators[0] & HardwareAccelerator.CPU
    assert model.delegated_nodes == model.total_nodes > 0
    ref = runner.Model(path, rt, delegate="none")
    inputs = ref.random_inputs(seed=4)
    for m in (model, ref):
        m.set_inputs(inputs)
        m.invoke()
    np.testing.assert_allclose(model.get_outputs()[0], ref.get_outputs()[0], rtol=1e-2, atol=1e-3)


def test_litert_accelerator_leaving_ops_to_the_cpu_is_an_error(tiny_tflite_dir, monkeypatch):
    """An accelerator that compiles but does not take the whole graph fails the model."""
    from ai_edge_litert.compiled_model import CompiledModel

    class PartlyAccelerated:
        def is_fully_accelerated(self):
            return False

    monkeypatch.setattr(
        CompiledModel, "from_file", staticmethod(lambda *a, **k: PartlyAccelerated())
    )
    rt = runner.load_runtime()
    path = tiny_tflite_dir / "lifting_fp32.tflite"
    with pytest.raises(
        runner.DelegateError,
        match=r"lifting_fp32\.tflite: LiteRT accelerator GPU did not take the whole graph",
    ):
        runner.Model(path, rt, delegate="litert_gpu")


def test_runtime_falls_back_to_tflite_runtime(monkeypatch):
    import importlib

    real = importlib.import_module
    litert = real("ai_edge_litert.interpreter")

    def fake(name, *args):
        if name.startswith("ai_edge_litert"):
            raise ImportError("no ai_edge_litert wheel for this Python")
        if name == "tflite_runtime.interpreter":
            return litert  # stands in for the older package with the same API
        return real(name, *args)

    monkeypatch.setattr(runner.importlib, "import_module", fake)
    monkeypatch.setattr(runner, "_package_version", lambda name: "2.14.0")
    rt = runner.load_runtime()
    assert (rt.name, rt.version, rt.module) == ("tflite_runtime", "2.14.0", litert)
    monkeypatch.setattr(
        runner.importlib, "import_module", lambda *a: (_ for _ in ()).throw(ImportError("nothing"))
    )
    with pytest.raises(
        ImportError, match="pip install ai-edge-litert .* pip install tflite-runtime"
    ):
        runner.load_runtime()
    with pytest.raises(ValueError, match="runtime 'tf' is not one of"):
        runner.load_runtime("tf")
