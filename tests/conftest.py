import os

import pytest

# Quiet TensorFlow and keep tests on the CPU, before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="session")
def default_pipeline():
    """The bundled default model (weights/default), built once for every test that runs it."""
    from hand3d_tf.pipeline import ColorHandPose3D

    return ColorHandPose3D.from_pretrained()
