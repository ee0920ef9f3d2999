"""Training losses against NumPy re-computations of the formulas of docs/original.md §9 / §3."""

import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf.training import losses
from tests.helpers import reference_cases


def np_legacy_resize(x, out_h, out_w):
    """TF1 bilinear resize, align_corners=False, no half-pixel offset (docs/original.md §0), [B,h,w,C]."""
    _, h, w, _ = x.shape

    def axis(n_in, n_out):
        src = np.arange(n_out) * (n_in / n_out)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    r0, r1, fr = axis(h, out_h)
    c0, c1, fc = axis(w, out_w)
    top = (
        x[:, r0][:, :, c0] * (1 - fc)[None, None, :, None]
        + x[:, r0][:, :, c1] * fc[None, None, :, None]
    )
    bottom = (
        x[:, r1][:, :, c0] * (1 - fc)[None, None, :, None]
        + x[:, r1][:, :, c1] * fc[None, None, :, None]
    )
    return top * (1 - fr)[None, :, None, None] + bottom * fr[None, :, None, None]


def np_softmax_ce(logits, onehot):
    m = logits.max(-1, keepdims=True)
    log_z = m[..., 0] + np.log(np.exp(logits - m).sum(-1))
    return -(onehot * (logits - log_z[..., None])).sum(-1)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


def test_handsegnet_loss_matches_numpy(rng):
    logits = rng.normal(size=(3, 16, 12, 2)).astype(np.float32) * 3
    hand = rng.random((3, 16, 12)) > 0.7
    mask = np.stack([~hand, hand], -1).astype(np.float32)
    expected = np_softmax_ce(logits.astype(np.float64), mask).mean()
    got = losses.handsegnet_loss(tf.constant(logits), tf.constant(mask))
    assert got["loss"].numpy() == pytest.approx(expected, rel=1e-5)
    # A perfect, confident prediction gives ~0; the uniform one gives log 2.
    assert losses.handsegnet_loss(tf.constant((mask - 0.5) * 60), mask)["loss"] < 1e-6
    zero = losses.handsegnet_loss(tf.zeros_like(logits), mask)["loss"].numpy()
    assert zero == pytest.approx(np.log(2.0), rel=1e-6)


def test_handsegnet_loss_upsamples_stride8_logits_legacy(rng):
    logits = rng.normal(size=(2, 4, 4, 2)).astype(np.float32) * 2
    hand = rng.random((2, 32, 32)) > 0.5
    mask = np.stack([~hand, hand], -1).astype(np.float32)
    up = np_legacy_resize(logits.astype(np.float64), 32, 32)
    expected = np_softmax_ce(up, mask).mean()
    got = losses.handsegnet_loss(tf.constant(logits), tf.constant(mask))["loss"].numpy()
    assert got == pytest.approx(expected, rel=1e-5)


def np_posenet_loss(stages, gt, vis):
    total, per_stage = 0.0, []
    for s in stages:
        up = np_legacy_resize(s.astype(np.float64), gt.shape[1], gt.shape[2])
        rms = np.sqrt(((up - gt) ** 2).mean(axis=(1, 2)))  # [B, 21]
        value = (vis * rms).sum() / (vis.sum() + 0.001)
        per_stage.append(value)
        total += value
    return total, per_stage


def test_posenet_loss_matches_numpy(rng):
    stages = [rng.normal(size=(3, 4, 4, 21)).astype(np.float32) for _ in range(3)]
    gt = rng.random((3, 32, 32, 21)).astype(np.float32)
    vis = rng.random((3, 21)) > 0.3
    expected, per_stage = np_posenet_loss(stages, gt, vis.astype(np.float64))
    got = losses.posenet_loss([tf.constant(s) for s in stages], tf.constant(gt), tf.constant(vis))
    assert got["loss"].numpy() == pytest.approx(expected, rel=1e-5)
    for i in range(3):
        assert got[f"stage{i + 1}"].numpy() == pytest.approx(per_stage[i], rel=1e-5)
    # No visible keypoint: the +0.001 keeps the loss finite and zero.
    none = losses.posenet_loss([tf.constant(s) for s in stages], gt, np.zeros((3, 21), bool))
    assert none["loss"].numpy() == 0.0


def test_posenet_loss_split_over_replicas_sums_to_whole(rng):
    stages = [rng.normal(size=(4, 4, 4, 21)).astype(np.float32) for _ in range(3)]
    gt = rng.random((4, 32, 32, 21)).astype(np.float32)
    vis = rng.random((4, 21)) > 0.5
    whole = losses.posenet_loss(stages, gt, vis)["loss"].numpy()
    n = float(vis.sum())
    halves = [
        losses.posenet_loss([s[sl] for s in stages], gt[sl], vis[sl], num_visible=n)["loss"]
        for sl in (slice(0, 2), slice(2, 4))
    ]
    assert float(sum(halves)) == pytest.approx(whole, rel=1e-5)


def test_handsegnet_loss_split_over_replicas_sums_to_whole(rng):
    logits = rng.normal(size=(4, 8, 8, 2)).astype(np.float32)
    hand = rng.random((4, 8, 8)) > 0.5
    mask = np.stack([~hand, hand], -1).astype(np.float32)
    whole = losses.handsegnet_loss(logits, mask)["loss"].numpy()
    halves = [
        losses.handsegnet_loss(logits[sl], mask[sl], global_batch_size=4)["loss"]
        for sl in (slice(0, 1), slice(1, 4))
    ]
    assert float(sum(halves)) == pytest.approx(whole, rel=1e-5)


def test_lifting_proposed_loss_matches_numpy(rng):
    can, can_gt = rng.normal(size=(2, 5, 21, 3))
    rot, rot_gt = rng.normal(size=(2, 5, 3, 3))
    got = losses.lifting_loss(
        "proposed",
        {"xyz_canonical": tf.constant(can, tf.float32), "rotation": tf.constant(rot, tf.float32)},
        {"xyz_canonical": can_gt, "rot_mat": rot_gt, "xyz_normed": np.zeros((5, 21, 3))},
    )
    e_can = np.mean((can - can_gt) ** 2)
    e_rot = np.mean((rot - rot_gt) ** 2)
    assert got["canonical"].numpy() == pytest.approx(e_can, rel=1e-5)
    assert got["rotation"].numpy() == pytest.approx(e_rot, rel=1e-5)
    assert got["loss"].numpy() == pytest.approx(e_can + e_rot, rel=1e-5)


@pytest.mark.parametrize(
    "variant,out_key,target_key",
    [
        ("direct", "xyz", "xyz_normed"),
        ("bottleneck", "xyz", "xyz_normed"),
        ("local", "local", "xyz_local"),
    ],
)
def test_lifting_plain_variants_match_numpy(rng, variant, out_key, target_key):
    pred, gt = rng.normal(size=(2, 3, 21, 3))
    got = losses.lifting_loss(variant, {out_key: tf.constant(pred, tf.float32)}, {target_key: gt})
    assert got["loss"].numpy() == pytest.approx(np.mean((pred - gt) ** 2), rel=1e-5)


def test_lifting_local_w_xyz_loss_uses_inverse_bone_transform():
    ref = reference_cases("geometry_eval_cases.npz")
    # The original's inverse transform of bone_rel (computed by the TF 1.3 code).
    xyz_from_local = ref["bone_rel_inv"]
    target = ref["xyz"] + 0.1 * np.sin(np.arange(ref["xyz"].size)).reshape(ref["xyz"].shape)
    got = losses.lifting_loss(
        "local_w_xyz_loss",
        {"local": tf.constant(ref["bone_rel"], tf.float32)},
        {"xyz_normed": target},
    )
    assert got["loss"].numpy() == pytest.approx(np.mean((xyz_from_local - target) ** 2), rel=1e-4)
    xyz = losses.local_to_xyz(tf.constant(ref["bone_rel"], tf.float32)).numpy()
    np.testing.assert_allclose(xyz, xyz_from_local, atol=1e-5)


def test_local_to_xyz_is_differentiable():
    ref = reference_cases("geometry_eval_cases.npz")
    local = tf.Variable(ref["bone_rel"][:2], dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.local_to_xyz(local))
    grad = tape.gradient(loss, local).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_unknown_variant_lists_choices():
    with pytest.raises(ValueError, match="unknown lifting variant 'fancy'.*proposed.*local"):
        losses.lifting_loss("fancy", {}, {})
    with pytest.raises(KeyError, match="xyz_local"):
        losses.lifting_loss("local", {"local": np.zeros((1, 21, 3), np.float32)}, {})


def _lifting_batch(rng, variant, n):
    """Random (outputs, targets) of a lifting variant for a batch of n."""
    if variant == "proposed":
        outputs = {"xyz_canonical": rng.normal(size=(n, 21, 3)),
                   "rotation": rng.normal(size=(n, 3, 3))}  # fmt: skip
        targets = {"xyz_canonical": rng.normal(size=(n, 21, 3)),
                   "rot_mat": rng.normal(size=(n, 3, 3))}  # fmt: skip
    elif variant in ("direct", "bottleneck"):
        outputs, targets = {"xyz": rng.normal(size=(n, 21, 3))}, {}
        targets["xyz_normed"] = rng.normal(size=(n, 21, 3))
    else:  # local and local_w_xyz_loss: lengths and angles
        outputs = {"local": rng.uniform(0.2, 1.5, size=(n, 21, 3))}
        targets = {"xyz_local": rng.normal(size=(n, 21, 3)),
                   "xyz_normed": rng.normal(size=(n, 21, 3))}  # fmt: skip
    cast = {k: np.asarray(v, np.float32) for k, v in outputs.items()}
    return cast, {k: np.asarray(v, np.float32) for k, v in targets.items()}


@pytest.mark.parametrize(
    "variant", ["proposed", "direct", "bottleneck", "local", "local_w_xyz_loss"]
)
def test_lifting_loss_split_over_replicas_sums_to_whole(rng, variant):
    outputs, targets = _lifting_batch(rng, variant, 4)
    whole = losses.lifting_loss(variant, outputs, targets)
    parts = [
        losses.lifting_loss(
            variant,
            {k: v[sl] for k, v in outputs.items()},
            {k: v[sl] for k, v in targets.items()},
            global_batch_size=4,
        )
        for sl in (slice(0, 1), slice(1, 4))  # uneven shares, as a last partial batch
    ]
    assert set(whole) == set(parts[0]) and len(whole) > 1
    for key in whole:  # the total and every component
        total = float(sum(p[key] for p in parts))
        assert total == pytest.approx(float(whole[key]), rel=1e-5), key
