"""Trivial baselines, the segmentation IoU protocol and the model card.

Fixtures: a synthetic RHD-layout folder (6 training + 4 evaluation samples, rendered by
hand3d_tf.data.synthetic), tiny-width (1/8) weights. References are NumPy computations
from the PNG files or from the tf.data evaluation pipeline's ground-truth fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil

import cv2
import numpy as np
import pytest

from hand3d_tf.evaluation import baselines, evaluate, model_card, predictors, sources
from hand3d_tf.evaluation import protocols as pr
from tests.helpers import run_cli

N_TRAIN, N_EVAL = 6, 4
WIDTH = 0.125
CONFIGS = {
    "handsegnet": {"width": WIDTH},
    "posenet": {"width": WIDTH},
    "lifting": {"width": WIDTH, "variant": "proposed"},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset

    root = tmp_path_factory.mktemp("syn")
    write_dataset(root, "training", SyntheticConfig(), seed=11, count=N_TRAIN, progress=False)
    write_dataset(root, "evaluation", SyntheticConfig(), seed=11, count=N_EVAL, progress=False)
    return root


@pytest.fixture(scope="module", autouse=True)
def replay_samples():
    """Build each tf.data evaluation pipeline once per module and replay its batches (the
    evaluation presets are deterministic; this only saves graph construction time)."""
    real_kp, real_seg, cache = sources.protocol_samples, sources.segmentation_samples, {}

    def keypoints(protocol, dataset, source, root="palm", batch_size=8):
        key = (protocol, source.name, len(source), root, batch_size)
        if key not in cache:
            batches, gt_index0 = real_kp(protocol, dataset, source, root, batch_size)
            cache[key] = (list(batches), gt_index0)
        return iter([dict(b) for b in cache[key][0]]), cache[key][1]

    def segmentation(source, batch_size=8):
        key = ("segmentation", source.name, len(source), batch_size)
        if key not in cache:
            cache[key] = list(real_seg(source, batch_size))
        return iter([dict(b) for b in cache[key]])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "protocol_samples", keypoints)
        patch.setattr(sources, "segmentation_samples", segmentation)
        yield


def _source(data_dir, split):
    return sources.open_source("synthetic", data_dir, split)


def _pipeline_batch(data_dir, split):
    """All samples of ``split`` as one evaluation_dataset batch (NumPy dict)."""
    from hand3d_tf.data import pipelines as pl

    cfg = pl.preset("posenet_rhd_eval", batch_size=16)
    (batch,) = list(pl.evaluation_dataset(_source(data_dir, split), cfg).as_numpy_iterator())
    return batch


@pytest.fixture(scope="module")
def train_batch(data_dir):
    return _pipeline_batch(data_dir, "training")


@pytest.fixture(scope="module")
def eval_batch(data_dir):
    return _pipeline_batch(data_dir, "evaluation")


@pytest.fixture(scope="module")
def stats(data_dir):
    return baselines.training_stats(data_dir, progress=False)


def _files(data_dir, split, kind):
    n = N_TRAIN if split == "training" else N_EVAL
    return [data_dir / split / kind / f"{i:05d}.png" for i in range(n)]


def _gt_masks(data_dir, split="evaluation"):
    return np.stack(
        [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 1 for p in _files(data_dir, split, "mask")]
    )


def _disc(area, hw):
    r, c = np.mgrid[: hw[0], : hw[1]]
    return (r - (hw[0] - 1) / 2) ** 2 + (c - (hw[1] - 1) / 2) ** 2 <= area / math.pi


def _iou(gt, pred):
    inter = np.sum(gt & pred, axis=(1, 2)).astype(float)
    union = np.sum(gt | pred, axis=(1, 2)).astype(float)
    return inter.sum() / union.sum(), np.mean(inter / union)


def _visible_mean(values, vis):
    """Mean over keypoints (with a visible entry) of the per-keypoint mean over visible."""
    per_kp = [values[vis[:, k], k].mean() for k in range(21) if vis[:, k].any()]
    return float(np.mean(per_kp))


def _reference_numbers(stats, batch):
    """NumPy EPE means of the keypoint baselines on the pipeline's ground truth."""
    uv_crop, vis, scale = batch["keypoints_uv_crop"], batch["keypoint_vis"], batch["crop_scale"]
    err_crop = np.linalg.norm(uv_crop - stats.crop_uv_mean, axis=-1) / scale[:, None]
    # pose2d_full: 320x320 -> 240x320, crop at the image centre (160, 160) of the source frame.
    centre_pred = (stats.crop_uv_mean - 128) / stats.crop_scale_mean + 160.0
    factor = np.array([1.0, 0.75])
    err_full = np.linalg.norm(batch["keypoints_uv"] * factor - centre_pred * factor, axis=-1)
    xyz = batch["keypoints_xyz"].astype(np.float64)
    bone = np.linalg.norm(xyz[:, 12] - xyz[:, 11], axis=-1)
    pred = stats.xyz_normed_mean[None] * bone[:, None, None]
    err_3d = 1000 * np.linalg.norm((xyz - xyz[:, :1]) - pred, axis=-1)
    return {
        pr.POSE2D_GT_CROP: _visible_mean(err_crop, vis),
        pr.POSE2D_FULL: _visible_mean(err_full, vis),
        pr.LIFTING3D: _visible_mean(err_3d, np.ones_like(vis)),
    }


# --- statistics -----------------------------------------------------------------------------


def test_stats_match_the_tf_pipeline(stats, train_batch, data_dir):
    assert stats.num_samples == N_TRAIN and stats.image_hw == (320, 320)
    areas = [
        np.count_nonzero(cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 1)
        for p in _files(data_dir, "training", "mask")
    ]
    assert stats.hand_area_mean == pytest.approx(np.mean(areas), abs=1e-9)
    uv_crop, vis = train_batch["keypoints_uv_crop"], train_batch["keypoint_vis"]
    # Per keypoint over visible entries; a keypoint never visible falls back to all entries.
    expected_uv = np.stack(
        [uv_crop[vis[:, k] if vis[:, k].any() else slice(None), k].mean(0) for k in range(21)]
    )
    np.testing.assert_allclose(stats.crop_uv_mean, expected_uv, atol=2e-3)
    assert stats.crop_scale_mean == pytest.approx(train_batch["crop_scale"].mean(), rel=1e-5)
    np.testing.assert_allclose(stats.xyz_normed_mean, train_batch["xyz_normed"].mean(0), atol=1e-5)
    # The hand choice and the crop centre match the pipeline's sample by sample.
    _, sides = baselines.mask_statistics(_source(data_dir, "training"))
    np.testing.assert_array_equal(sides, np.argmax(train_batch["hand_side"], axis=1))
    uv21 = train_batch["keypoints_uv"].astype(np.float64)
    centre, scale = baselines.ground_truth_crop(uv21, vis, (320, 320))
    np.testing.assert_allclose(centre, train_batch["crop_center"], atol=1e-3)
    np.testing.assert_allclose(scale, train_batch["crop_scale"], rtol=1e-5)


def test_disc_and_image_centre_pose(stats):
    disc = baselines.disc_mask(stats, (320, 320))
    np.testing.assert_array_equal(disc, _disc(stats.hand_area_mean, (320, 320)))
    radius = math.sqrt(stats.hand_area_mean / math.pi)
    assert abs(disc.sum() - stats.hand_area_mean) < 2 * math.pi * radius  # within a rim
    np.testing.assert_array_equal(disc, disc[::-1, ::-1])  # centred
    uv = baselines.image_centre_uv(stats, (240, 320))
    expected = ((stats.crop_uv_mean - 128) / stats.crop_scale_mean + 160.0) * [1.0, 0.75]
    np.testing.assert_allclose(uv, expected, atol=1e-9)


# --- segmentation ---------------------------------------------------------------------------


class _StandIn:
    """A HandSegNet stand-in: logits that reproduce given masks of the images it knows."""

    def __init__(self, images, masks):
        self.images = np.stack(images).astype(np.float32) / 255.0 - 0.5
        self.masks = masks

    def __call__(self, x, training=False):
        x = np.asarray(x)
        index = [int(np.argmin(np.abs(self.images - im).sum(axis=(1, 2, 3)))) for im in x]
        hand = self.masks[index].astype(np.float32)
        return np.stack([1.0 - hand, hand], axis=-1)


def _pipe(handsegnet):
    """A pipeline holding only a (stand-in) HandSegNet, as load_pipeline builds for the
    segmentation protocol."""
    from hand3d_tf.pipeline import ColorHandPose3D

    return ColorHandPose3D(handsegnet, None, None, None)


def test_segmentation_iou_against_numpy(data_dir, stats):
    gt = _gt_masks(data_dir)
    images = [cv2.imread(str(p))[..., ::-1] for p in _files(data_dir, "evaluation", "color")]
    shifted = np.roll(gt, 7, axis=2)
    # A disc of radius 150 px surely overlaps the hands (the real one may miss them all).
    big = dataclasses.replace(stats, hand_area_mean=math.pi * 150.0**2)
    by_name = {
        "oracle": predictors.make_predictor(pr.SEGMENTATION, _pipe(_StandIn(images, gt))),
        "shifted": predictors.make_predictor(pr.SEGMENTATION, _pipe(_StandIn(images, shifted))),
        "background": predictors.make_predictor(
            pr.SEGMENTATION, _pipe(_StandIn(images, gt & False))
        ),
        "baseline": baselines.make_predictor(pr.SEGMENTATION, stats),
        "big_disc": baselines.make_predictor(pr.SEGMENTATION, big),
    }
    source = _source(data_dir, "evaluation")
    out = sources.evaluate_source(pr.SEGMENTATION, "synthetic", source, by_name, batch_size=3)
    assert out["oracle"]["iou_total"] == 1.0 and out["oracle"]["iou_mean_per_image"] == 1.0
    assert out["background"]["iou_total"] == 0.0 and out["background"]["num_samples"] == N_EVAL
    discs = {"baseline": stats.hand_area_mean, "big_disc": big.hand_area_mean}
    for name, pred in [("shifted", shifted)] + [
        (k, _disc(a, (320, 320))) for k, a in discs.items()
    ]:
        total, per_image = _iou(gt, np.broadcast_to(pred, gt.shape))
        assert name == "baseline" or 0.0 < total < 1.0, name
        assert out[name]["iou_total"] == pytest.approx(total, abs=1e-12)
        assert out[name]["iou_mean_per_image"] == pytest.approx(per_image, abs=1e-12)


# --- keypoint baselines and the CLI ---------------------------------------------------------


def test_keypoint_baselines_against_numpy(data_dir, stats, eval_batch):
    expected = _reference_numbers(stats, eval_batch)
    source = _source(data_dir, "evaluation")
    for protocol, epe in expected.items():
        predictor = {"baseline": baselines.make_predictor(protocol, stats)}
        summary = sources.evaluate_source(protocol, "synthetic", source, predictor, batch_size=3)
        factor = 1000.0 if pr.KIND[protocol] == "3d" else 1.0
        assert summary["baseline"].epe_mean * factor == pytest.approx(epe, rel=1e-4), protocol


@pytest.fixture(scope="module")
def weights_dir(tiny_weights, tmp_path_factory):
    """A copy of the session's tiny weights: the model card writes expected_example.json
    into its weights folder."""
    copy = tmp_path_factory.mktemp("card") / "tiny"
    return shutil.copytree(tiny_weights(CONFIGS), copy)


def test_evaluate_segmentation(data_dir, stats, weights_dir, tmp_path):
    def segmentation(**kwargs):
        return evaluate.ProtocolRun(pr.SEGMENTATION, "synthetic", str(data_dir), batch_size=3,
                                    **kwargs)  # fmt: skip

    evaluate.evaluate_to_files(segmentation(predictor="baseline"), tmp_path)
    result = json.loads((tmp_path / "segmentation_synthetic_baseline.json").read_text())
    total, per_image = _iou(_gt_masks(data_dir), _disc(stats.hand_area_mean, (320, 320))[None])
    assert result["iou_total"] == pytest.approx(total, abs=1e-12)
    assert result["iou_mean_per_image"] == pytest.approx(per_image, abs=1e-12)
    assert result["num_samples"] == N_EVAL and result["predictor"] == "baseline"
    assert result["baseline"]["num_samples"] == N_TRAIN
    spec = predictors.WeightsSpec(weights_dir=str(weights_dir))
    evaluate.evaluate_to_files(segmentation(weights=spec), tmp_path, name="net")
    result = json.loads((tmp_path / "net.json").read_text())
    assert result["num_samples"] == N_EVAL and 0.0 <= result["iou_total"] <= 1.0
    with pytest.raises(ValueError, match="predictor must be one of"):
        segmentation(predictor="oracle")


def _card_config(weights_dir, data_dir, **kwargs):
    return model_card.ModelCardConfig(str(weights_dir), str(data_dir), **kwargs)


def test_model_card(data_dir, stats, eval_batch, weights_dir, tmp_path):
    from hand3d_tf import models

    out = tmp_path / "card.json"
    md = tmp_path / "README.md"
    md.write_text("# card\n<!-- results:begin -->\nold\n<!-- results:end -->\nkept\n"
                  "<!-- files:begin -->\nold\n<!-- files:end -->\n")  # fmt: skip
    image = tmp_path / "example.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 90, np.uint8))
    config = _card_config(weights_dir, data_dir, timing_runs=2, batch_size=3)
    returned = model_card.write_model_card(config, out, card=md, expected_example=image)
    text = md.read_text()
    assert "old" not in text and "kept" in text and text.startswith("# card")
    assert f"| `{weights_dir.name}/posenet.npz` | `" in text
    assert "| PoseNet 2D AUC 0-30 px (GT crop) |" in text
    expected = json.loads((weights_dir / "expected_example.json").read_text())
    assert len(expected["keypoints_uv"]) == 21 and "hand_found" in expected
    card = json.loads(out.read_text())
    assert card == json.loads(json.dumps(returned))
    for key in ("weights", "data_dir", "baseline_data_dir", "num_samples", "parameters",
                "weights_sha256", "timing", "baseline_stats", "table", "results"):  # fmt: skip
        assert key in card, key
    assert card["num_samples"] == N_EVAL and card["baseline_stats"]["num_samples"] == N_TRAIN
    assert set(card["results"]) == set(pr.ALL_PROTOCOLS)
    for name, net in CONFIGS.items():
        assert card["parameters"][name] == models.build(name, net).count_params()
    for name, digest in card["weights_sha256"].items():
        assert digest == hashlib.sha256((weights_dir / name).read_bytes()).hexdigest()
    assert len(card["weights_sha256"]) == 6
    assert card["timing"]["runs"] == 2 and card["timing"]["median_ms"] > 0
    assert len(card["table"]) == len(model_card.ROWS)
    for row in card["table"]:
        assert row["model"] is not None and row["baseline"] is not None, row
        assert (row["target_met"] is None) == (row["target"] is None)
    results = card["results"]
    total, _ = _iou(_gt_masks(data_dir), _disc(stats.hand_area_mean, (320, 320))[None])
    assert results["segmentation"]["baseline"]["iou_total"] == pytest.approx(total, abs=1e-12)
    for protocol, epe in _reference_numbers(stats, eval_batch).items():
        assert results[protocol]["baseline"]["epe_mean"] == pytest.approx(epe, rel=1e-4)
    assert (
        results["lifting3d"]["model"]["unit"] == "mm" and "auc_20_50" in results["full3d"]["model"]
    )


def test_model_card_errors(data_dir, weights_dir, tmp_path):
    md = tmp_path / "README.md"
    md.write_text("# no markers\n<!-- results:begin -->\n")
    with pytest.raises(ValueError, match="results:begin"):
        model_card.check_card(md)
    with pytest.raises(FileNotFoundError):
        model_card.check_card(tmp_path / "none.md")
    with pytest.raises(sources.InputError, match="none"):
        model_card.make_model_card(_card_config(weights_dir, tmp_path / "none"))
    with pytest.raises(sources.InputError, match="weights directory not found"):
        model_card.make_model_card(_card_config(tmp_path / "no_weights", data_dir))


def test_model_card_cli_in_a_subprocess_success_and_user_error(data_dir, weights_dir, tmp_path):
    md = tmp_path / "README.md"
    md.write_text("# no markers\n")
    common = [f"--weights={weights_dir}", f"--data_dir={data_dir}", "--max_samples=2",
              "--baseline_max_samples=2", "--batch_size=2", "--timing_runs=1"]  # fmt: skip
    bad = run_cli("model_card", *common, f"--card={md}", f"--output={tmp_path / 'bad.json'}")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.startswith("hand3d-model-card: error: --card: ")
        and "results:begin" in bad.stderr
    )
    assert md.read_text() == "# no markers\n" and not (tmp_path / "bad.json").exists()
    out = run_cli("model_card", *common, f"--output={tmp_path / 'card.json'}")
    assert out.returncode == 0, out.stderr[-3000:]
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["num_samples"] == 2 and card["baseline_stats"]["num_samples"] == 2
    assert "| PoseNet 2D AUC 0-30 px (GT crop) |" in out.stdout
