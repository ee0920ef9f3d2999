"""The three networks: sizes, layouts, glue layers (docs/original.md §0-§3, §12).

Full-size nets are only built and counted; forward passes use tiny widths. Every
numeric check compares against a NumPy computation written here, independent of the
package code.
"""

import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf import models
from hand3d_tf import weights as W
from hand3d_tf.keras import keras
from hand3d_tf.models import layers as L

RNG_SEED = 1234


# ---------- independent NumPy re-computations ----------


def np_conv_same(x, kernel, bias, stride):
    """TF SAME conv: out = ceil(in / s); the extra padding goes bottom/right (docs/original.md §0)."""
    b, h, w, _ = x.shape
    k = kernel.shape[0]
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + k - h, 0)
    pad_w = max((out_w - 1) * stride + k - w, 0)
    xp = np.pad(
        x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
    )
    out = np.zeros((b, out_h, out_w, kernel.shape[3]), np.float64)
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, dy : dy + stride * out_h : stride, dx : dx + stride * out_w : stride, :]
            out += np.einsum("bhwc,co->bhwo", patch, kernel[dy, dx])
    return out + bias


def np_rodrigues(u):
    """Rodrigues matrix (column-vector convention), theta = sqrt(|u|^2 + 1e-8) (docs/original.md §3)."""
    out = []
    for vec in np.asarray(u, np.float64):
        theta = np.sqrt(np.sum(vec**2) + 1e-8)
        axis = vec / theta
        cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        out.append(
            np.cos(theta) * np.eye(3)
            + np.sin(theta) * cross
            + (1 - np.cos(theta)) * np.outer(axis, axis)
        )
    return np.stack(out)


def np_legacy_resize(x, out_h, out_w):
    """TF1 bilinear, align_corners=False, no half-pixel: source coord = i * in / out."""

    def axis_weights(n_in, n_out):
        src = np.arange(n_out) * (n_in / n_out)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = axis_weights(x.shape[1], out_h)
    x0, x1, fx = axis_weights(x.shape[2], out_w)
    top = (
        x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None]
        + x[:, y0][:, :, x1] * fx[None, None, :, None]
    )
    bot = (
        x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None]
        + x[:, y1][:, :, x1] * fx[None, None, :, None]
    )
    return top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]


def randomize(model, seed, bias_scale=0.1):
    """Random weights through assign_weights (the path real weights take)."""
    rng = np.random.default_rng(seed)
    values = {
        k: rng.normal(0, 0.3, v.shape).astype(np.float32) for k, v in W.model_weights(model).items()
    }
    for k in values:
        if k.endswith("/biases"):
            values[k] *= bias_scale / 0.3
    W.assign_weights(model, values)
    return values


def submodel(model, names):
    return keras.Model(model.inputs, [model.get_layer(n).output for n in names])


# ---------- sizes ----------


@pytest.mark.parametrize(
    "builder, expected",
    [
        (lambda: models.HandSegNet(), 13_601_986),
        (lambda: models.PoseNet(), 17_518_847),
        (lambda: models.PosePrior(), 1_637_279),
        (lambda: models.ViewPointNet(), 2_238_403),
        (lambda: models.PosePrior(models.PosePriorConfig(variant="bottleneck")), 1_622_303),
        (lambda: models.build("lifting"), 1_637_279 + 2_238_403),
    ],
    ids=["HandSegNet", "PoseNet2D", "PosePrior", "ViewpointNet", "PosePrior-bottleneck", "Lifting"],
)
def test_full_size_parameter_counts(builder, expected):
    # docs/original.md §12: the exact counts pin every layer's kernel size and channel counts.
    assert builder().count_params() == expected


def test_full_size_layer_names_and_tensor_counts():
    counts = {
        "handsegnet": 32,
        "posenet": 62,
        "lifting": 40,
    }
    for net, n in counts.items():
        keys = W.original_key_map(models.build(net))
        assert len(keys) == n, net
    keys = W.original_key_map(models.PoseNet())
    assert tuple(keys["PoseNet2D/conv6_1/weights"].shape) == (7, 7, 149, 128)
    keys = W.original_key_map(models.ViewPointNet())
    assert tuple(keys["ViewpointNet/fc_vp0/weights"].shape) == (4098, 256)


def test_width_scales_hidden_layers_only():
    model = models.PoseNet(models.PoseNetConfig(width=0.1))
    shapes = {k: tuple(v.shape) for k, v in W.original_key_map(model).items()}
    assert shapes["PoseNet2D/conv1_1/weights"] == (3, 3, 3, 6)  # round(64 * 0.1)
    assert shapes["PoseNet2D/conv5_2/weights"][-1] == 21  # outputs never scale
    assert shapes["PoseNet2D/conv6_1/weights"][2] == 21 + 13  # [S1, E]: 21 + round(128 * 0.1)
    prior = W.original_key_map(models.PosePrior(models.PosePriorConfig(width=0.01)))
    assert tuple(prior["PosePrior/conv_pose_0_1/weights"].shape) == (3, 3, 21, 1)  # max(1, .)
    assert tuple(prior["PosePrior/fc_xyz/weights"].shape) == (5, 63)


# ---------- configs and build() ----------


def test_configs_round_trip_and_errors():
    cfg = models.PosePriorConfig(width=0.5, variant="bottleneck", dropout=False)
    assert models.PosePriorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown PoseNetConfig keys \['widht'\]"):
        models.PoseNetConfig.from_dict({"widht": 1.0})
    with pytest.raises(ValueError, match=r"variant` must be one of .*received variant='fancy'"):
        models.PosePriorConfig(variant="fancy")
    with pytest.raises(ValueError, match=r"received width=0"):
        models.HandSegNetConfig(width=0)
    with pytest.raises(ValueError, match=r"multiple of 8 .*received input_size=100"):
        models.PoseNetConfig(input_size=100)
    with pytest.raises(
        ValueError, match=r"one of \('handsegnet', 'posenet', 'lifting'\); received net='hands'"
    ):
        models.build("hands")
    with pytest.raises(ValueError, match="disagree"):
        models.Lifting("direct", models.PosePriorConfig(variant="proposed"))


# ---------- layouts: conv HWIO, dense [in, out], flatten (h, w, c) + hand side last ----------


@pytest.fixture(scope="module")
def tiny_prior():
    model = models.PosePrior(models.PosePriorConfig(width=0.125, variant="direct"))
    values = randomize(model, RNG_SEED)
    rng = np.random.default_rng(7)
    scoremap = rng.normal(size=(2, 32, 32, 21)).astype(np.float32)
    hand_side = np.array([[1, 0], [0, 1]], np.float32)
    return model, values, scoremap, hand_side


def test_conv_kernels_are_hwio(tiny_prior):
    model, values, scoremap, hand_side = tiny_prior
    names = ["conv_pose_0_1", "conv_pose_0_1_lrelu", "conv_pose_0_2"]
    conv1, act1, conv2 = submodel(model, names)([scoremap, hand_side])
    ref1 = np_conv_same(
        scoremap,
        values["PosePrior/conv_pose_0_1/weights"],
        values["PosePrior/conv_pose_0_1/biases"],
        1,
    )
    np.testing.assert_allclose(conv1.numpy(), ref1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(act1.numpy(), np.maximum(ref1, 0.01 * ref1), rtol=1e-4, atol=1e-4)
    # Stride 2 on an even size: the extra SAME padding row/column is bottom/right.
    ref2 = np_conv_same(
        act1.numpy(),
        values["PosePrior/conv_pose_0_2/weights"],
        values["PosePrior/conv_pose_0_2/biases"],
        2,
    )
    assert conv2.shape == (2, 16, 16, 4)
    np.testing.assert_allclose(conv2.numpy(), ref2, rtol=1e-4, atol=1e-4)


def test_dense_layout_and_flatten_order(tiny_prior):
    model, values, scoremap, hand_side = tiny_prior
    feat, fc_in, fc0 = submodel(model, ["conv_pose_2_2_lrelu", "pose_with_hand_side", "fc_rel0"])(
        [scoremap, hand_side]
    )
    feat = feat.numpy()
    assert feat.shape == (2, 4, 4, 16)
    # Row-major over (h, w, c), then the two hand-side values LAST (docs/original.md §3/§4).
    expected_in = np.concatenate([feat.reshape(2, -1), hand_side], axis=1)
    assert expected_in[0, 1] == feat[0, 0, 0, 1] and expected_in[0, 16] == feat[0, 0, 1, 0]
    np.testing.assert_array_equal(fc_in.numpy(), expected_in)
    ref = expected_in @ values["PosePrior/fc_rel0/weights"] + values["PosePrior/fc_rel0/biases"]
    np.testing.assert_allclose(fc0.numpy(), ref, rtol=1e-4, atol=1e-4)
    # The hand side reaches fc_rel0 through its last two weight rows only.
    w = values["PosePrior/fc_rel0/weights"]
    diff = fc0.numpy()[1] - fc0.numpy()[0] - (expected_in[1, :-2] - expected_in[0, :-2]) @ w[:-2]
    np.testing.assert_allclose(diff, w[-1] - w[-2], rtol=1e-3, atol=1e-3)


def test_posenet_stage_input_is_scoremap_then_encoding():
    model = models.PoseNet(models.PoseNetConfig(width=1 / 16))
    randomize(model, 3)
    image = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 256, 256, 3)).astype(np.float32)
    outs = submodel(model, ["stage2_input", "conv5_2", "conv4_7_lrelu", "stage3_input", "conv6_7"])(
        image
    )
    cat2, s1, enc, cat3, s2 = (t.numpy() for t in outs)
    np.testing.assert_array_equal(cat2, np.concatenate([s1, enc], axis=-1))
    np.testing.assert_array_equal(cat3, np.concatenate([s2, enc], axis=-1))
    scoremaps = model(image)
    assert [tuple(s.shape) for s in scoremaps] == [(1, 32, 32, 21)] * 3


# ---------- forward shapes ----------


def test_handsegnet_shapes_and_upsampling():
    cfg = models.HandSegNetConfig(width=1 / 16)
    model = models.HandSegNet(cfg)  # Glorot init keeps the logits O(1) over 16 layers
    image = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 48, 72, 3)).astype(np.float32)
    logits = model(image).numpy()
    assert logits.shape == (2, 48, 72, 2)
    raw = keras.Model(model.inputs, model.get_layer("conv6_2").output)(image).numpy()
    assert raw.shape == (2, 6, 9, 2)
    np.testing.assert_allclose(logits, np_legacy_resize(raw, 48, 72), rtol=1e-5, atol=1e-5)
    stride8 = models.HandSegNet(models.HandSegNetConfig(width=1 / 16, upsample=False))
    assert stride8(image).shape == (2, 6, 9, 2)


@pytest.mark.parametrize(
    "variant, keys",
    [
        ("proposed", {"xyz", "xyz_canonical", "rotation"}),
        ("direct", {"xyz"}),
        ("bottleneck", {"xyz"}),
        ("local", {"local"}),
        ("local_w_xyz_loss", {"local"}),
    ],
)
def test_lifting_outputs(variant, keys):
    model = models.build("lifting", {"variant": variant, "width": 0.0625})
    out = model([np.zeros((3, 32, 32, 21), np.float32), np.tile([[1.0, 0.0]], (3, 1))])
    assert set(out) == keys == set(models.lifting_output_keys(variant))
    for key, value in out.items():
        assert value.shape == ((3, 3, 3) if key == "rotation" else (3, 21, 3))
    assert ("PosePrior/fc_bottleneck/weights" in W.original_key_map(model)) == (
        variant == "bottleneck"
    )


# ---------- legacy resize ----------


def test_legacy_resize_puts_source_cell_p_at_8p():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 4, 5, 3)).astype(np.float32)
    out = L.LegacyBilinearResize(factor=8)(x).numpy()
    assert out.shape == (1, 32, 40, 3)
    np.testing.assert_allclose(out, np_legacy_resize(x, 32, 40), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[:, ::8, ::8], x)  # exact hit at 8p
    np.testing.assert_allclose(out[:, -7:, -1], np.repeat(x[:, -1:, -1], 7, axis=1))  # edge repeats
    # A half-pixel resize (TF2 default) would not hit the source values at 8p.
    half_pixel = tf.image.resize(x, (32, 40)).numpy()
    assert np.abs(half_pixel[:, ::8, ::8] - x).max() > 1e-2
    with_ref = L.LegacyBilinearResize()([x, np.zeros((1, 32, 40, 1), np.float32)]).numpy()
    np.testing.assert_array_equal(with_ref, out)


# ---------- lifting glue: Rodrigues, right-hand flip, rotation ----------


def test_rodrigues_layer_matches_numpy():
    u = np.random.default_rng(4).normal(0, 2, (16, 3)).astype(np.float32)
    u[0] = 0.0  # theta = 1e-4: the 1e-8 guard keeps it finite, R = identity
    rot = L.Rodrigues()(u).numpy()
    np.testing.assert_allclose(rot, np_rodrigues(u), atol=2e-5)
    np.testing.assert_allclose(rot[0], np.eye(3), atol=1e-6)


@pytest.fixture(scope="module")
def tiny_lifting():
    model = models.Lifting("proposed", models.PosePriorConfig(width=0.0625))
    randomize(model, 11)
    # Large head biases so R is far from the identity.
    for axis, bias in zip("xyz", (0.9, -1.3, 2.1)):
        model.get_layer(f"fc_vp_u{axis}").bias.assign([bias])
    return model


def test_lifting_proposed_flip_and_rotation(tiny_lifting):
    model = tiny_lifting
    rng = np.random.default_rng(9)
    scoremap = np.repeat(rng.normal(size=(1, 32, 32, 21)).astype(np.float32), 2, axis=0)
    hand_side = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # same maps, left then right
    out = model([scoremap, hand_side])
    u = keras.Model(model.inputs, model.get_layer("u").output)([scoremap, hand_side]).numpy()
    xyz, can, rot = (out[k].numpy() for k in ("xyz", "xyz_canonical", "rotation"))
    np.testing.assert_allclose(rot, np_rodrigues(u), atol=2e-5)
    np.testing.assert_allclose(
        rot @ np.transpose(rot, (0, 2, 1)), np.tile(np.eye(3), (2, 1, 1)), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
    assert np.abs(rot - np.eye(3)).max() > 0.5
    # Left: canonical @ R. Right: canonical with z negated, then @ R (row vectors).
    np.testing.assert_allclose(xyz[0], can[0] @ rot[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xyz[1], (can[1] * [1.0, 1.0, -1.0]) @ rot[1], rtol=1e-4, atol=1e-5)
    assert np.abs(xyz[1] - can[1] @ rot[1]).max() > 1e-3  # the flip does something


def test_dropout_only_in_training(tiny_lifting):
    inputs = [
        np.ones((4, 32, 32, 21), np.float32),
        np.tile([[0.0, 1.0]], (4, 1)).astype(np.float32),
    ]
    a, b = tiny_lifting(inputs, training=False), tiny_lifting(inputs, training=False)
    np.testing.assert_array_equal(a["xyz"].numpy(), b["xyz"].numpy())
    c = tiny_lifting(inputs, training=True)
    assert np.abs(c["xyz_canonical"].numpy() - a["xyz_canonical"].numpy()).max() > 1e-4
    no_drop = models.Lifting(config=models.PosePriorConfig(width=0.0625, dropout=False))
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_drop.layers)


def test_lifting_is_flat_and_serialisable(tiny_lifting):
    assert not any(isinstance(layer, keras.Model) for layer in tiny_lifting.layers)
    clone = keras.Model.from_config(tiny_lifting.get_config(), custom_objects=models.CUSTOM_OBJECTS)
    clone.set_weights(tiny_lifting.get_weights())
    inputs = [np.full((1, 32, 32, 21), 0.3, np.float32), np.array([[0.0, 1.0]], np.float32)]
    np.testing.assert_allclose(
        clone(inputs)["xyz"].numpy(), tiny_lifting(inputs)["xyz"].numpy(), atol=1e-6
    )
