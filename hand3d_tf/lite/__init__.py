"""The TensorFlow-free TFLite runtime: what runs an exported model on the device.

==============  ===========================================================================
``sidecar``     the one schema of the ``<net>_<mode>.json`` beside each ``.tflite``: names
                (FORMAT, MODES, roles, REQUIRED_KEYS), ``validate``, ``load_sidecar``
``runner``      LiteRT / tflite-runtime interpreter, delegates, (de)quantisation, timing
``ort``         ONNX Runtime for the ``.onnx`` exports: the same model interface, execution
                providers (``ort_cpu|ort_cuda|ort_tensorrt``); onnxruntime imported lazily
``nets``        find exported models (.tflite, or .onnx for ort_*) and run them by role
``evalset``     read and check ``eval.npz`` (``hand3d-make-eval-set``)
``backend``     the checks of a TFLite weights folder (``<net>_<mode>.tflite`` + sidecars)
==============  ===========================================================================

Every module imports only NumPy, the standard library and hand3d_tf's constants and files,
so it runs where only a TFLite runtime is installed. The stage sequence that runs these
models is ``hand3d_tf.runtime``, their accuracy ``hand3d_tf.evaluation.tflite_accuracy``;
``benchmarks/``, ``hand3d_tf.harness`` and ``hand3d_tf.export.accuracy_report`` build on it;
nothing here imports them. Importing this package imports none of its modules.
"""
