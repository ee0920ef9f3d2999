"""hand3d_tf.jax against the TensorFlow code: the nets (every lifting variant), the losses,
the training targets and the lent-GPU trainer's sample preparation (docs/training.md,
"Training on a lent GPU").

JAX is in the test extra, so this runs in every ``make test`` (an ImportError here fails
the suite: it never skips). Both sides run tiny nets with the same NumPy-drawn weights on
the same inputs in float32 on the CPU, with JAX's matmuls at full float32 precision.

Tolerances are on max |JAX - TF| / max |TF| per output (``close``). Two float32 builds of
the same sum differ by rounding only: a few float32 ulps (1.2e-7) per layer, measured at
most 1.7e-6 of the output scale here (the nets, up to 31 layers; losses and targets 2e-7
or less). REL = 1e-5 leaves six times that and is far below what a real change to a
layer, a loss or a target gives (a leaky slope of 0.02 instead of 0.01, PoseNet's stage
inputs concatenated the other way round, the PoseNet loss's epsilon times 10, score maps
with 2 sigma^2: each was put into one side and failed these tests). The inputs are
fixed, so the results do not vary from run to run.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf import models, spec
from hand3d_tf import weights as W
from hand3d_tf.data import pipelines
from hand3d_tf.data import targets as tg_tf
from hand3d_tf.jax import batches, losses, nets, params, samples
from hand3d_tf.jax import targets as tg
from hand3d_tf.spec import targets as spec_targets
from hand3d_tf.training import losses as losses_tf
from tests.helpers import TENSORFLOW_PACKAGES

REL = 1e-5
# Crops: the two sides compute the sample positions in different orders, so they differ by
# float32 ulps of the coordinates (1.5e-5 px below 128, 3e-5 px below 512), times a pixel
# step of up to 1 (random images in -0.5..0.5): measured 2.8e-5 of the 0.5 scale here.
# 1e-4 allows about 3 ulps on the 320-pixel frames; a wrong box or sample spacing (H for
# H - 1, a half-pixel offset) moves crops by 1e-2 or more.
CROP_REL = 1e-4
ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = ROOT / "tools" / "gpu_train" / "train.py"
TINY = {
    "handsegnet": {"width": 1 / 16},
    "posenet": {"width": 1 / 16, "input_size": 64},
}
LIFTING_WIDTH = 1 / 8


def close(got, want, rel: float = REL) -> float:
    """max |got - want| / max |want| (want not all zero), asserted <= rel; returns it."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = float(np.max(np.abs(want)))
    assert scale > 0
    err = float(np.max(np.abs(got - want))) / scale
    assert err <= rel, f"max |diff| is {err:.3g} of max |value| {scale:.3g} (allowed {rel:g})"
    return err


def jitted(function, *static: int):
    """``function`` compiled whole, as the trainer runs it; on the CPU one compilation is also
    far cheaper than one per operation. ``static``: the positions of its Python arguments."""
    return jax.jit(function, static_argnums=static)


handsegnet = jitted(nets.handsegnet, 2)
posenet = jitted(nets.posenet, 2)
lifting = jitted(nets.lifting, 3)


@pytest.fixture(autouse=True)
def full_float32_matmuls():
    with jax.default_matmul_precision("float32"):
        yield


def tiny_net(net: str, config: dict, seed: int):
    """A tf_keras net with NumPy-drawn weights (glorot-uniform kernels, biases of +-0.1, so
    negative pre-activations and the biases both matter) and the same weights as JAX params."""
    model = models.build(net, config)
    rng = np.random.default_rng(seed)
    drawn = {}
    for key, value in W.model_weights(model).items():
        if key.endswith("/biases"):
            drawn[key] = rng.uniform(-0.1, 0.1, value.shape).astype(np.float32)
        else:
            fan_in, fan_out = int(np.prod(value.shape[:-1])), value.shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            drawn[key] = rng.uniform(-limit, limit, value.shape).astype(np.float32)
    W.assign_weights(model, drawn)
    params.check_params(net, drawn, models.config_for(net, config))
    return model, {k: jnp.asarray(v) for k, v in drawn.items()}


# ---------------------------------------------------------------- the spec


@pytest.mark.parametrize(
    "net, config",
    [("handsegnet", TINY["handsegnet"]), ("handsegnet", None), ("posenet", TINY["posenet"]),
     ("posenet", None)]
    + [("lifting", {"variant": v, "width": w}) for v in spec.LIFTING_VARIANTS for w in (0.25, 1.0)],
)  # fmt: skip
def test_keras_weights_are_the_spec_shapes(net, config):
    model = models.build(net, config)
    got = {k: tuple(v.shape) for k, v in W.model_weights(model).items()}
    assert got == spec.weight_shapes(net, models.config_for(net, config))


def test_check_params_names_what_differs():
    config = models.config_for("lifting", {"variant": "direct", "width": LIFTING_WIDTH})
    shapes = spec.weight_shapes("lifting", config)
    good = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    params.check_params("lifting", good, config)
    wrong = dict(good, **{"PosePrior/fc_xyz/biases": np.zeros(62, np.float32)})
    wrong.pop("PosePrior/fc_rel0/weights")
    with pytest.raises(ValueError, match=r"missing \['PosePrior/fc_rel0/weights'\].*fc_xyz/biases"):
        params.check_params("lifting", wrong, config)


def test_both_trainers_read_the_spec_targets():
    cfg = pipelines.PipelineConfig()
    assert (cfg.crop_size, cfg.scoremap_sigma, cfg.lifting_pool) == (256, 25.0, 8)
    assert (cfg.crop_size_min, cfg.crop_size_max, cfg.crop_size_fallback) == (50.0, 500.0, 200.0)
    assert (cfg.crop_scale_min, cfg.crop_scale_max) == (1.0, 10.0)
    for net, augmentation in spec_targets.RHD_AUGMENTATION.items():
        assert pipelines.PRESETS[f"{net}_rhd"] == augmentation
    # training/losses.py keeps its own name for the PoseNet loss's epsilon.
    assert losses_tf.POSENET_VISIBLE_EPS == spec_targets.POSENET_VISIBLE_EPS == 0.001


# ---------------------------------------------------------------- the nets


@pytest.mark.parametrize("upsample", [True, False])
def test_handsegnet(upsample):
    model, p = tiny_net("handsegnet", dict(TINY["handsegnet"], upsample=upsample), seed=1)
    # 60 x 76: odd sizes after the pools (floored) and a non-integer resize factor.
    image = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 60, 76, 3)).astype(np.float32)
    config = models.config_for("handsegnet", dict(TINY["handsegnet"], upsample=upsample))
    close(handsegnet(p, jnp.asarray(image), config), model(image))


def test_posenet_all_three_stages():
    model, p = tiny_net("posenet", TINY["posenet"], seed=3)
    image = np.random.default_rng(4).uniform(-0.5, 0.5, (2, 64, 64, 3)).astype(np.float32)
    got = posenet(p, jnp.asarray(image), models.config_for("posenet", TINY["posenet"]))
    want = model(image)
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        close(g, w)


def lifting_inputs(seed: int):
    rng = np.random.default_rng(seed)
    scoremap = rng.uniform(0.0, 1.0, (4, 32, 32, 21)).astype(np.float32)
    side = np.array([[1, 0], [0, 1], [0.5, 0.5], [0, 1]], np.float32)  # a tie counts as left
    return scoremap, side


@pytest.mark.parametrize("variant", spec.LIFTING_VARIANTS)
def test_lifting_every_variant(variant):
    config = {"variant": variant, "width": LIFTING_WIDTH}
    model, p = tiny_net("lifting", config, seed=5)
    scoremap, side = lifting_inputs(6)
    got = lifting(p, jnp.asarray(scoremap), jnp.asarray(side),
                       models.config_for("lifting", config))  # fmt: skip
    want = model([scoremap, side])
    assert set(got) == set(want) == set(spec.LIFTING_OUTPUT_KEYS[variant])
    for key in want:
        close(got[key], want[key])


# ---------------------------------------------------------------- the losses


@pytest.mark.parametrize("stride8", [False, True])
def test_handsegnet_loss(stride8):
    rng = np.random.default_rng(7)
    size = 8 if stride8 else 64
    logits = rng.normal(0.0, 3.0, (2, size, size, 2)).astype(np.float32)
    hand = rng.uniform(size=(2, 64, 64)) > 0.7
    mask = np.stack([~hand, hand], -1).astype(np.float32)
    want = losses_tf.handsegnet_loss(tf.constant(logits), mask)
    got = jitted(losses.handsegnet_loss)(logits, mask)
    assert set(got) == set(want)
    for key in want:
        close(got[key], want[key])


def test_posenet_loss():
    rng = np.random.default_rng(8)
    stages = [rng.normal(0.0, 0.3, (2, 8, 8, 21)).astype(np.float32) for _ in range(3)]
    maps = rng.uniform(0.0, 1.0, (2, 64, 64, 21)).astype(np.float32)
    vis = rng.uniform(size=(2, 21)) > 0.3
    want = losses_tf.posenet_loss([tf.constant(s) for s in stages], maps, vis)
    got = jitted(losses.posenet_loss)(stages, maps, vis)
    assert set(got) == set(want) == {"loss", "stage1", "stage2", "stage3"}
    for key in want:
        close(got[key], want[key])


@pytest.mark.parametrize("variant", spec.LIFTING_VARIANTS)
def test_lifting_loss_every_variant(variant):
    rng = np.random.default_rng(9)
    outputs = {key: rng.normal(size=(3, 21, 3)).astype(np.float32)
               for key in spec.LIFTING_OUTPUT_KEYS[variant]}  # fmt: skip
    if "rotation" in outputs:
        outputs["rotation"] = rng.normal(size=(3, 3, 3)).astype(np.float32)
    targets = {key: rng.normal(size=(3, 21, 3)).astype(np.float32)
               for key in ("xyz_canonical", "xyz_normed", "xyz_local")}  # fmt: skip
    targets["rot_mat"] = rng.normal(size=(3, 3, 3)).astype(np.float32)
    want = losses_tf.lifting_loss(variant, outputs, targets)
    got = jitted(losses.lifting_loss, 0)(variant, outputs, targets)
    assert set(got) == set(want)
    for key in want:
        close(got[key], want[key])


def test_local_to_xyz():
    local = np.random.default_rng(10).normal(size=(3, 21, 3)).astype(np.float32)
    close(jitted(losses.local_to_xyz)(local), losses_tf.local_to_xyz(local))


# ---------------------------------------------------------------- the targets


def test_crop_center_and_scale_with_noises():
    rng = np.random.default_rng(11)
    uv = rng.uniform(-30.0, 350.0, (6, 21, 2)).astype(np.float32)
    uv[0, 12] = np.nan  # no centre keypoint: the centre falls back to (0, 0)
    vis = rng.uniform(size=(6, 21)) > 0.3
    vis[1] = False  # nothing visible: the fallback size
    uv[2] = uv[2, :1] + rng.uniform(-5, 5, (21, 2))  # a tiny hand: the size clamp
    noises = (rng.normal(0, 20, (6, 2)).astype(np.float32),
              rng.uniform(1.0, 1.2, 6).astype(np.float32),
              rng.normal(0, 10, (6, 2)).astype(np.float32))  # fmt: skip
    want = tg_tf.crop_center_and_scale(uv, vis, (320, 320), pipelines.PipelineConfig(), *noises)
    got = jitted(tg.crop_center_and_scale, 2)(uv, vis, (320, 320), *noises)
    for g, w in zip(got, want):
        close(g, w)


def test_crop_images_and_uv_to_crop():
    rng = np.random.default_rng(12)
    images = rng.uniform(-0.5, 0.5, (4, 120, 100, 3)).astype(np.float32)
    center = rng.uniform(-20.0, 130.0, (4, 2)).astype(np.float32)  # partly outside
    scale = rng.uniform(0.6, 3.0, 4).astype(np.float32)
    close(jitted(tg.crop_images, 3)(images, center, scale, 64),
          tg_tf.crop_images(images, center, scale, 64), rel=CROP_REL)  # fmt: skip
    uv = rng.uniform(0.0, 100.0, (4, 21, 2)).astype(np.float32)
    close(jitted(tg.uv_to_crop, 3)(uv, center, scale, 64), tg_tf.uv_to_crop(uv, center, scale, 64))


def test_scoremaps_and_pooled_scoremaps():
    rng = np.random.default_rng(13)
    rowcol = rng.uniform(-10.0, 70.0, (3, 21, 2)).astype(np.float32)  # some outside
    vis = rng.uniform(size=(3, 21)) > 0.2
    sigma = spec_targets.SCOREMAP_SIGMA / 4
    close(jitted(tg.scoremaps, 2, 3)(rowcol, vis, 64, sigma),
          tg_tf.scoremaps(rowcol, vis, 64, sigma))  # fmt: skip
    close(jitted(tg.pooled_scoremaps, 2, 3, 4)(rowcol, vis, 64, sigma, 8),
          tg_tf.pooled_scoremaps(rowcol, vis, 64, sigma, 8))  # fmt: skip


def test_adjust_hue_on_centred_images():
    rng = np.random.default_rng(14)
    images = rng.uniform(-0.5, 0.5, (3, 24, 24, 3)).astype(np.float32)
    images[0, :4, :4] = 0.1  # grey: equal channels
    deltas = np.array([-0.1, 0.03, 0.099], np.float32)
    want = np.stack([tf.image.adjust_hue(images[i], float(deltas[i])).numpy() for i in range(3)])
    close(jitted(tg.adjust_hue)(images, deltas), want)


# ------------------------------------------- rendered samples: prepare + batches vs pipelines

COUNT = 3


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The pipelines' batches (every noise off) and samples.prepare of the same renders."""
    from hand3d_tf.data.rhd import RHDReader
    from hand3d_tf.data.samples import build_source
    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample, split_seed, write_dataset

    seed = 3
    folder = tmp_path_factory.mktemp("rendered")
    config = SyntheticConfig()
    write_dataset(str(folder), "training", config, seed=seed, count=COUNT, progress=False)
    stream = split_seed(seed, "training")
    prepared = samples.stack([samples.prepare(generate_sample(config, stream, i))
                              for i in range(COUNT)])  # fmt: skip
    source = build_source(RHDReader(str(folder), "training"))
    quiet = dict(batch_size=COUNT, shuffle=False, num_epochs=1, deterministic=True,
                 uv_noise_sigma=0.0, crop_center_noise_sigma=0.0, crop_scale_noise_max=1.0,
                 crop_offset_noise_sigma=0.0)  # fmt: skip
    tf_batches = {}
    for net, make in (("posenet", pipelines.posenet_dataset),
                      ("lifting", pipelines.lifting_dataset)):  # fmt: skip
        inputs, targets = next(iter(make(source, pipelines.preset(f"{net}_rhd", **quiet))))
        tf_batches[net] = ({k: v.numpy() for k, v in inputs.items()},
                           {k: v.numpy() for k, v in targets.items()})  # fmt: skip
    seg = pipelines.preset("handsegnet_rhd", hue_max_delta=0.0, random_crop_size=None, **quiet)
    inputs, targets = next(iter(pipelines.handsegnet_dataset(source, seg)))
    tf_batches["handsegnet"] = ({k: v.numpy() for k, v in inputs.items()},
                                {k: v.numpy() for k, v in targets.items()})  # fmt: skip
    return prepared, tf_batches


def test_prepare_and_the_unaugmented_batches_match_the_pipelines(rendered):
    prepared, tf_batches = rendered
    p = {k: jnp.asarray(v) for k, v in prepared.items()}
    key = jax.random.PRNGKey(0)
    image, mask = jitted(batches.handsegnet_batch, 2)(p, key, False)
    tf_in, tf_out = tf_batches["handsegnet"]
    np.testing.assert_array_equal(mask, tf_out["hand_mask"])
    close(image, tf_in["image"])
    crops, maps, vis = jitted(batches.posenet_batch, 2)(p, key, False)
    tf_in, tf_out = tf_batches["posenet"]
    np.testing.assert_array_equal(vis, tf_out["keypoint_vis"])
    close(crops, tf_in["image"], rel=CROP_REL)
    close(maps, tf_out["scoremap"])
    pooled, side, targets = jitted(batches.lifting_batch, 2)(p, key, False)
    tf_in, tf_out = tf_batches["lifting"]
    np.testing.assert_array_equal(side, tf_in["hand_side"])
    close(pooled, tf_in["scoremap"])
    # hand3d_tf.geometry in float64 rounded once, the pipelines in float32: 1.7e-7 measured
    close(targets["xyz_canonical"], tf_out["xyz_canonical"])
    close(targets["rot_mat"], tf_out["rot_mat"])


def test_augmented_batches_have_the_training_shapes():
    rng = np.random.default_rng(15)
    n = 3
    fake = {k: rng.integers(0, 2 if k in ("hand", "side", "vis21") else 255, (n, *shape))
            .astype(dtype) for k, (shape, dtype) in samples.FIELDS.items()}  # fmt: skip
    fake["uv21"] = rng.uniform(60.0, 260.0, (n, 21, 2)).astype(np.float32)

    @jax.jit  # one compilation instead of one per operation: the cheapest way on the CPU
    def all_batches(arrays, key):
        plain = batches.posenet_batch(arrays, key, augment=False)[0]
        return (batches.handsegnet_batch(arrays, key), batches.posenet_batch(arrays, key),
                batches.lifting_batch(arrays, key), plain)  # fmt: skip

    (image, mask), (crops, maps, vis), (pooled, side, _), plain = all_batches(
        fake, jax.random.PRNGKey(1)
    )
    assert image.shape == (n, 256, 256, 3) and mask.shape == (n, 256, 256, 2)
    assert crops.shape == (n, 256, 256, 3) and maps.shape == (n, 256, 256, 21)
    assert pooled.shape == (n, 32, 32, 21) and side.shape == (n, 2)
    # the noises move the crop: an augmented batch differs from the unaugmented one
    assert not np.allclose(crops, plain)


def test_mixed_batches_on_the_device():
    """train.py's gather (hand3d_tf.jax.mixing with jnp.concatenate, jitted): the renders
    first, then the packed samples, each with its own mask and keypoints."""
    from hand3d_tf.jax import mixing

    rng = np.random.default_rng(4)
    ring, packed = ({k: rng.integers(0, 2 if k in ("hand", "side", "vis21") else 255,
                                     (n, *shape)).astype(dtype)
                     for k, (shape, dtype) in samples.FIELDS.items()} for n in (5, 3))  # fmt: skip
    mix = mixing.plan(["handsegnet"], {"handsegnet": 4}, 0.5, np.array([True, False, True]))
    idx, real_idx = mixing.draw(rng, mix["handsegnet"], 4, filled=5)

    @jax.jit
    def masks(arrays, idx, real, real_idx):
        gathered = mixing.gather(arrays, idx, real, real_idx, concat=jnp.concatenate)
        return batches.handsegnet_batch(gathered, jax.random.PRNGKey(0), augment=False)[1]

    got = masks(ring, jnp.asarray(idx), packed, jnp.asarray(real_idx))
    assert set(real_idx.tolist()) <= {0, 2}
    want = np.concatenate([ring["hand"][idx], packed["hand"][real_idx]])
    np.testing.assert_array_equal(got[..., 1], want)


# ---------------------------------------------------------------- the GPU trainer's imports


def test_the_gpu_trainer_imports_no_tensorflow(tmp_path):
    """The lent GPU has JAX but no TensorFlow: train.py and every hand3d_tf module it names
    (at top level or inside a function) import none, and neither does rendering a sample
    or reading a pack of photographs (--real)."""
    from hand3d_tf.data.pack import PackConfig, pack
    from tests.test_pack import write_photo_split

    write_photo_split(tmp_path / "photos", n=3)
    pack(PackConfig((str(tmp_path / "photos"),), str(tmp_path / "real.npz")), log=print)
    statements = set()
    for node in ast.walk(ast.parse(TRAIN.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hand3d_tf"):
            statements.add(ast.unparse(node))
    assert "from hand3d_tf.jax import batches, losses, mixing, nets" in statements
    assert "from hand3d_tf.jax.samples import prepare" in statements
    assert "from hand3d_tf.data.pack import PackError, read_pack" in statements
    code = (
        f"import sys\nsys.path.insert(0, {str(TRAIN.parent)!r})\nimport train\n"
        + "".join(f"{line}\n" for line in sorted(statements))
        + "from hand3d_tf.data.synthetic import split_seed\n"
        "train._render((split_seed(0, 'training'), 0))\n"
        f"assert len(read_pack({str(tmp_path / 'real.npz')!r})) == 3\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TENSORFLOW_PACKAGES!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
