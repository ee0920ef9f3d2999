"""Synthetic sequences (docs/data.md, "Sequences"): exact labels per frame, determinism,
smooth motion, exits, static hands, the written index and the RHD reader over it."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from hand3d_tf import keypoints as kp
from hand3d_tf.data import manifest
from hand3d_tf.data.rhd import RHDReader
from hand3d_tf.data.synthetic import (
    SequenceIndexError,
    SyntheticConfig,
    generate_sample,
    read_sequences,
    render_sequence,
    split_seed,
    write_dataset,
)
from tests.helpers import run_cli
from tests.test_synthetic import _read_rhd_split

# Small frames keep these tests fast; the geometry scales with the image side.
SIZE = 96
CONFIG = SyntheticConfig(image_size=SIZE)
HAND_CLASSES = ((kp.MASK_LEFT_FIRST, kp.MASK_LEFT_PALM), (kp.MASK_RIGHT_FIRST, kp.MASK_RIGHT_PALM))
# Sequences this long may leave the frame (sequence._EXIT_MIN_LENGTH is 30).
EXIT_LENGTH = 40


def _hand_pixels(mask: np.ndarray, hand: int) -> int:
    lo, hi = HAND_CLASSES[hand]
    return int(np.count_nonzero((mask >= lo) & (mask <= hi)))


@pytest.fixture(scope="module")
def short():
    return render_sequence(CONFIG, 3, 1, 8)


@pytest.fixture(scope="module")
def with_exit():
    """The first of a few sequences whose main hand leaves the frame (about half do)."""
    for index in range(10):
        frames = render_sequence(CONFIG, 2, index, EXIT_LENGTH)
        if not all(f["in_frame"] for f in frames):
            return frames
    pytest.fail("none of 10 sequences of 40 frames left the frame")


def test_frames_have_the_sample_keys_plus_frame_and_in_frame(short):
    single = generate_sample(CONFIG, 0, 0)
    assert len(short) == 8
    for t, frame in enumerate(short):
        assert set(frame) == set(single) | {"frame", "in_frame"}
        for key, value in single.items():
            assert frame[key].shape == value.shape and frame[key].dtype == value.dtype, key
        assert frame["frame"] == t and isinstance(frame["frame"], int)
        assert isinstance(frame["in_frame"], bool)
        assert set(np.unique(frame["uv_vis"][:, 2])) <= {0.0, 1.0}
        assert np.all((frame["depth"] > 0) & (frame["depth"] < 5.0))
    # One camera for the whole sequence.
    for frame in short[1:]:
        np.testing.assert_array_equal(frame["K"], short[0]["K"])


def test_labels_are_exact_in_every_frame(short, with_exit):
    total_visible = 0
    for frame in short + with_exit:
        xyz, K = frame["xyz"].astype(np.float64), frame["K"].astype(np.float64)
        front = xyz[:, 2] > 0
        uv = (xyz[front] @ K.T)[:, :2] / xyz[front, 2:3]
        np.testing.assert_allclose(frame["uv_vis"][front, :2], uv, atol=0.5)
        mask = np.pad(frame["mask"], 2)  # 2 px slack at the border, as test_synthetic.py
        for hand, (lo, hi) in enumerate(HAND_CLASSES):
            for u, v, vis in frame["uv_vis"][21 * hand : 21 * hand + 21]:
                if vis < 0.5:
                    continue
                total_visible += 1
                c, r = int(round(u)) + 2, int(round(v)) + 2
                patch = mask[r - 2 : r + 3, c - 2 : c + 3]
                assert np.any((patch >= lo) & (patch <= hi)), (frame["frame"], u, v)
    assert total_visible >= 5 * len(short)


def test_same_seed_same_frames_and_other_index_other_scene(short):
    again = render_sequence(CONFIG, 3, 1, 8)
    for a, b in zip(short, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = render_sequence(CONFIG, 3, 2, 2)
    assert not np.array_equal(other[0]["xyz"], short[0]["xyz"])


def test_motion_is_smooth_while_the_hand_stays():
    """Without an exit, no keypoint of a shown hand moves more than 8 % of the frame side
    between two frames (at most ~4 % was measured over 20 sequences of 60 frames)."""
    checked = 0
    for index in range(3):
        frames = render_sequence(CONFIG, 11, index, 30)
        if not all(f["in_frame"] for f in frames):
            continue
        checked += 1
        uv = np.stack([f["uv_vis"][:, :2] for f in frames])
        for hand in range(2):
            if _hand_pixels(frames[0]["mask"], hand) == 0:
                continue  # an absent hand
            step = np.linalg.norm(np.diff(uv[:, 21 * hand : 21 * hand + 21], axis=0), axis=2)
            assert step.max() < 0.08 * SIZE, step.max(axis=1)
            assert step.max() > 0.002 * SIZE  # it does move
    assert checked >= 1


def test_the_hand_leaves_the_frame_fully_and_comes_back(with_exit):
    inside = [f["in_frame"] for f in with_exit]
    assert inside[0]
    first_out = inside.index(False)
    back = inside.index(True, first_out)  # it returns (ValueError if it does not)
    main = [h for h in range(2) if _hand_pixels(with_exit[0]["mask"], h) > 0]
    for frame in with_exit[first_out:back]:
        # The main hand: shown in frame 0, now without a keypoint or a pixel in the image.
        gone = [
            h
            for h in main
            if _hand_pixels(frame["mask"], h) == 0
            and not frame["uv_vis"][21 * h : 21 * h + 21, 2].any()
        ]
        assert gone, frame["frame"]
    assert _hand_pixels(with_exit[back + 2]["mask"], gone[0]) > 0


def test_static_sequence_holds_the_pose_and_only_the_noise_changes():
    frames = render_sequence(CONFIG, 4, 0, 5, static=True)
    for frame in frames[1:]:
        for key in ("xyz", "uv_vis", "K", "mask", "depth"):
            np.testing.assert_array_equal(frame[key], frames[0][key], err_msg=key)
    assert not np.array_equal(frames[1]["color"], frames[0]["color"])  # sensor noise
    assert all(f["in_frame"] for f in frames)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="generator_version=1"):
        render_sequence(SyntheticConfig(generator_version=1), 0, 0, 4)
    with pytest.raises(ValueError, match="length must be >= 1; received 0"):
        render_sequence(CONFIG, 0, 0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        render_sequence(CONFIG, -1, 0, 4)


def test_written_sequences_do_not_depend_on_workers(tmp_path):
    config = SyntheticConfig(image_size=64)
    dirs = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        write_dataset(root, "evaluation", config, seed=5, count=3, workers=workers,
                      progress=False, sequence_length=4)  # fmt: skip
        dirs.append(root / "evaluation")
    files = sorted(p.relative_to(dirs[0]) for p in dirs[0].rglob("*") if p.is_file())
    assert len(files) == 3 * 12 + 3  # PNGs, pickle, manifest, sequences.json
    for rel in files:
        assert (dirs[0] / rel).read_bytes() == (dirs[1] / rel).read_bytes(), rel
    # Frame t of sequence s is sample s * 4 + t, with the labels render_sequence gives.
    data = _read_rhd_split(dirs[0], "evaluation")
    assert sorted(data) == list(range(12))
    frames = render_sequence(config, split_seed(5, "evaluation"), 2, 4)
    for t, frame in enumerate(frames):
        for key in ("xyz", "uv_vis", "K", "color", "mask"):
            np.testing.assert_array_equal(data[8 + t][key], frame[key], err_msg=key)
    index = read_sequences(dirs[0])
    assert [s["first_id"] for s in index] == [0, 4, 8]
    assert all(s["length"] == 4 and len(s["in_frame"]) == 4 for s in index)
    written = manifest.read_manifest(dirs[0])
    assert (written["count"], written["sequences"], written["sequence_length"]) == (12, 3, 4)


def test_another_sequence_length_is_another_dataset(tmp_path):
    config = SyntheticConfig(image_size=32)
    write_dataset(tmp_path, "training", config, 0, 2, progress=False, sequence_length=2)
    with pytest.raises(ValueError, match="overwrite"):
        write_dataset(tmp_path, "training", config, 0, 1, progress=False, sequence_length=4)
    with pytest.raises(ValueError, match="overwrite"):
        write_dataset(tmp_path, "training", config, 0, 4, progress=False)
    # The same dataset may be written again.
    write_dataset(tmp_path, "training", config, 0, 2, progress=False, sequence_length=2)


def test_read_sequences_names_the_file_when_missing_or_corrupt(tmp_path):
    split = tmp_path / "training"
    write_dataset(tmp_path, "training", SyntheticConfig(image_size=32), 0, 1, progress=False,
                  sequence_length=2)  # fmt: skip
    path = split / "sequences.json"
    good = path.read_text()
    path.write_text("{not json")
    with pytest.raises(SequenceIndexError, match=f"{path}: unreadable"):
        read_sequences(split)
    index = json.loads(good)
    index["sequences"][0]["in_frame"] = [True]
    path.write_text(json.dumps(index))
    with pytest.raises(SequenceIndexError, match="sequence 0 must be"):
        read_sequences(split)
    index["sequences"][0]["in_frame"] = [True, False]  # well-formed, but not what was written
    path.write_text(json.dumps(index))
    with pytest.raises(SequenceIndexError, match="not the sequence index the split's manifest"):
        read_sequences(split)
    path.unlink()
    with pytest.raises(SequenceIndexError, match=f"{path} does not exist"):
        read_sequences(split)


def test_cli_writes_sequences_the_rhd_reader_reads(tmp_path):
    out = run_cli("make_synthetic", f"--output_dir={tmp_path / 'd'}", "--num_train=2",
                  "--num_eval=1", "--sequence_length=3", "--seed=1")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "training: 2 sequences of 3 frames" in out.stdout
    for split, count in (("training", 2), ("evaluation", 1)):
        index = read_sequences(tmp_path / "d" / split)
        assert [(s["first_id"], s["length"]) for s in index] == [(3 * i, 3) for i in range(count)]
        reader = RHDReader(tmp_path / "d", split)
        assert len(reader) == 3 * count
        with open(tmp_path / "d" / split / f"anno_{split}.pickle", "rb") as f:
            assert sorted(pickle.load(f)) == list(range(3 * count))
        first = reader.sample(0)
        frames = render_sequence(SyntheticConfig(), split_seed(1, split), 0, 3)
        np.testing.assert_array_equal(first["image"], frames[0]["color"])
        np.testing.assert_array_equal(first["uv"], frames[0]["uv_vis"][:, :2])
    bad = run_cli("make_synthetic", f"--output_dir={tmp_path / 'e'}", "--sequence_length=5",
                  "--generator_version=1")  # fmt: skip
    assert bad.returncode == 2
    assert "--sequence_length=5 needs --generator_version=2" in bad.stderr
    assert not (tmp_path / "e").exists()
