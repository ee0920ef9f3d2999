"""Mixed-precision training (--precision): policy resolution, float32 outputs, float32 weights.

Smoke-sized nets (width 1/16, 64-pixel images, 4 samples), as in test_training.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf import models
from hand3d_tf.keras import keras
from hand3d_tf.training import presets
from hand3d_tf.training.strategy import cpu_flags, precision_policy, resolve_precision
from tests.test_training import fast, smoke


# ------------------------------------------------------------------ what "auto" picks
@pytest.mark.parametrize(
    "flags, capabilities, expected",
    [
        ({"avx2", "amx_bf16", "amx_tile"}, [], "mixed_bfloat16"),
        ({"avx512f", "avx512_bf16"}, [], "mixed_bfloat16"),
        ({"avx2", "avx512f", "avx512_vnni"}, [], "float32"),  # VNNI is int8, not bf16
        (set(), [], "float32"),
        ({"amx_bf16"}, [(8, 0)], "mixed_float16"),  # a GPU wins over the CPU
        (set(), [(7, 0), (9, 0)], "mixed_float16"),
        (set(), [(6, 1)], "float32"),  # Pascal: no float16 tensor cores
        (set(), [(8, 6), (6, 1)], "float32"),  # every GPU must qualify
    ],
)
def test_auto_resolves_as_documented(flags, capabilities, expected):
    policy, reason = resolve_precision("auto", flags=flags, capabilities=capabilities)
    assert policy == expected
    assert reason.startswith("auto: ")


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_precision_is_kept(name):
    assert resolve_precision(name, flags={"amx_bf16"}, capabilities=[(9, 0)]) == (
        name,
        "requested",
    )


def test_cpu_flags_parses_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_bf16\nbugs\t\t: none\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx2", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_unknown_or_contradictory_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown precision 'bf16'.*mixed_bfloat16"):
        smoke("posenet", tmp_path, precision="bf16")
    with pytest.raises(ValueError, match="contradicts precision='mixed_bfloat16'"):
        smoke("posenet", tmp_path, precision="mixed_bfloat16", mixed_precision=True)
    # The deprecated bool still means mixed_float16.
    assert smoke("posenet", tmp_path, mixed_precision=True).requested_precision() == (
        "mixed_float16"
    )


# ------------------------------------------------------------------ the models
@pytest.mark.parametrize(
    "net, config, hidden",
    [
        ("handsegnet", models.HandSegNetConfig(width=0.0625), "conv1_1"),
        ("posenet", models.PoseNetConfig(width=0.0625, input_size=64), "conv1_1"),
        ("lifting", models.PosePriorConfig(width=0.0625), "conv_pose_0_1"),
    ],
)
def test_mixed_bfloat16_outputs_are_float32_and_float32_build_unchanged(net, config, hidden):
    with precision_policy("mixed_bfloat16"):
        model = models.build(net, config)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert model.get_layer(hidden).compute_dtype == "bfloat16"
    assert all(v.dtype == tf.float32 for v in model.weights)
    for output in tf.nest.flatten(model.outputs):
        assert output.dtype == tf.float32, output.name
    # Under float32 no layer carries an explicit dtype: float32 configs are as before.
    plain = models.build(net, config)
    for layer in plain.layers:
        assert layer.dtype_policy.name == "float32"
    assert [w.shape for w in plain.weights] == [w.shape for w in model.weights]


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("net", ["posenet", "lifting"])
def test_bfloat16_run_tracks_float32_run_and_writes_float32_weights(net, tmp_path):
    """Same init, same data, 4 steps: bf16 losses within 5 % of fp32's (bfloat16 keeps 8 bits
    of mantissa, about 0.4 % per op; measured here: < 1 % after 4 steps)."""
    from hand3d_tf import weights as weight_io

    runs = {}
    for policy in ("float32", "mixed_bfloat16"):
        config = smoke(
            net, tmp_path / policy, num_steps=4, precision=policy, evaluate=False, seed=3
        )
        runs[policy] = fast(config)
    np.testing.assert_allclose(runs["mixed_bfloat16"].losses, runs["float32"].losses, rtol=0.05)
    # Training lowers the loss in bf16 too.
    assert runs["mixed_bfloat16"].losses[-1] < runs["mixed_bfloat16"].losses[0]
    # The file as stored (load_weights would cast): float32, same keys and config as fp32.
    with np.load(runs["mixed_bfloat16"].weights_path) as stored:
        dtypes = {key: stored[key].dtype for key in stored.files}
    assert dtypes and set(dtypes.values()) == {np.dtype(np.float32)}
    fp32_arrays, fp32_config = weight_io.load_weights(runs["float32"].weights_path)
    _, bf16_config = weight_io.load_weights(runs["mixed_bfloat16"].weights_path)
    assert sorted(dtypes) == sorted(fp32_arrays)
    assert bf16_config == fp32_config
    resolved = json.loads((tmp_path / "mixed_bfloat16" / "config.json").read_text())
    assert resolved["effective"]["precision"] == "mixed_bfloat16"
    assert resolved["effective"]["precision_reason"] == "requested"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_auto_is_logged_in_the_run_config(tmp_path):
    result = fast(smoke("lifting", tmp_path, num_steps=1, evaluate=False))
    resolved = json.loads((tmp_path / "config.json").read_text())
    assert resolved["train"]["precision"] == "auto"
    expected = resolve_precision("auto")
    assert [resolved["effective"][k] for k in ("precision", "precision_reason")] == list(expected)
    assert np.isfinite(result.losses).all()


def test_precision_may_change_on_resume():
    assert {"precision", "mixed_precision"} <= presets.RESUME_MUTABLE
