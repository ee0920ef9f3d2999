"""Offline TFLite GPU-delegate check (hand3d_tf/export/gpu_check.py).

Each model is built here with the op under test; the op list is cross-checked against
the LiteRT interpreter's own view of the graph, an independent parser.
"""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from hand3d_tf.export.gpu_check import check_gpu_compatibility, model_ops
from hand3d_tf.keras import keras

SHAPE = [1, 16, 16, 3]


def _convert(fn, ops=None, mode="fp32"):
    inp = keras.Input(SHAPE[1:], batch_size=1)
    model = keras.Model(inp, fn(inp))
    concrete = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec(SHAPE))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.target_spec.supported_ops = ops or [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int16x8":
        data = np.random.default_rng(0).uniform(-0.5, 0.5, [4] + SHAPE[1:]).astype(np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([d[None]] for d in data)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    return converter.convert()


def _conv_net(x):
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.LeakyReLU(0.01)(x)
    x = keras.layers.MaxPool2D(2)(x)
    return keras.layers.Conv2D(2, 1)(x)


@pytest.fixture(scope="module")
def conv_fp32():
    return _convert(_conv_net)


def _interpreter_ops(flatbuffer: bytes) -> list[str]:
    interp = Interpreter(model_content=flatbuffer)
    return sorted({op["op_name"] for op in interp._get_ops_details()})


def test_plain_conv_model_passes(conv_fp32):
    report = check_gpu_compatibility(conv_fp32)
    assert report.ok, report.summary()
    assert report.findings == []
    assert report.delegable_ops == report.num_ops == 4
    assert report.partitions == 1
    assert model_ops(conv_fp32) == _interpreter_ops(conv_fp32)
    assert model_ops(conv_fp32) == ["CONV_2D", "LEAKY_RELU", "MAX_POOL_2D"]


def test_fp16_weights_are_folded_not_flagged():
    flatbuffer = _convert(_conv_net, mode="fp16")
    assert "DEQUANTIZE" in model_ops(flatbuffer)  # the fp16 weights are dequantized...
    report = check_gpu_compatibility(flatbuffer)
    assert report.ok, report.summary()  # ...which the delegate folds into constants


def test_arg_max_is_flagged():
    flatbuffer = _convert(lambda x: tf.math.argmax(keras.layers.Conv2D(4, 3)(x), axis=-1))
    assert "ARG_MAX" in _interpreter_ops(flatbuffer)
    report = check_gpu_compatibility(flatbuffer)
    assert not report.ok
    flagged = [f for f in report.findings if f.op == "ARG_MAX"]
    assert len(flagged) == 1 and "not implemented by the GPU delegate" in flagged[0].message
    # The conv before it stays delegable: 1 of 2 ops, one partition.
    assert (report.delegable_ops, report.num_ops, report.partitions) == (1, 2, 1)


def test_flex_op_is_flagged():
    def dilation(x):
        return tf.raw_ops.Dilation2D(
            input=x, filter=tf.ones([3, 3, 3]), strides=[1, 1, 1, 1], rates=[1, 1, 1, 1],
            padding="SAME",
        )  # fmt: skip

    ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    flatbuffer = _convert(lambda x: keras.layers.Lambda(dilation)(x), ops=ops)
    assert model_ops(flatbuffer) == ["FlexDilation2D"]
    report = check_gpu_compatibility(flatbuffer)
    assert [f.op for f in report.findings] == ["FlexDilation2D"]
    assert "Flex op Dilation2D" in report.findings[0].message
    assert "FlexDilation2D" in report.summary()


def test_shrinking_strided_slice_is_flagged():
    # x[:, 0] drops an axis: STRIDED_SLICE with shrink_axis_mask, which the delegate refuses.
    report = check_gpu_compatibility(_convert(lambda x: x[:, 0] * 2.0))
    messages = [f.message for f in report.findings if f.op == "STRIDED_SLICE"]
    assert any("shrink_axis_mask" in m for m in messages), report.summary()


def test_int16_activations_are_flagged():
    report = check_gpu_compatibility(_convert(_conv_net, mode="int16x8"))
    assert not report.ok
    assert any("int16" in f.message for f in report.findings if f.op == "CONV_2D")
    assert report.delegable_ops == 0


def test_not_a_flatbuffer_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        check_gpu_compatibility(b"\0" * 64)
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        check_gpu_compatibility(tmp_path / "missing.tflite")


def test_gpu_check_runs_without_tensorflow(conv_fp32, tmp_path):
    path = tmp_path / "conv.tflite"
    path.write_bytes(conv_fp32)
    code = (
        "import sys\n"
        "from hand3d_tf.export.gpu_check import check_gpu_compatibility\n"
        f"r = check_gpu_compatibility({str(path)!r})\n"
        "assert r.ok and 'tensorflow' not in sys.modules, sorted(sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
