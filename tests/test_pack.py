"""hand3d_tf.data.pack (labelled folders -> one file for the lent GPU) and hand3d_tf.jax.mixing
(which packed samples each net's batches draw). No TensorFlow, no JAX.

The folders are tiny and made here: renders (tests.test_data_readers.make_rhd_samples with
smooth images, so JPEG loss stays small) and a labelled-photo split as hand3d-autolabel
writes it (hand_side, mask_trusted, xyz None, classes 0/1/2/18).
"""

from __future__ import annotations

import json
import pickle

import cv2
import numpy as np
import pytest

from hand3d_tf import keypoints as kp
from hand3d_tf.data import pack as P
from hand3d_tf.data.rhd import write_rhd_split
from hand3d_tf.jax import mixing
from hand3d_tf.jax import samples as jax_samples
from tests.test_data_readers import make_rhd_samples

BIG = 64.0  # MiB: no budget effect


def smooth_image(rng) -> np.ndarray:
    """A photo-like 320 x 320 RGB image: low-frequency colour (JPEG keeps it well)."""
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    return cv2.resize(small, (320, 320), interpolation=cv2.INTER_CUBIC)


def write_render_split(root, n: int = 5, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    samples = make_rhd_samples(n, seed)
    for s in samples:
        s["image"] = smooth_image(rng)
    write_rhd_split(root, "training", samples)
    return samples


def write_photo_split(root, n: int = 6, seed: int = 1) -> list:
    """hand3d-autolabel's layout: the labelled hand's slot only, xyz None, hand_side 0/1,
    every third mask untrusted; some keypoints invisible."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        side = i % 2
        uv = np.zeros((42, 2), np.float32)
        vis = np.zeros(42, bool)
        slot = slice(21, 42) if side else slice(0, 21)
        uv[slot] = rng.uniform(40.0, 280.0, (21, 2))
        vis[slot] = rng.random(21) < 0.85
        mask = np.zeros((320, 320), np.uint8)
        mask[300:, :] = kp.MASK_PERSON  # the arm
        for p in uv[slot]:
            cv2.circle(mask, (int(p[0]), int(p[1])), 9, 18 if side else 2, -1)
        samples.append(dict(image=smooth_image(rng), mask=mask, xyz=np.zeros((42, 3)), uv=uv,
                            vis=vis, K=np.eye(3), id=i))  # fmt: skip
    write_rhd_split(root, "training", samples)
    anno_path = root / "training" / "anno_training.pickle"
    anno = pickle.loads(anno_path.read_bytes())  # written just above by this test
    for i, entry in anno.items():
        entry.update(xyz=None, hand_side=i % 2, mask_trusted=i % 3 != 2)
    anno_path.write_bytes(pickle.dumps(anno, protocol=2))
    return samples


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    renders, photos = root / "renders", root / "photos"
    return {"renders": (renders, write_render_split(renders)),
            "photos": (photos, write_photo_split(photos))}  # fmt: skip


def make_pack(folders, path, **kw) -> dict:
    dirs = tuple(str(folders[k][0]) for k in ("renders", "photos"))
    return P.pack(P.PackConfig(dirs, str(path), **{"max_mb": BIG, **kw}), log=lambda _: None)


@pytest.fixture(scope="module")
def full_pack(folders, tmp_path_factory):
    path = tmp_path_factory.mktemp("full") / "real.npz"
    make_pack(folders, path, frame=320, quality=95)
    return path


def test_round_trip_keeps_labels_images_and_trusted_masks_only(folders, full_pack):
    header, arrays = P.load_pack_arrays(full_pack)
    assert header["version"] == P.VERSION and header["samples"] == 11 and header["subset"] is None
    assert [(s["name"], s["samples"], s["packed"], s["trusted"]) for s in header["sources"]] == [
        ("renders", 5, 5, 5), ("photos", 6, 6, 4)]  # fmt: skip
    real = P.read_pack(full_pack)
    assert len(real) == 11 and list(real.source) == [0] * 5 + [1] * 6
    # Renders go through samples.prepare, photographs through prepare_labelled: same fields.
    for i, s in enumerate(folders["renders"][1]):
        uv_vis = np.concatenate([s["uv"], s["vis"][:, None]], 1)
        want = jax_samples.prepare({"color": s["image"], "mask": s["mask"], "xyz": s["xyz"],
                                    "uv_vis": uv_vis})  # fmt: skip
        for k in ("uv21", "vis21", "side", "hand"):
            np.testing.assert_array_equal(real.samples[k][i], want[k], err_msg=k)
    for j, s in enumerate(folders["photos"][1]):
        i, side = 5 + j, j % 2
        slot = slice(21, 42) if side else slice(0, 21)
        want = jax_samples.prepare_labelled(s["image"], s["mask"] > 1, s["uv"][slot],
                                            s["vis"][slot], side)  # fmt: skip
        for k in ("uv21", "vis21", "side"):
            np.testing.assert_array_equal(real.samples[k][i], want[k], err_msg=k)
        trusted = j % 3 != 2
        assert real.mask_trusted[i] == trusted
        # a trusted mask comes back exactly (PNG); an untrusted one is not stored at all
        np.testing.assert_array_equal(real.samples["hand"][i], want["hand"] * trusted)
        assert (arrays["mask_offsets"][i + 1] > arrays["mask_offsets"][i]) == trusted
        assert np.isnan(real.samples["xyz_canonical"][i]).all()  # no 3D is made up
    originals = [s["image"] for s in folders["renders"][1] + folders["photos"][1]]
    error = np.abs(real.samples["image"].astype(int) - np.stack(originals)).mean()
    assert error < 1.5, error  # JPEG at quality 95 of smooth images: measured 0.6


def test_downscaled_frame_scales_the_labels_exactly(folders, full_pack, tmp_path):
    path = tmp_path / "half.npz"
    header = make_pack(folders, path, frame=160)
    assert header["packed_hw"] == [160, 160] and header["image_hw"] == [320, 320]
    _, arrays = P.load_pack_arrays(path)
    _, full = P.load_pack_arrays(full_pack)
    np.testing.assert_array_equal(arrays["uv"], full["uv"] * np.float32(0.5))
    real, ref = P.read_pack(path), P.read_pack(full_pack)
    np.testing.assert_array_equal(real.samples["uv21"], ref.samples["uv21"])  # back on 320
    assert real.samples["image"].shape == (11, 320, 320, 3)
    blurred = cv2.resize(cv2.resize(ref.samples["image"][0], (160, 160), interpolation=cv2.INTER_AREA),
                         (320, 320))  # fmt: skip
    assert np.abs(real.samples["image"][0].astype(int) - blurred).mean() < 3.0


def test_over_budget_lowers_quality_then_keeps_a_stratified_subset(folders, tmp_path):
    lines = []
    dirs = tuple(str(folders[k][0]) for k in ("renders", "photos"))
    full = P.pack(P.PackConfig(dirs, str(tmp_path / "full.npz"), max_mb=BIG), log=lines.append)
    assert not lines and full["quality"] == 85
    limit_mb = 0.6 * full["bytes"] / P.MIB  # too small even at the lowest quality
    config = P.PackConfig(dirs, str(tmp_path / "small.npz"), max_mb=limit_mb, min_quality=70)
    header = P.pack(config, log=lines.append)
    assert header["quality"] == 70 and header["bytes"] <= limit_mb * P.MIB
    subset = header["subset"]
    assert len(lines) == 1 and "quality lowered to 70" in lines[0]
    assert f"({subset['kept']} of 11 samples)" in lines[0]
    # the same share of every source, evenly spaced within it
    for source in header["sources"]:
        assert source["packed"] == max(1, int(subset["share"] * source["samples"]))
    _, arrays = P.load_pack_arrays(tmp_path / "small.npz")
    again = P.pack(dataclass_replace(config, output=str(tmp_path / "again.npz")), log=lines.append)
    _, arrays2 = P.load_pack_arrays(tmp_path / "again.npz")
    assert again["sha256"] == header["sha256"]  # deterministic
    np.testing.assert_array_equal(arrays["ids"], arrays2["ids"])
    assert header["samples"] < 11


def dataclass_replace(config, **kw):
    import dataclasses

    return dataclasses.replace(config, **kw)


def rewrite(src, dst, header_change=None, array_change=None) -> None:
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(bytes(arrays.pop("header")).decode())
    if header_change:
        header.update(header_change)
    if array_change:
        array_change(arrays)
    np.savez(dst, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)


def one_line_error(path) -> str:
    with pytest.raises(P.PackError) as err:
        P.read_pack(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_corrupt_truncated_and_foreign_packs_fail_in_one_line(full_pack, tmp_path):
    data = full_pack.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert "not a readable pack" in one_line_error(tmp_path / "cut.npz")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside the JPEG bytes: the zip's CRC or our checksum
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    one_line_error(tmp_path / "flip.npz")
    rewrite(full_pack, tmp_path / "v2.npz", header_change={"version": 2})
    assert "pack version 2" in one_line_error(tmp_path / "v2.npz")

    def shift(arrays):
        arrays["uv"] = arrays["uv"] + np.float32(1.0)

    rewrite(full_pack, tmp_path / "edited.npz", array_change=shift)
    assert "checksum mismatch" in one_line_error(tmp_path / "edited.npz")
    rewrite(full_pack, tmp_path / "other.npz", header_change={"format": "something else"})
    assert "not a hand3d-real-pack" in one_line_error(tmp_path / "other.npz")
    assert "no such pack" in one_line_error(tmp_path / "missing.npz")


def test_pickle_is_never_loaded(full_pack, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert len(P.read_pack(full_pack)) == 11

    def objects(arrays):
        arrays["ids"] = np.array([{"a": 1}] * len(arrays["ids"]), dtype=object)

    monkeypatch.undo()
    rewrite(full_pack, tmp_path / "objects.npz", array_change=objects)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert "not a readable pack" in one_line_error(tmp_path / "objects.npz")


def test_command_line_errors_are_one_line_with_status_2(folders, tmp_path, capsys):
    out = str(tmp_path / "p.npz")
    renders = str(folders["renders"][0])
    for argv, words in (
        ([f"--data_dir={tmp_path / 'nothing'}"], "no training/ split"),
        ([f"--data_dir={renders}", "--quality=0"], "min_quality"),
        ([f"--data_dir={renders}", "--frame=400"], "never enlarged"),
        ([f"--data_dir={renders},{renders}"], "two data_dirs are named 'renders'"),
    ):
        assert P.main([*argv, f"--output={out}"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "p.npz").exists()
    assert P.main([f"--data_dir={renders}", f"--output={out}"]) == 0
    assert "5 samples (5 with trusted masks; renders 5)" in capsys.readouterr().out


# ------------------------------------------------------------------------------ mixing
def test_batches_mix_the_fraction_trusted_masks_only_and_no_lifting(full_pack):
    real = P.read_pack(full_pack)
    batch = {"handsegnet": 8, "posenet": 12, "lifting": 16}
    mixes = mixing.plan(list(batch), batch, 0.25, real.mask_trusted)
    assert {n: m.per_batch for n, m in mixes.items()} == {
        "handsegnet": 2,
        "posenet": 3,
        "lifting": 0,
    }
    assert set(mixes["handsegnet"].pool) == set(np.flatnonzero(real.mask_trusted))
    assert len(mixes["posenet"].pool) == len(real) and len(mixes["lifting"].pool) == 0
    rng = np.random.default_rng(0)
    rings = {k: np.zeros((50, *s), d) for k, (s, d) in jax_samples.FIELDS.items()}
    drawn = {n: set() for n in batch}
    for _ in range(200):
        for net, mix in mixes.items():
            idx, real_idx = mixing.draw(rng, mix, batch[net], filled=50)
            assert len(idx) + len(real_idx) == batch[net] and len(real_idx) == mix.per_batch
            drawn[net] |= set(real_idx.tolist())
            out = mixing.gather(rings, idx, real.samples, real_idx)
            assert out["image"].shape == (batch[net], 320, 320, 3)
            np.testing.assert_array_equal(out["hand"][len(idx) :], real.samples["hand"][real_idx])
    assert drawn["handsegnet"] == set(np.flatnonzero(real.mask_trusted).tolist())
    assert drawn["posenet"] == set(range(len(real))) and drawn["lifting"] == set()
    # no pack: renders only
    assert all(m.per_batch == 0 for m in mixing.plan(list(batch), batch, 0.5, None).values())
    with pytest.raises(ValueError, match="real_fraction"):
        mixing.plan(list(batch), batch, 1.5, real.mask_trusted)
