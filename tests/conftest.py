import os

import pytest

# Quiet TensorFlow and keep tests on the CPU, before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="session")
def default_pipeline():
    """The bundled default model (weights/default) on the Keras backend, built once for
    every test that runs it (tests/test_default_model.py compares the TFLite backend)."""
    from hand3d_tf.pipeline import ColorHandPose3D

    return ColorHandPose3D.from_pretrained(backend="keras")


TINY_CONFIGS = {
    "handsegnet": {"width": 0.125},
    "posenet": {"width": 0.125},
    "lifting": {"width": 0.125, "variant": "proposed"},
}


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """tiny_weights(configs=TINY_CONFIGS) -> a folder of <net>.npz + <net>.json of randomly
    initialised narrow nets (own format), built once per distinct configs per session."""
    cache = {}

    def make(configs=None):
        configs = configs or TINY_CONFIGS
        key = repr(sorted((net, sorted(c.items())) for net, c in configs.items()))
        if key not in cache:
            from hand3d_tf import models, weights

            directory = tmp_path_factory.mktemp("tiny_weights")
            for net, config in configs.items():
                weights.save_weights(directory / net, models.build(net, config), config)
            cache[key] = directory
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tiny_tflite_dir(tmp_path_factory):
    """An export-like folder of tiny stand-in .tflite models with sidecars, built once
    (tests/lite_models.py): {handsegnet,posenet,lifting}_{fp32,int8} + third_party.tflite."""
    tf = pytest.importorskip("tensorflow")
    from tests import lite_models

    return lite_models.build_tiny_exports(tf, tmp_path_factory.mktemp("tiny_export"))


@pytest.fixture(scope="session")
def tiny_eval_arrays():
    """Eval-set arrays with known structure for the tiny models (tests/lite_models.py)."""
    from tests import lite_models

    return lite_models.make_eval_arrays()
