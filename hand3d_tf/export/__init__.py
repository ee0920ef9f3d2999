"""TFLite export of the three networks (docs/export.md).

Modules (import what you need; nothing here imports TensorFlow at package import):

- ``tflite``: the seven conversion modes (one switch), the JSON sidecar, atomic writes.
- ``calibration``: representative data from the data pipelines / an eval.npz.
- ``qat``: quantization-aware fine-tuning (the only tensorflow-model-optimization user).
- ``gpu_check`` (+ ``gpu_rules``, its op table): offline TFLite GPU-delegate readiness
  check (TensorFlow-free).
- ``exporter``: the export jobs behind ``hand3d-export`` (weights -> files).
- ``report``: accuracy of each precision with LiteRT on the held-out eval set.
"""
