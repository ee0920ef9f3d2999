"""Check the JAX port (jax_port.py, train.py's prepare) against the TensorFlow code.

Two halves, because TensorFlow and JAX live in different environments here:

    .venv/bin/python tools/gpu_train/check_port.py --dump=/tmp/port.npz      # TensorFlow side
    <python with jax> tools/gpu_train/check_port.py --compare=/tmp/port.npz  # JAX side

The dump holds the bundled default nets' outputs and losses on random inputs, the
training pipelines' targets (noises off) on six rendered samples together with those
samples' raw fields, TF's hue on centred images and TF crops of random boxes. The compare
half recomputes everything with the port and fails when a difference exceeds its tolerance.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "gpu_train"))

WEIGHTS = ROOT / "weights" / "default"
SEED = 3
COUNT = 6


def dump(path: str) -> None:
    import tensorflow as tf

    from hand3d_tf.data import pipelines
    from hand3d_tf.data import targets as tg
    from hand3d_tf.data.rhd import RHDReader
    from hand3d_tf.data.samples import build_source
    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample, split_seed, write_dataset
    from hand3d_tf.training import losses
    from hand3d_tf.weights import load_model

    rng = np.random.default_rng(0)
    out = {}
    seg, pose, lift = (
        load_model(WEIGHTS / f"{n}.npz") for n in ("handsegnet", "posenet", "lifting")
    )
    image = rng.uniform(-0.5, 0.5, (2, 256, 256, 3)).astype(np.float32)
    out["seg_in"] = image
    out["seg_logits"] = seg(image).numpy()
    mask = (rng.uniform(size=(2, 256, 256)) > 0.7).astype(np.float32)
    onehot = np.stack([1 - mask, mask], -1)
    out["seg_mask"] = onehot
    out["seg_loss"] = float(losses.handsegnet_loss(tf.constant(out["seg_logits"]), onehot)["loss"])
    out["pose_in"] = image
    stages = [s.numpy() for s in pose(image)]
    for i, s in enumerate(stages):
        out[f"pose_s{i}"] = s
    maps = rng.uniform(0, 1, (2, 256, 256, 21)).astype(np.float32)
    vis = rng.uniform(size=(2, 21)) > 0.3
    out["pose_maps"], out["pose_vis"] = maps, vis
    out["pose_loss"] = float(
        losses.posenet_loss([tf.constant(s) for s in stages], maps, vis)["loss"]
    )
    sm = rng.uniform(0, 1, (2, 32, 32, 21)).astype(np.float32)
    side = np.array([[1, 0], [0, 1]], np.float32)
    o = lift([sm, side])
    out["lift_sm"], out["lift_side"] = sm, side
    out["lift_can"], out["lift_rot"] = o["xyz_canonical"].numpy(), o["rotation"].numpy()
    t_can = rng.normal(size=(2, 21, 3)).astype(np.float32)
    t_rot = rng.normal(size=(2, 3, 3)).astype(np.float32)
    out["lift_tcan"], out["lift_trot"] = t_can, t_rot
    out["lift_loss"] = float(
        losses.lifting_loss("proposed", o, {"xyz_canonical": t_can, "rot_mat": t_rot})["loss"]
    )
    # hue on centred images (the original's space)
    hue_img = rng.uniform(-0.5, 0.5, (3, 40, 40, 3)).astype(np.float32)
    hue_img[0, :5, :5] = 0.1  # grey pixels: equal channels
    deltas = np.array([-0.1, 0.03, 0.099], np.float32)
    out["hue_in"], out["hue_delta"] = hue_img, deltas
    out["hue_out"] = np.stack(
        [tf.image.adjust_hue(hue_img[i], float(deltas[i])).numpy() for i in range(3)]
    )
    # crops of random boxes, partly outside the image
    crop_img = rng.uniform(-0.5, 0.5, (4, 320, 320, 3)).astype(np.float32)
    center = rng.uniform(-20, 340, (4, 2)).astype(np.float32)
    scale = rng.uniform(0.6, 3.0, (4,)).astype(np.float32)
    out["crop_img"], out["crop_center"], out["crop_scale"] = crop_img, center, scale
    out["crop_out"] = tg.crop_images(crop_img, center, scale, 256).numpy()
    # the training pipelines on rendered samples, noises off
    cfg = SyntheticConfig()
    stream = split_seed(SEED, "training")
    raw = [generate_sample(cfg, stream, i) for i in range(COUNT)]
    for key in ("color", "mask", "xyz", "uv_vis", "K"):
        out[f"raw_{key}"] = np.stack([r[key] for r in raw])
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(tmp, "training", cfg, seed=SEED, count=COUNT, progress=False)
        source = build_source(RHDReader(tmp, "training"))
        quiet = dict(batch_size=COUNT, shuffle=False, num_epochs=1, deterministic=True,
                     uv_noise_sigma=0.0, crop_center_noise_sigma=0.0, crop_scale_noise_max=1.0,
                     crop_offset_noise_sigma=0.0)  # fmt: skip
        inputs, targets = next(
            iter(pipelines.posenet_dataset(source, pipelines.preset("posenet_rhd", **quiet)))
        )
        out["p_crop"], out["p_maps"] = inputs["image"].numpy(), targets["scoremap"].numpy()
        out["p_vis"] = targets["keypoint_vis"].numpy()
        inputs, targets = next(
            iter(pipelines.lifting_dataset(source, pipelines.preset("lifting_rhd", **quiet)))
        )
        out["l_pooled"], out["l_side"] = inputs["scoremap"].numpy(), inputs["hand_side"].numpy()
        out["l_can"], out["l_rot"] = targets["xyz_canonical"].numpy(), targets["rot_mat"].numpy()
        seg_cfg = pipelines.preset(
            "handsegnet_rhd", hue_max_delta=0.0, random_crop_size=None, **quiet
        )
        _, seg_t = next(iter(pipelines.handsegnet_dataset(source, seg_cfg)))
        out["s_mask"] = seg_t["hand_mask"].numpy()
    np.savez(path, **out)
    print(f"wrote {path}")


def _prepared(d: dict) -> dict:
    """train.prepare() of the dumped raw samples, stacked (NumPy)."""
    from train import prepare

    keys = ("color", "mask", "xyz", "uv_vis", "K")
    samples = [prepare({k: d[f"raw_{k}"][i] for k in keys}) for i in range(len(d["raw_color"]))]
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


def check_prepare(d: dict, rows: list) -> None:
    """What train.prepare() computes without JAX, against the pipelines' targets."""
    b = _prepared(d)
    _check(rows, "posenet visibility", b["vis21"], d["p_vis"], 0)
    _check(rows, "hand side", np.eye(2)[b["side"]], d["l_side"], 0)
    _check(rows, "canonical target", b["xyz_canonical"], d["l_can"], 1e-4)
    _check(rows, "rotation target", b["rot_mat"], d["l_rot"], 1e-4)
    hand = b["hand"].astype(np.float32)
    _check(rows, "hand mask", np.stack([1 - hand, hand], -1), d["s_mask"], 0)


def _check(rows, name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    scale = float(np.max(np.abs(want))) or 1.0
    rows.append((name, err, scale, tol, err <= tol * scale))


def report(rows) -> bool:
    ok = True
    for name, err, scale, tol, good in rows:
        ok &= good
        print(
            f"{'ok  ' if good else 'FAIL'} {name:22s} max |diff| {err:.3g} "
            f"(max |value| {scale:.3g}, tolerance {tol:g} x)"
        )
    return ok


def compare(path: str) -> int:
    import jax
    import jax.numpy as jnp
    import jax_port as jp

    jax.config.update("jax_default_matmul_precision", "highest")
    d = dict(np.load(path))
    p = {n: jp.load_npz(WEIGHTS / f"{n}.npz") for n in ("handsegnet", "posenet", "lifting")}
    rows: list = []

    def check(name, got, want, tol):
        _check(rows, name, got, want, tol)

    logits = jp.handsegnet(p["handsegnet"], jnp.asarray(d["seg_in"]))
    check("handsegnet logits", logits, d["seg_logits"], 1e-4)
    check(
        "handsegnet loss",
        jp.handsegnet_loss(jnp.asarray(d["seg_logits"]), d["seg_mask"]),
        d["seg_loss"],
        1e-5,
    )
    stages = jp.posenet(p["posenet"], jnp.asarray(d["pose_in"]))
    for i in range(3):
        check(f"posenet S{i + 1}", stages[i], d[f"pose_s{i}"], 1e-4)
    stages_tf = [jnp.asarray(d[f"pose_s{i}"]) for i in range(3)]
    check(
        "posenet loss",
        jp.posenet_loss(stages_tf, d["pose_maps"], d["pose_vis"]),
        d["pose_loss"],
        1e-5,
    )
    o = jp.lifting(p["lifting"], jnp.asarray(d["lift_sm"]), jnp.asarray(d["lift_side"]))
    check("lifting canonical", o["xyz_canonical"], d["lift_can"], 1e-4)
    check("lifting rotation", o["rotation"], d["lift_rot"], 1e-4)
    tf_out = {"xyz_canonical": jnp.asarray(d["lift_can"]), "rotation": jnp.asarray(d["lift_rot"])}
    check(
        "lifting loss",
        jp.lifting_loss(tf_out, d["lift_tcan"], d["lift_trot"]),
        d["lift_loss"],
        1e-5,
    )
    check(
        "hue",
        jp.adjust_hue(jnp.asarray(d["hue_in"]), jnp.asarray(d["hue_delta"])),
        d["hue_out"],
        1e-5,
    )
    crops = jp.crop_images(
        jnp.asarray(d["crop_img"]), jnp.asarray(d["crop_center"]), jnp.asarray(d["crop_scale"])
    )
    check("crop_and_resize", crops, d["crop_out"], 1e-4)
    # pipelines: prepare() + the port's targets with zero noise
    check_prepare(d, rows)
    b = {k: jnp.asarray(v) for k, v in _prepared(d).items()}
    n = b["uv21"].shape[0]
    center, scale = jp.crop_center_and_scale(
        b["uv21"], b["vis21"], (320, 320), jnp.zeros((n, 2)), jnp.ones(n), jnp.zeros((n, 2))
    )
    rowcol = jp.uv_to_crop(b["uv21"], center, scale)[..., ::-1]
    img = b["image"].astype(jnp.float32) / 255.0 - 0.5
    check("posenet crop", jp.crop_images(img, center, scale), d["p_crop"], 1e-4)
    check("posenet score maps", jp.scoremaps(rowcol, b["vis21"]), d["p_maps"], 1e-5)
    check("lifting pooled maps", jp.pooled_scoremaps(rowcol, b["vis21"]), d["l_pooled"], 1e-5)
    return 0 if report(rows) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--dump")
    group.add_argument("--compare")
    args = ap.parse_args()
    if args.dump:
        dump(args.dump)
        return 0
    return compare(args.compare)


if __name__ == "__main__":
    sys.exit(main())
