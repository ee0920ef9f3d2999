"""Widening a trained net (hand3d_tf.training.widen): the wide net computes the same function."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf import models
from hand3d_tf import weights as weight_io
from hand3d_tf.training.widen import widen_model, widen_weights_file

CASES = {
    "handsegnet": (models.HandSegNetConfig, {}, [(2, 64, 80, 3)]),
    "posenet": (models.PoseNetConfig, {"input_size": 64}, [(2, 64, 64, 3)]),
    "lifting": (models.PosePriorConfig, {}, [(2, 32, 32, 21), (2, 2)]),
}


def _inputs(net):
    rng = np.random.default_rng(1)
    shapes = CASES[net][2]
    x = [rng.normal(size=s).astype(np.float32) for s in shapes]
    if net == "lifting":
        x[1] = np.eye(2, dtype=np.float32)  # one left, one right hand
    return x if len(x) > 1 else x[0]


def _outputs(model, x):
    return [t.numpy() for t in tf.nest.flatten(model(x))]


def _pair(net, narrow_width=0.0625, wide_width=0.125):
    cls, extra, _ = CASES[net]
    return models.build(net, cls(width=narrow_width, **extra)), models.build(
        net, cls(width=wide_width, **extra)
    )


@pytest.mark.parametrize("net", sorted(CASES))
def test_widened_net_computes_the_narrow_function(net):
    narrow, wide = _pair(net)
    widened = widen_model(narrow, wide, noise=0.0)
    assert widened and all(new > old for old, new in widened.values())
    assert wide.count_params() > 2 * narrow.count_params()
    x = _inputs(net)
    for a, b in zip(_outputs(narrow, x), _outputs(wide, x)):
        assert np.max(np.abs(a - b)) <= 1e-5 * max(1.0, np.max(np.abs(a)))


def test_noise_breaks_symmetry_but_stays_close():
    narrow, wide = _pair("posenet")
    widen_model(narrow, wide, noise=0.01, seed=3)
    kernel = wide.get_layer("conv1_2").get_weights()[0]
    half = kernel.shape[-1] // 2
    assert not np.allclose(kernel[..., :half], kernel[..., half:])  # copies now differ
    x = _inputs("posenet")
    a, b = _outputs(narrow, x)[-1], _outputs(wide, x)[-1]
    assert 0 < np.max(np.abs(a - b)) < 0.1 * np.max(np.abs(a))


def test_odd_widths_replicate_unevenly_and_still_match():
    narrow, wide = _pair("lifting", 0.0625, 0.1)
    widen_model(narrow, wide)
    x = _inputs("lifting")
    for a, b in zip(_outputs(narrow, x), _outputs(wide, x)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_narrowing_is_refused():
    wide, narrow = _pair("lifting")
    with pytest.raises(ValueError, match="cannot narrow"):
        widen_model(narrow, wide)


def test_weights_file_round_trip(tmp_path):
    narrow, _ = _pair("posenet")
    src = tmp_path / "src"
    weight_io.save_weights(src / "posenet", narrow, narrow_config := {"width": 0.0625,
                           "num_keypoints": 21, "input_size": 64})  # fmt: skip
    out = widen_weights_file(str(src), "posenet", 0.125, str(tmp_path / "wide"), noise=0.0)
    wide = weight_io.load_model(out)
    _, config = weight_io.load_weights(out)
    assert config == dict(narrow_config, width=0.125)
    x = _inputs("posenet")
    np.testing.assert_allclose(_outputs(narrow, x)[-1], _outputs(wide, x)[-1], atol=1e-5)
    with pytest.raises(ValueError, match="narrower"):
        widen_weights_file(out, "posenet", 0.0625, str(tmp_path / "bad"))
