"""What the TFLite GPU delegate accepts: op table and constants (data for gpu_check.py).

Restated from the delegate's public sources (``tensorflow/lite/delegates/gpu/common/
model_builder.cc``: the per-op parsers and their ``CheckMaxSupportedOpVersion`` calls;
``tensorflow/lite/tools/versioning/gpu_compatibility.cc``: the per-op constraints), as of
TF 2.1x. An op missing here (ARG_MAX, GATHER_ND, L2_NORMALIZATION, WHILE, ...) runs on
the CPU.
"""

from __future__ import annotations

# Builtin op -> highest op version the delegate accepts (None: the delegate checks no
# version). From the delegate's per-op parsers (CheckMaxSupportedOpVersion calls).
ELEMENTWISE_2 = (
    "ABS ADD COS DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LESS "
    "LESS_EQUAL LOG LOGISTIC MAXIMUM MINIMUM NEG NOT_EQUAL POW RSQRT SIN SQRT SQUARE "
    "SQUARED_DIFFERENCE SUB TANH"
).split()
SUPPORTED_OPS: dict[str, int | None] = {
    **{name: 2 for name in ELEMENTWISE_2},
    "MUL": 3,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "BATCH_MATMUL": None,
    "CAST": None,
    "CONCATENATION": 2,
    "CONV_2D": 6,
    "DEPTHWISE_CONV_2D": 6,
    "CUMSUM": 1,
    "DENSIFY": 1,
    "DEPTH_TO_SPACE": None,
    "SPACE_TO_DEPTH": 2,
    "DEQUANTIZE": 3,
    "QUANTIZE": 2,
    "FULLY_CONNECTED": 9,
    "HARD_SWISH": None,
    "LSTM": 4,
    "MEAN": None,
    "SUM": None,
    "REDUCE_MAX": None,
    "REDUCE_MIN": None,
    "REDUCE_PROD": None,
    "MIRROR_PAD": 2,
    "PAD": 2,
    "PADV2": 2,
    "ONE_HOT": 1,
    "PACK": None,
    "PRELU": 1,
    "RELU": 2,
    "RELU6": 2,
    "LEAKY_RELU": 2,
    "RELU_N1_TO_1": None,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 3,
    "RESIZE_NEAREST_NEIGHBOR": 3,
    "SELECT_V2": 1,
    "SLICE": 2,
    "STRIDED_SLICE": 2,
    "SOFTMAX": 2,
    "SPLIT": None,
    "SPLIT_V": None,
    "TILE": None,
    "TRANSPOSE": 2,
    "TRANSPOSE_CONV": 3,
}
# Custom ops the delegate implements itself (MediaPipe-style kernels).
SUPPORTED_CUSTOM_OPS = (
    "Convolution2DTransposeBias",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Resampler",
)
# Ops whose runtime tensors may be int8/uint8 only when the delegate dequantizes them.
QUANT_ONLY_OPS = ("QUANTIZE", "DEQUANTIZE")
LOGICAL_OPS = ("EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL")
# Fused activations the delegate can fuse (SIGN_BIT is the only one it cannot).
OK_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGMOID")
