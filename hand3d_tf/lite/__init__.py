"""The TensorFlow-free TFLite runtime: what runs an exported model on the device.

==============  ===========================================================================
``sidecar``     the one schema of the ``<net>_<mode>.json`` beside each ``.tflite``: names
                (FORMAT, MODES, roles, REQUIRED_KEYS), ``validate``, ``load_sidecar``
``runner``      LiteRT / tflite-runtime interpreter, delegates, (de)quantisation, timing
``ort``         ONNX Runtime for the ``.onnx`` exports: the same model interface, execution
                providers (``ort_cpu|ort_cuda|ort_tensorrt``); onnxruntime imported lazily
``nets``        find exported models (.tflite, or .onnx for ort_*) and run them by role
``evalset``     read and check ``eval.npz`` (``hand3d-make-eval-set``)
``accuracy``    per-net accuracy on the eval set (docs/original.md §7), agreement with fp32
``pipeline``    HandSegNet -> glue -> PoseNet -> glue -> lifting on TFLite or ONNX models
==============  ===========================================================================

Every module imports only NumPy, OpenCV, the standard library and the TensorFlow-free
parts of hand3d_tf (constants, files, glue, keypoints, evaluation.metrics), so it runs where
only a TFLite runtime is installed. ``benchmarks/`` (the command-line tools) and
``hand3d_tf.export.report`` build on it; nothing here imports them. Importing this package
imports none of its modules.
"""
