"""TensorFlow-free inference: one stage sequence, backends behind one interface, one loader.

==============  ===========================================================================
``stages``      THE stage sequence (segment -> glue crop -> PoseNet -> keypoints -> lifting,
                and ``pose_at`` from a given crop) with an optional per-stage ``StageTimer``
``backends``    the interface the sequence calls (segment, pose2d, lift): ``KerasBackend``
                (tf_keras models) and ``ModelFileBackend`` (.tflite on LiteRT, .onnx on
                ONNX Runtime, through ``hand3d_tf.lite.nets.NetModel``)
``loader``      ``check`` / ``load``: a weights folder or the released pickles checked once
                (each sidecar and manifest read once, each file hashed once), then built
==============  ===========================================================================

``hand3d_tf.pipeline.ColorHandPose3D`` (every constructor, every backend), the benchmark
harness (``hand3d_tf.harness``) and the tracker run this sequence. ``load`` and
``check`` are re-exported here.
"""

from hand3d_tf.runtime.loader import check, load  # noqa: F401 (re-exported)
