"""Readers of RHD, STB and the original's binary records (docs/original.md §8.1, §8.2, §8.4)."""

from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest
import scipy.io

from hand3d_tf import keypoints as kp
from hand3d_tf.data import records
from hand3d_tf.data.rhd import RHDReader, decode_depth, write_rhd_split
from hand3d_tf.data.samples import BadSampleError, build_source
from hand3d_tf.data.stb import STBReader
from hand3d_tf.safe_pickle import UnsafePickleError

RHD_K = np.array([[280.0, 0.0, 160.0], [0.0, 280.0, 160.0], [0.0, 0.0, 1.0]], np.float32)


def make_rhd_samples(n: int, seed: int = 0) -> list[dict]:
    """Consistent RHD-layout samples: uv = projection of xyz, masks painted around the
    keypoints of both hands with the dominant hand larger (even i: left, odd i: right);
    the last sample of n >= 4 has an empty mask (a tie, which must give right)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        xyz = np.zeros((42, 3), np.float32)
        for h in range(2):
            root = np.array(
                [rng.uniform(-0.06, 0.06), rng.uniform(-0.06, 0.06), rng.uniform(0.55, 0.8)]
            )
            xyz[21 * h : 21 * h + 21] = root + rng.normal(0.0, 0.035, (21, 3))
        hom = xyz.astype(np.float64) @ RHD_K.T
        uv = (hom[:, :2] / hom[:, 2:]).astype(np.float32)
        vis = rng.random(42) < 0.8
        vis[[12, 33]] = True
        image = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
        mask = np.zeros((320, 320), np.uint8)
        mask[:5, :5] = 1  # some "person" pixels: never a hand
        if not (n >= 4 and i == n - 1):
            big_left = i % 2 == 0
            for hand, cls in ((0, 5), (1, 20)):
                radius = 6 if (hand == 0) == big_left else 3
                for p in uv[21 * hand : 21 * hand + 21]:
                    cv2.circle(mask, (int(p[0]), int(p[1])), radius, cls, -1)
        out.append(
            dict(image=image, mask=mask, xyz=xyz, uv=uv, vis=vis, K=RHD_K.copy(), id=3 * i + 1)
        )
    return out


@pytest.fixture(scope="module")
def rhd_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rhd")
    samples = make_rhd_samples(6)
    write_rhd_split(root, "training", samples)
    return root, samples


def _clone(tmp_path, rhd_dir):
    """A private, modifiable copy of the module fixture."""
    root, samples = rhd_dir
    write_rhd_split(tmp_path, "training", samples)
    return tmp_path, samples


def test_rhd_reader_reads_back_what_was_written(rhd_dir):
    root, samples = rhd_dir
    reader = RHDReader(root, "training")
    assert len(reader) == len(samples)
    np.testing.assert_array_equal(reader.ids, [s["id"] for s in samples])
    for i in (0, 3):
        got = reader.sample(i)
        np.testing.assert_array_equal(got["image"], samples[i]["image"])
        np.testing.assert_array_equal(got["mask"], samples[i]["mask"])
        np.testing.assert_allclose(got["xyz"], samples[i]["xyz"])
        np.testing.assert_allclose(got["uv"], samples[i]["uv"])
        np.testing.assert_array_equal(got["vis"], samples[i]["vis"])
        np.testing.assert_allclose(got["K"], RHD_K)
        assert got["id"] == samples[i]["id"]
    source = build_source(reader)
    assert source.image_hw == (320, 320) and source.root == kp.ROOT_WRIST and source.has_masks
    assert source.image_paths[2].endswith(os.path.join("training", "color", "00007.png"))


def test_rhd_depth_decoding(tmp_path, rhd_dir):
    root, _ = _clone(tmp_path, rhd_dir)
    rgb = np.zeros((320, 320, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = 100, 37  # (100 * 256 + 37) / 65535 * 5 m
    os.makedirs(root / "training" / "depth")
    cv2.imwrite(str(root / "training" / "depth" / "00001.png"), rgb[..., ::-1])
    depth = RHDReader(root, "training").sample(0, depth=True)["depth"]
    np.testing.assert_allclose(depth, (100 * 256 + 37) / 65535.0 * 5.0, rtol=1e-6)
    np.testing.assert_allclose(decode_depth(np.array([[[255, 255, 0]]])), 5.0, rtol=1e-6)


def _corrupt(root, samples):
    """Break four samples: missing image, truncated PNG, NaN xyz, wrong-shape K."""
    color = root / "training" / "color"
    os.remove(color / f"{samples[0]['id']:05d}.png")
    data = (color / f"{samples[1]['id']:05d}.png").read_bytes()
    (color / f"{samples[1]['id']:05d}.png").write_bytes(data[: len(data) // 2])
    anno_path = root / "training" / "anno_training.pickle"
    with open(anno_path, "rb") as f:
        anno = pickle.load(f)  # written by this test: trusted
    anno[samples[2]["id"]]["xyz"][4, 1] = np.nan
    anno[samples[3]["id"]]["K"] = np.eye(4)
    with open(anno_path, "wb") as f:
        pickle.dump(anno, f)
    return color, anno_path


def test_rhd_bad_samples_raise_naming_file_and_sample(tmp_path, rhd_dir):
    root, samples = _clone(tmp_path, rhd_dir)
    color, anno_path = _corrupt(root, samples)
    with pytest.raises(
        BadSampleError,
        match=rf"{samples[0]['id']:05d}\.png.*sample {samples[0]['id']}: file not found",
    ):
        RHDReader(root, "training")
    os.remove(anno_path)
    write_rhd_split(tmp_path / "b", "training", samples)
    (tmp_path / "b" / "training" / "color" / "00004.png").write_bytes(
        b"\x89PNG\r\n\x1a\nnot really"
    )
    with pytest.raises(BadSampleError, match=r"00004\.png, sample 4: not a complete PNG"):
        RHDReader(tmp_path / "b", "training")
    # Without the up-front check the decode itself names the file.
    reader = RHDReader(tmp_path / "b", "training", check_images="none")
    with pytest.raises(BadSampleError, match=r"00004\.png, sample 4: corrupt"):
        reader.sample(1)


def test_rhd_bad_annotations_raise_naming_file_and_sample(tmp_path, rhd_dir):
    root, samples = _clone(tmp_path, rhd_dir)
    anno_path = root / "training" / "anno_training.pickle"
    with open(anno_path, "rb") as f:
        anno = pickle.load(f)
    anno[samples[2]["id"]]["xyz"][4, 1] = np.nan
    with open(anno_path, "wb") as f:
        pickle.dump(anno, f)
    with pytest.raises(
        BadSampleError,
        match=rf"anno_training\.pickle, sample {samples[2]['id']}: 'xyz' has non-finite",
    ):
        RHDReader(root, "training")
    anno[samples[2]["id"]]["xyz"][4, 1] = 0.5
    anno[samples[3]["id"]]["uv_vis"] = np.zeros((21, 3))
    with open(anno_path, "wb") as f:
        pickle.dump(anno, f)
    with pytest.raises(
        BadSampleError,
        match=rf"sample {samples[3]['id']}: 'uv_vis' has shape \(21, 3\), expected \(42, 3\)",
    ):
        RHDReader(root, "training")


def test_rhd_skip_bad_counts_every_bad_sample(tmp_path, rhd_dir):
    root, samples = _clone(tmp_path, rhd_dir)
    _corrupt(root, samples)
    reader = RHDReader(root, "training", skip_bad=True)
    assert reader.num_skipped == 4 and len(reader) == 2
    assert {e.sample_id for e in reader.skipped} == {s["id"] for s in samples[:4]}
    np.testing.assert_array_equal(reader.ids, [samples[4]["id"], samples[5]["id"]])
    # A corrupt PNG found only at decode time is skipped and counted by iteration.
    root2, _ = _clone(tmp_path / "c", rhd_dir)
    (root2 / "training" / "mask" / "00004.png").write_bytes(b"garbage")
    reader = RHDReader(root2, "training", skip_bad=True, check_images="none")
    assert len(list(reader)) == 5 and reader.num_skipped == 1


def test_rhd_missing_and_empty_dirs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        RHDReader(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"{empty}.*holds nothing"):
        RHDReader(empty, "evaluation")
    with pytest.raises(ValueError, match="split must be one of"):
        RHDReader(empty, "test")
    (empty / "evaluation").mkdir()
    with open(empty / "evaluation" / "anno_evaluation.pickle", "wb") as f:
        pickle.dump({}, f)
    with pytest.raises(ValueError, match="no samples"):
        RHDReader(empty, "evaluation")


def test_rhd_annotation_pickle_cannot_run_code(tmp_path):
    (tmp_path / "training").mkdir()
    with open(tmp_path / "training" / "anno_training.pickle", "wb") as f:
        pickle.dump({0: os.system}, f)
    with pytest.raises(UnsafePickleError, match="anno_training.pickle"):
        RHDReader(tmp_path, "training")


def test_rhd_reader_refuses_a_folder_that_disagrees_with_its_manifest(tmp_path):
    # The failure guarded against: images of one run beside the labels of another were read
    # without complaint. A split written with a manifest is now checked against it.
    from hand3d_tf.data.manifest import InconsistentDatasetError
    from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset

    config = SyntheticConfig()
    for name, seed in (("a", 0), ("b", 1)):
        write_dataset(tmp_path / name, "training", config, seed=seed, count=3, progress=False)
    reader = RHDReader(tmp_path / "a", "training")
    assert len(reader) == 3 and reader.manifest["seed"] == 0
    assert reader.manifest["generator_version"] == config.generator_version
    split = tmp_path / "a" / "training"
    anno = split / "anno_training.pickle"
    anno_a = anno.read_bytes()
    anno.write_bytes((tmp_path / "b" / "training" / "anno_training.pickle").read_bytes())
    with pytest.raises(InconsistentDatasetError, match=rf"{split} is incomplete.*annotation"):
        RHDReader(tmp_path / "a", "training")
    anno.write_bytes(anno_a)
    (split / "color" / "00002.png").unlink()
    with pytest.raises(InconsistentDatasetError, match=rf"{split}.*3 samples but color/ holds 2"):
        RHDReader(tmp_path / "a", "training")
    (split / "manifest.json").write_text("{not json")
    with pytest.raises(InconsistentDatasetError, match="manifest.json: unreadable"):
        RHDReader(tmp_path / "a", "training")


# ------------------------------------------------------------------------------ STB
STB_K = np.array([[822.79041, 0, 318.47345], [0, 822.79041, 250.31296], [0, 0, 1]])


def write_stb_fixture(root, seq: str = "B1Counting", frames: int = 3, seed: int = 0, camera="BB"):
    """labels/<seq>_<camera>.mat with handPara [3, 21, frames] mm and images/<seq>/ PNGs."""
    rng = np.random.default_rng(seed)
    para = np.empty((3, 21, frames))
    para[:, :, :] = rng.normal(0, 30.0, (3, 21, frames))
    para[2] += 500.0
    os.makedirs(root / "labels", exist_ok=True)
    scipy.io.savemat(root / "labels" / f"{seq}_{camera}.mat", {"handPara": para})
    os.makedirs(root / "images" / seq, exist_ok=True)
    views = ("left", "right") if camera == "BB" else ("color",)
    for i in range(frames):
        for view in views:
            img = np.full((480, 640, 3), 10 * i, np.uint8)
            cv2.imwrite(str(root / "images" / seq / f"{camera}_{view}_{i}.png"), img)
    return para


def test_stb_bb_reordering_units_baseline_and_projection(tmp_path):
    para = write_stb_fixture(tmp_path, frames=3)
    reader = STBReader(tmp_path, sequences=("B1Counting",), camera="BB")
    assert len(reader) == 6 and reader.names[:2] == (
        "B1Counting/BB_left_0",
        "B1Counting/BB_right_0",
    )
    left, right = reader.sample(2), reader.sample(3)  # frame 1
    stb_order = para[:, :, 1].T  # [21, 3] mm in STB order
    # new[0] = old[0] (palm), new[i] = old[21 - i] (docs/original.md §8.4), mm -> m.
    expected = np.stack([stb_order[0]] + [stb_order[21 - i] for i in range(1, 21)]) / 1000.0
    np.testing.assert_allclose(left["xyz"], expected, rtol=1e-6)
    np.testing.assert_allclose(right["xyz"], expected - [0.120054, 0, 0], rtol=1e-6, atol=1e-7)
    # Thumb tip (RHD 1) is STB's last joint; little MCP (RHD 20) is STB's joint 1.
    np.testing.assert_allclose(left["xyz"][1], stb_order[20] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(left["xyz"][20], stb_order[1] / 1000.0, rtol=1e-6)
    for s in (left, right):
        hom = s["xyz"].astype(np.float64) @ STB_K.T
        np.testing.assert_allclose(s["uv"], hom[:, :2] / hom[:, 2:], rtol=1e-5)
        assert s["vis"].all() and s["hand_side"] == "left" and s["image"].shape == (480, 640, 3)
    assert left["image"][0, 0, 0] == 10
    source = build_source(reader)
    assert source.root == kp.ROOT_PALM and (source.hand_side == 0).all()
    assert not source.vis[:, 21:].any() and source.image_hw == (480, 640)


def test_stb_sk_uses_readme_intrinsics_and_extrinsics(tmp_path):
    para = write_stb_fixture(tmp_path, seq="B2Random", frames=2, camera="SK")
    reader = STBReader(tmp_path, sequences="B2Random", camera="SK")
    assert len(reader) == 2
    om = np.array([0.00531, -0.01196, 0.00301])
    theta = np.linalg.norm(om)
    k = om / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) * np.cos(theta) + np.sin(theta) * kx + (1 - np.cos(theta)) * np.outer(k, k)
    depth_xyz = para[:, :, 1].T[kp.STB_TO_RHD]
    colour = np.linalg.solve(rot, (depth_xyz - [-24.0381, -0.4563, -1.2326]).T).T / 1000.0
    np.testing.assert_allclose(reader.sample(1)["xyz"], colour, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(reader.K[0, 0], 607.92271)


def test_stb_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="camera must be one of"):
        STBReader(tmp_path, camera="XX")
    with pytest.raises(FileNotFoundError, match=r"B1Counting_BB\.mat"):
        STBReader(tmp_path, sequences=("B1Counting",))
    os.makedirs(tmp_path / "labels")
    scipy.io.savemat(tmp_path / "labels" / "B1Counting_BB.mat", {"handPara": np.zeros((3, 20, 2))})
    with pytest.raises(ValueError, match=r"B1Counting_BB\.mat: handPara has shape \(3, 20, 2\)"):
        STBReader(tmp_path, sequences=("B1Counting",))
    write_stb_fixture(tmp_path, frames=2)
    os.remove(tmp_path / "images" / "B1Counting" / "BB_right_1.png")
    with pytest.raises(
        BadSampleError, match=r"BB_right_1\.png, sample B1Counting/BB_right_1: file not found"
    ):
        STBReader(tmp_path, sequences=("B1Counting",))
    reader = STBReader(tmp_path, sequences=("B1Counting",), skip_bad=True)
    assert len(reader) == 3 and reader.num_skipped == 1


# -------------------------------------------------------------------------- records
def test_record_layouts_have_the_original_lengths():
    assert records.RHD_RECORD_DTYPE.itemsize == records.RHD_RECORD_BYTES == 410_520
    assert records.STB_RECORD_DTYPE.itemsize == records.STB_RECORD_BYTES == 922_104


def test_rhd_records_round_trip_and_byte_layout(tmp_path, rhd_dir):
    _, samples = rhd_dir
    path = tmp_path / "rhd_training.bin"
    assert records.write_rhd_records(path, samples[:3]) == 3
    raw = path.read_bytes()
    assert len(raw) == 3 * 410_520
    # Independent decode of record 1 at the byte offsets of docs/original.md §8.2.
    rec = raw[410_520 : 2 * 410_520]
    np.testing.assert_array_equal(
        np.frombuffer(rec[0:504], "<f4").reshape(42, 3), samples[1]["xyz"]
    )
    np.testing.assert_array_equal(
        np.frombuffer(rec[504:840], "<f4").reshape(42, 2), samples[1]["uv"]
    )
    np.testing.assert_array_equal(np.frombuffer(rec[840:876], "<f4").reshape(3, 3), RHD_K)
    assert rec[876:878] == b"\xff\xff"
    np.testing.assert_array_equal(
        np.frombuffer(rec[878:308_078], np.uint8).reshape(320, 320, 3), samples[1]["image"]
    )
    np.testing.assert_array_equal(
        np.frombuffer(rec[308_078:410_478], np.uint8).reshape(320, 320), samples[1]["mask"]
    )
    np.testing.assert_array_equal(np.frombuffer(rec[410_478:], np.uint8), samples[1]["vis"])
    opened = records.read_rhd_records(path)
    assert len(opened) == 3
    got = opened[2]
    for key in ("xyz", "uv", "K", "image", "mask", "vis"):
        np.testing.assert_array_equal(got[key], samples[2][key])
    src = build_source(opened)
    np.testing.assert_array_equal(src.xyz[1], samples[1]["xyz"])
    assert src.records_layout == "rhd" and src.has_masks


def test_records_reject_bad_sizes_naming_the_file(tmp_path):
    path = tmp_path / "broken.bin"
    path.write_bytes(b"\0" * (410_520 + 7))
    with pytest.raises(ValueError, match=r"broken\.bin: size 410527 bytes .* 410520"):
        records.read_rhd_records(path)
    with pytest.raises(ValueError, match=r"broken\.bin: size 410527 bytes .* 922104"):
        records.read_stb_records(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        records.read_rhd_records(tmp_path / "missing.bin")


def test_stb_records_convert_order_and_units(tmp_path):
    rng = np.random.default_rng(3)
    xyz_mm = rng.normal(0, 50, (2, 21, 3)).astype(np.float32)
    uvw = np.concatenate([rng.uniform(0, 600, (2, 21, 2)), np.ones((2, 21, 1))], -1).astype(
        np.float32
    )
    uvw[1, 5, 2] = 0.0
    images = rng.integers(0, 256, (2, 480, 640, 3), dtype=np.uint8)
    path = tmp_path / "stb_eval.bin"
    with open(path, "wb") as f:  # written by hand in the layout of docs/original.md §8.4
        for i in range(2):
            f.write(xyz_mm[i].tobytes() + uvw[i].tobytes() + images[i].tobytes())
    opened = records.read_stb_records(path)
    got = opened[1]
    np.testing.assert_allclose(got["xyz"][0], xyz_mm[1, 0] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(got["xyz"][1], xyz_mm[1, 20] / 1000.0, rtol=1e-6)  # thumb tip
    np.testing.assert_allclose(got["uv"][4], uvw[1, 17, :2])  # thumb MCP = STB 17
    assert not got["vis"][21 - 5] and got["vis"].sum() == 20
    np.testing.assert_array_equal(got["image"], images[1])
    np.testing.assert_allclose(got["K"], STB_K, rtol=1e-6)
    # The writer inverts the conversion byte for byte.
    copy = tmp_path / "copy.bin"
    records.write_stb_records(copy, [opened[0], opened[1]])
    back = np.frombuffer(copy.read_bytes(), records.STB_RECORD_DTYPE)
    np.testing.assert_allclose(back["xyz"], xyz_mm, rtol=1e-6)
    np.testing.assert_array_equal(back["uvw"], uvw)
