"""The on-device benchmark harness: TFLite models and the end-to-end pipeline, timed and
scored, without TensorFlow (docs/benchmarking.md, docs/devices.md).

- ``benchmark_run``: one run on this device, models to result files (``hand3d-benchmark``);
- ``bench``: per-model and per-pipeline measurement; ``latency``: timing, memory, device;
- ``result_files``: the results JSON schema, its markdown table and CSV; ``figures``: the PNG plots;
- ``compare``: one table across runs and devices (``hand3d-benchmark-compare``);
- ``android``: a phone through adb and TFLite's ``benchmark_model``
  (``hand3d-benchmark-android``).

Data flows hand3d_tf.lite -> hand3d_tf.harness, never back. Importing the package imports
none of its modules.
"""
