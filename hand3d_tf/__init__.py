"""hand3d_tf: ColorHandPose3D (Zimmermann & Brox, ICCV 2017) in TensorFlow 2 / Keras.

Importing the package imports no TensorFlow: the NumPy parts (keypoints, geometry,
evaluation, glue) run on devices that only have a TFLite runtime. ``ColorHandPose3D``
is imported lazily on first access.
"""

from hand3d_tf.version import __version__

__all__ = ["ColorHandPose3D", "__version__"]


def __getattr__(name):
    if name == "ColorHandPose3D":
        from hand3d_tf.pipeline import ColorHandPose3D

        return ColorHandPose3D
    raise AttributeError(f"module 'hand3d_tf' has no attribute {name!r}")
