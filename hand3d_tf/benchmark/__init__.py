"""The on-device benchmark harness: TFLite models and the end-to-end pipeline, timed and
scored, without TensorFlow (docs/benchmarking.md, docs/devices.md).

- ``harness``: one run on this device, models to result files (``hand3d-benchmark``);
- ``bench``: per-model and per-pipeline measurement; ``latency``: timing, memory, device;
- ``report``: the results JSON schema, its markdown table and CSV; ``plots``: the figures;
- ``compare``: one table across runs and devices (``hand3d-benchmark-compare``);
- ``android``: a phone through adb and TFLite's ``benchmark_model``
  (``hand3d-benchmark-android``).

Data flows hand3d_tf.lite -> hand3d_tf.benchmark, never back. Importing the package imports
none of its modules.
"""
