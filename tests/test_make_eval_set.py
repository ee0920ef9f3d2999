"""hand3d-make-eval-set: the eval.npz the TF-free benchmark reads, checked field by field
against an independent NumPy re-derivation from the rendered synthetic samples (docs/original.md §6,
§8.3): hand choice, palm root, bone scale, uv truncation + frame resize, masks, and the
pooled Gaussian score maps. The library (hand3d_tf.evaluation.eval_set) is called in-process;
the CLI runs once in a subprocess for a success and once for a user error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hand3d_tf.evaluation import eval_set
from hand3d_tf.evaluation.sources import InputError
from hand3d_tf.lite.evalset import load_eval_set
from tests.helpers import run_cli

NUM = 3
SEED = 5


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The CLI's one successful run, in a subprocess (--input_size in its old spelling H,W)."""
    out = tmp_path_factory.mktemp("evalset") / "eval.npz"
    args = ["--dataset=synthetic", f"--num={NUM}", f"--seed={SEED}", "--input_size=240,320"]
    proc = run_cli("make_eval_set", *args, f"--output={out}", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}: {NUM} samples, frames 240x320" in proc.stdout
    return load_eval_set(out)


def _expected_samples():
    """The first NUM rendered samples with a visible chosen hand, derived in NumPy."""
    from hand3d_tf.data.synthetic.config import SyntheticConfig
    from hand3d_tf.data.synthetic.sample import generate_sample

    out, index = [], 0
    while len(out) < NUM:
        s = generate_sample(SyntheticConfig(), SEED, index)
        index += 1
        mask = s["mask"]
        left, right = np.sum((mask > 1) & (mask < 18)), np.sum(mask >= 18)
        side = 0 if left > right else 1  # ties and no hand -> right (docs/original.md §8.3 step 5)
        sl = slice(21 * side, 21 * side + 21)
        xyz, uv = s["xyz"][sl].astype(np.float64), np.trunc(s["uv_vis"][sl, :2]).astype(np.float64)
        vis = s["uv_vis"][sl, 2] > 0.5
        xyz[0], uv[0] = (xyz[0] + xyz[12]) / 2, (uv[0] + uv[12]) / 2  # palm centre
        vis[0] = vis[0] | vis[12]
        if vis.sum() < 1:
            continue
        out.append(
            {"color": s["color"], "mask": mask, "side": side, "xyz": xyz, "uv": uv, "vis": vis}
        )
    return out


def test_fields_match_numpy_rederivation(made):
    assert len(made) == NUM and made.input_size == (240, 320)
    assert made.meta["dataset"] == "synthetic" and made.meta["root"] == "palm"
    assert made.meta["seed"] == SEED and made.meta["has_mask"] is True
    for k, s in enumerate(_expected_samples()):
        frame = cv2.resize(s["color"], (320, 240), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(made["images"][k], frame)
        hands = cv2.resize(
            (s["mask"] > 1).astype(np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
        np.testing.assert_array_equal(made["gt_mask"][k], hands)
        np.testing.assert_array_equal(made["hand_side"][k], np.eye(2)[s["side"]])
        np.testing.assert_array_equal(made["gt_vis"][k], s["vis"])
        np.testing.assert_allclose(made["gt_uv"][k], s["uv"] * [1.0, 0.75], atol=1e-4)
        np.testing.assert_allclose(made["gt_xyz"][k], s["xyz"] - s["xyz"][0], atol=1e-6)
        scale = np.linalg.norm(s["xyz"][12] - s["xyz"][11])
        assert made["keypoint_scale"][k] == pytest.approx(scale, rel=1e-5)


def test_crop_uv_is_the_frame_uv_scaled_by_crop_scale(made):
    # Crop coordinates are (uv - centre) * scale + 128, so differences scale by crop_scale.
    src_uv = made["gt_uv"] / np.float32([1.0, 0.75])
    d_src = src_uv[:, 1:] - src_uv[:, :1]
    d_crop = made["crop_uv"][:, 1:] - made["crop_uv"][:, :1]
    np.testing.assert_allclose(d_crop, d_src * made["crop_scale"][:, None, None], atol=1e-3)
    assert np.all((made["crops"] >= -0.5) & (made["crops"] <= 0.5))


def test_scoremaps_are_pooled_gaussians_of_the_crop_uv(made):
    rows, cols = np.mgrid[0:256, 0:256].astype(np.float64)
    for k in range(NUM):
        maps = np.zeros((256, 256, 21))
        for j in range(21):
            c, r = np.trunc(made["crop_uv"][k, j].astype(np.float64))
            if made["gt_vis"][k, j] and 0 < r < 255 and 0 < c < 255:
                maps[..., j] = np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 25.0**2)
        pooled = maps.reshape(32, 8, 32, 8, 21).mean(axis=(1, 3))
        np.testing.assert_allclose(made["scoremaps"][k], pooled, atol=2e-6)
    assert made["scoremaps"].max() > 0.5  # at least one visible keypoint inside a crop


def test_cli_user_error_in_a_subprocess(tmp_path):
    proc = run_cli("make_eval_set", "--dataset=rhd", f"--output={tmp_path / 'x.npz'}", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("hand3d-make-eval-set: error: --dataset=rhd needs --data_dir")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dataset": "nyu"}, "dataset must be one of"),
        ({"split": "test"}, "split must be one of"),
        ({"input_hw": (16, 320)}, "both >= 32"),
        ({"num": -1}, "num must be >= 0"),
        ({"min_visible": -1}, "min_visible must be >= 0"),
        ({"dataset": "stb"}, "needs a data directory"),
    ],
)
def test_config_checks_its_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        eval_set.EvalSetConfig(**kwargs)


def test_cli_config_reads_both_size_spellings_and_names_the_flag():
    from hand3d_tf.cli.errors import UserError
    from hand3d_tf.cli.make_eval_set import MakeEvalSetConfig

    values = dict(dataset="synthetic", data_dir=None, split="evaluation", num=3, output="e.npz",
                  input_size="240x320", seed=0, min_visible=1)  # fmt: skip
    for spelling in ("240x320", "240,320"):
        config = MakeEvalSetConfig(**dict(values, input_size=spelling))
        assert config.eval_set().input_hw == (240, 320)
    for key, value, match in [("input_size", "240", "--input_size must be HxW"),
                              ("input_size", "16x320", "--input_size must be HxW with both"),
                              ("output", None, "--output is required"),
                              ("dataset", "stb", "--dataset=stb needs --data_dir")]:  # fmt: skip
        with pytest.raises(UserError, match=match):
            MakeEvalSetConfig(**dict(values, **{key: value}))


def test_unreadable_data_and_empty_selection_write_nothing(tmp_path):
    from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset

    out = tmp_path / "e.npz"
    with pytest.raises(InputError, match="none"):
        eval_set.make_eval_set(eval_set.EvalSetConfig("rhd", str(tmp_path / "none")), out)
    root = tmp_path / "syn"
    write_dataset(root, "evaluation", SyntheticConfig(), seed=SEED, count=2, progress=False)
    with pytest.raises(eval_set.EmptyEvalSetError, match=">= 22 visible keypoints"):
        eval_set.make_eval_set(eval_set.EvalSetConfig("rhd", str(root), min_visible=22), out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


def test_stb_eval_set_from_the_real_layout(tmp_path):
    """--dataset=stb on a fixture in STB's own layout (labels/*.mat, images/<seq>/*.png):
    both evaluation sequences, left hand side, palm-relative metres, uv halved with the frame."""
    from hand3d_tf.data.stb import STBReader
    from tests.test_data_readers import write_stb_fixture

    root = tmp_path / "stb"
    write_stb_fixture(root, seq="B1Counting", frames=2, seed=1)
    write_stb_fixture(root, seq="B1Random", frames=2, seed=2)
    out = tmp_path / "eval_stb.npz"
    config = eval_set.EvalSetConfig(dataset="stb", data_dir=str(root), num=0)
    path, count = eval_set.make_eval_set(config, out)
    made = load_eval_set(path)
    assert count == len(made)
    reader = STBReader(root)
    n = len(reader)
    assert n == 8 and made["images"].shape == (n, 240, 320, 3)
    assert made.meta["dataset"] == "stb" and made.meta["has_mask"] is False
    assert not made["gt_mask"].any()
    np.testing.assert_array_equal(made["hand_side"], [[1, 0]] * n)
    xyz = np.stack([reader.sample(i)["xyz"] for i in range(n)]).astype(np.float64)
    uv = np.stack([reader.sample(i)["uv"] for i in range(n)]).astype(np.float64)
    np.testing.assert_allclose(made["gt_xyz"], xyz - xyz[:, :1], atol=1e-6)
    np.testing.assert_allclose(made["gt_uv"], uv * 0.5, rtol=1e-5, atol=1e-4)
    assert made["gt_vis"].all()
    for i in range(n):  # the fixture's frames are flat grey 10 * frame index
        assert (made["images"][i] == 10 * ((i // 2) % 2)).all()
