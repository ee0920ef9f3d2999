"""hand3d-evaluate --protocol: the four protocols wired to datasets and networks (docs/original.md §7).

The library (hand3d_tf.evaluation.evaluate) is called in-process; the CLI runs once in a
subprocess. Fixtures: 4 synthetic samples in the RHD layout (read as dataset rhd and
synthetic), 4 STB records built from them (palm root, 480x640), tiny-width (1/8) weights.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from hand3d_tf import geometry, safe_pickle
from hand3d_tf import keypoints as kp
from hand3d_tf.evaluation import evaluate, predictors, sources
from hand3d_tf.evaluation import metrics as ev
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.evaluation.sources import InputError
from tests.helpers import run_cli

N = 4
WIDTH = 0.125
CONFIGS = {
    "handsegnet": {"width": WIDTH},
    "posenet": {"width": WIDTH},
    "lifting": {"width": WIDTH, "variant": "proposed"},
}
# (protocol, dataset) runs; the data of each lives in a fixture below.
RUNS = [
    (pr.POSE2D_GT_CROP, "rhd"),
    (pr.POSE2D_FULL, "synthetic"),
    (pr.LIFTING3D, "rhd"),
    (pr.FULL3D, "stb"),
]


@pytest.fixture(scope="module")
def rhd_dir(tmp_path_factory):
    from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset

    root = tmp_path_factory.mktemp("rhd")
    write_dataset(root, "evaluation", SyntheticConfig(), seed=3, count=N, progress=False)
    return root


@pytest.fixture(scope="module")
def stb_bin(tmp_path_factory, rhd_dir):
    """STB records: each sample's first hand with its palm at index 0, random frames."""
    from hand3d_tf.data.records import STB_BB_K, write_stb_records
    from hand3d_tf.data.rhd import RHDReader
    from hand3d_tf.data.stb import project

    reader = RHDReader(rhd_dir, "evaluation")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(N):
        xyz = kp.wrist_to_palm(reader.xyz[i, :21])[0]
        xyz = xyz - xyz[:1] + np.array([0.0, 0.0, 0.5])  # 0.5 m in front of the camera
        samples.append({"xyz": xyz, "uv": project(xyz, STB_BB_K),
                        "image": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)})  # fmt: skip
    path = tmp_path_factory.mktemp("stb") / "stb_eval.bin"
    write_stb_records(path, samples)
    return path


@pytest.fixture(scope="module", autouse=True)
def replay_samples():
    """Build each tf.data evaluation pipeline once per module and replay its batches.

    The evaluation presets are deterministic, so a replay equals a rebuild; this only saves
    the graph construction (seconds per build on a loaded 2-core machine).
    """
    real, cache = sources.protocol_samples, {}

    def cached(protocol, dataset, source, root="palm", batch_size=8):
        key = (protocol, dataset, source.name, len(source), root, batch_size)
        if key not in cache:
            batches, gt_index0 = real(protocol, dataset, source, root, batch_size)
            cache[key] = (list(batches), gt_index0)
        batches, gt_index0 = cache[key]
        return iter([dict(b) for b in batches]), gt_index0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "protocol_samples", cached)
        yield


def _data(dataset, rhd_dir, stb_bin):
    return stb_bin if dataset == "stb" else rhd_dir


@pytest.fixture(scope="module")
def weights_dir(tiny_weights):
    return tiny_weights(CONFIGS)


def _run(protocol, dataset, data, weights=None, **kwargs):
    """A ProtocolRun with batch size 3 and, by default, the tiny weights folder."""
    spec = weights or predictors.WeightsSpec()
    return evaluate.ProtocolRun(protocol, dataset, str(data), weights=spec, batch_size=3, **kwargs)


def _evaluate(protocol, dataset, data, weights_dir, out, name=None, **kwargs):
    spec = predictors.WeightsSpec(weights_dir=str(weights_dir))
    run = _run(protocol, dataset, data, spec, **kwargs)
    paths = evaluate.evaluate_to_files(run, out, name)
    assert paths[0] == out / f"{name or run.name}.json"
    return json.loads(paths[0].read_text())


def _rhd_ground_truth(rhd_dir, wrist: bool):
    """uv [N, 21, 2], vis [N, 21] of the chosen hand, in NumPy from the files (docs/original.md §8.3):
    uv truncated, hand = more left-hand mask pixels (classes 2-17) than right, else right."""
    import cv2

    anno = safe_pickle.load(rhd_dir / "evaluation" / "anno_evaluation.pickle", what="test")
    uvs, viss = [], []
    for sid in sorted(anno):
        mask = cv2.imread(str(rhd_dir / "evaluation" / "mask" / f"{sid:05d}.png"), 0)
        left = np.sum((mask > 1) & (mask < 18)) > np.sum(mask > 17)
        hand = slice(0, 21) if left else slice(21, 42)
        uv = np.trunc(anno[sid]["uv_vis"][hand, :2]).astype(np.float64)
        vis = anno[sid]["uv_vis"][hand, 2] == 1
        if not wrist:
            uv, vis = kp.wrist_to_palm(uv, vis)
        uvs.append(uv)
        viss.append(vis)
    return np.stack(uvs), np.stack(viss)


# --- each protocol end to end with tiny networks ---------------------------------------------


@pytest.mark.parametrize("protocol,dataset", RUNS)
def test_evaluate_to_files_runs_each_protocol(
    protocol, dataset, rhd_dir, stb_bin, weights_dir, tmp_path
):
    r = _evaluate(protocol, dataset, _data(dataset, rhd_dir, stb_bin), weights_dir, tmp_path)
    is_3d = pr.KIND[protocol] == "3d"
    assert (r["protocol"], r["dataset"], r["unit"]) == (protocol, dataset, "mm" if is_3d else "px")
    assert r["num_samples"] == N and r["batch_size"] == 3
    assert r["weights"]["configs"][predictors.NETS_NEEDED[protocol][-1]]["width"] == WIDTH
    assert len(r["pck_curve"]) == 20 and r["thresholds"][-1] == pytest.approx(50 if is_3d else 30)
    assert np.isfinite(r["epe_mean"]) and 0 <= r["auc"] <= 1
    if protocol in (pr.LIFTING3D, pr.FULL3D):  # all 21 counted (lifting3d) / STB all visible
        assert r["per_keypoint_count"] == [N] * 21
    else:  # the visible keypoints of the chosen hand, palm as keypoint 0
        _, vis = _rhd_ground_truth(rhd_dir, wrist=False)
        assert r["per_keypoint_count"] == vis.sum(0).tolist()
    if is_3d:
        # 21.05 mm (docs/original.md §7)
        assert r["auc_subrange_from_mm"] == pytest.approx(50 * 8 / 19)
    if protocol in (pr.POSE2D_FULL, pr.FULL3D):
        assert r["frame_hw"] == [240, 320]
    assert (tmp_path / f"{protocol}_{dataset}_pck.png").read_bytes()[:4] == b"\x89PNG"


# --- oracle predictors: EPE 0 / AUC 1, and a known shift ------------------------------------


def _oracle(protocol, shift):
    """A predictor returning the ground truth moved by ``shift`` (5 px or 5 mm long)."""

    def predict(s):
        if protocol == pr.POSE2D_GT_CROP:  # crop frame: source-image px times the crop scale
            return s[pr.KEY_UV_CROP] + shift[:2] * s[pr.KEY_CROP_SCALE][:, None, None]
        if protocol == pr.POSE2D_FULL:
            return s[pr.KEY_UV] + shift[:2]
        xyz = s[pr.KEY_XYZ].astype(np.float64)
        bone = np.linalg.norm(xyz[:, 12] - xyz[:, 11], axis=-1)[:, None, None]
        return (xyz - xyz[:, :1] + shift) / bone

    return lambda _protocol, _pipe: predict


@pytest.mark.parametrize("protocol,dataset,root", [(*run, "palm") for run in RUNS]
                         + [(pr.POSE2D_FULL, "rhd", "wrist")])  # fmt: skip
def test_oracle_gives_zero_error_and_shift_gives_its_length(
    protocol, dataset, root, rhd_dir, stb_bin, weights_dir, tmp_path, monkeypatch
):
    data = _data(dataset, rhd_dir, stb_bin)
    is_3d = pr.KIND[protocol] == "3d"
    results = {}
    for length in (0.0, 5.0):  # 5 px, or 5 mm in metres
        shift = np.array([0.6, 0.8, 0.0]) * length * (1e-3 if is_3d else 1.0)
        monkeypatch.setattr(predictors, "make_predictor", _oracle(protocol, shift))
        results[length] = _evaluate(
            protocol, dataset, data, weights_dir, tmp_path, name=f"shift{length:g}", root=root
        )
    exact, moved = results[0.0], results[5.0]
    thresholds = np.linspace(0, 50 if is_3d else 30, 20)
    if not is_3d:
        assert exact["epe_mean"] == 0 and exact["epe_median"] == 0 and exact["auc"] == 1
    else:  # m -> mm round trip through the bone length leaves ~1e-14 mm
        assert exact["epe_mean"] == pytest.approx(0, abs=1e-9)
        np.testing.assert_array_equal(exact["pck_curve"][1:], 1.0)
    assert moved["epe_mean"] == pytest.approx(5.0, rel=1e-9)
    assert moved["epe_median"] == pytest.approx(5.0, rel=1e-9)
    expected_auc = (
        np.trapezoid((thresholds >= 5.0 - 1e-9).astype(float), thresholds) / thresholds[-1]
    )
    assert moved["auc"] == pytest.approx(expected_auc, abs=1e-9)
    assert moved["root"] == root


# --- what the samples hold, checked against NumPy from the files ----------------------------


@pytest.mark.parametrize("dataset,root", [("synthetic", "palm"), ("rhd", "wrist")])
def test_pose2d_full_samples_are_the_eval2d_frame(rhd_dir, dataset, root):
    import cv2

    source = sources.open_source(dataset, rhd_dir)
    samples, gt_index0 = sources.protocol_samples(pr.POSE2D_FULL, dataset, source, root, 3)
    batches = list(samples)
    assert gt_index0 == root and [len(b[pr.KEY_VIS]) for b in batches] == [3, 1]
    uv, vis = _rhd_ground_truth(rhd_dir, wrist=root == "wrist")
    got_uv = np.concatenate([b[pr.KEY_UV] for b in batches])
    np.testing.assert_allclose(got_uv, uv * [1.0, 0.75], atol=1e-4)  # v x 240/320
    np.testing.assert_array_equal(np.concatenate([b[pr.KEY_VIS] for b in batches]), vis)
    batch = batches[0]
    # Legacy resize 320 -> 240 rows: output row o samples source row 4o/3 (row 3 <- row 4).
    png = cv2.imread(str(rhd_dir / "evaluation" / "color" / "00000.png"))[..., ::-1]
    frame = png.astype(np.float32) / 255 - 0.5
    assert batch["image"].shape == (3, 240, 320, 3)
    np.testing.assert_allclose(batch["image"][0, 3], frame[4], atol=1e-6)
    np.testing.assert_allclose(batch["image"][0, 0], frame[0], atol=1e-6)


def test_full3d_stb_samples(stb_bin):
    from hand3d_tf.data.records import read_stb_records

    records = read_stb_records(stb_bin)
    samples, gt_index0 = sources.protocol_samples(
        pr.FULL3D, "stb", sources.open_source("stb", stb_bin), "palm", 3
    )
    batch = next(samples)
    assert gt_index0 == "palm" and batch["image"].shape == (3, 240, 320, 3)
    frame = records[1]["image"].astype(np.float32) / 255 - 0.5
    np.testing.assert_allclose(batch["image"][1], frame[::2, ::2], atol=1e-6)
    np.testing.assert_allclose(batch[pr.KEY_XYZ][1], records[1]["xyz"], atol=1e-7)
    np.testing.assert_array_equal(batch["hand_side"], [[1.0, 0.0]] * 3)  # always left


def test_max_samples_cuts_the_source_and_the_last_batch(rhd_dir):
    source = sources.open_source("rhd", rhd_dir)
    short = sources.take(source, 2)
    assert len(short) == 2 and short.image_paths == source.image_paths[:2]
    np.testing.assert_array_equal(short.xyz, source.xyz[:2])
    assert sources.take(source, 10) is source
    batches = [{pr.KEY_XYZ: np.zeros((3, 21, 3)) + np.arange(21)[:, None] * 0.01}] * 2
    s = pr.run_protocol(pr.LIFTING3D, batches, lambda b: b[pr.KEY_XYZ] * 0 + 1.0,
                        pr.ProtocolConfig(gt_index0="palm", max_samples=4, progress=False))  # fmt: skip
    assert s.num_samples == 4  # 3 + the first of the second batch


# --- the real predictors with stand-in networks ---------------------------------------------


class _StandIn:
    """A "network" returning fixed outputs, called like a Keras model."""

    def __init__(self, output=None):
        self.output = output

    def __call__(self, inputs, training=False):
        return self.output


def test_gt_crop_predictor_reads_argmax_of_legacy_upsampled_maps():
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 32, (2, 21, 2))  # (row, col) per keypoint
    maps = np.zeros((2, 32, 32, 21), np.float32)
    for b, k in np.ndindex(2, 21):
        maps[b, cells[b, k, 0], cells[b, k, 1], k] = 1.0
    pipe = predictors.ColorHandPose3D(None, _StandIn([maps * 0, maps * 0, maps]), None, None)
    uv = predictors.make_predictor(pr.POSE2D_GT_CROP, pipe)(
        {"image_crop": np.zeros((2, 256, 256, 3))}
    )
    np.testing.assert_array_equal(uv, 8 * cells[..., ::-1])  # legacy: cell p -> pixel 8p


def test_run_pipeline_matches_color_hand_pose_3d_predict(weights_dir):
    from hand3d_tf.glue import normalize_image

    pipe = predictors.load_pipeline(pr.FULL3D, predictors.WeightsSpec(str(weights_dir)))
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)
    sides = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    uv, xyz = predictors.run_pipeline(pipe, normalize_image(images), sides)
    reference = pipe.predict(images, hand_side=sides)
    np.testing.assert_allclose(uv, reference.keypoints_uv, atol=1e-9)
    np.testing.assert_allclose(xyz, reference.keypoints_xyz, atol=1e-6)


@pytest.mark.parametrize("variant", ["local", "proposed"])
def test_lifting_predictor_on_ground_truth_outputs(rhd_dir, variant):
    """A lifting stand-in returning the GT (bone-local for 'local'): EPE 0 through the real
    predictor (inverse bone transform for local) and the 3-D alignment."""
    net = _StandIn()
    pipe = predictors.ColorHandPose3D(None, None, net, None)
    predictor = predictors.make_predictor(pr.LIFTING3D, pipe)
    source = sources.open_source("rhd", rhd_dir)
    samples, gt_index0 = sources.protocol_samples(pr.LIFTING3D, "rhd", source, "palm", 3)
    evaluator = ev.KeypointEvaluator()
    for s in samples:
        xyz = s[pr.KEY_XYZ].astype(np.float64)
        normed = (xyz - xyz[:, :1]) / np.linalg.norm(xyz[:, 12] - xyz[:, 11], axis=-1)[
            :, None, None
        ]
        net.output = (
            {"local": geometry.bone_relative(normed)} if variant == "local" else {"xyz": normed}
        )
        config = pr.ProtocolConfig(gt_index0=gt_index0)
        evaluator.feed(*pr.prepare(pr.LIFTING3D, s, predictor(s), config))
    summary = evaluator.summary(*ev.PRESET_3D)
    # lift() returns float32: ~1e-9 m of rounding.
    assert summary.num_samples == N and summary.epe_mean < 1e-7


def test_lifting_variant_from_pickle_name(rhd_dir, tmp_path):
    """A released-style lifting-direct.pickle (full size): variant from the file name."""
    from hand3d_tf import models, weights

    path = tmp_path / "lifting-direct.pickle"
    values = weights.model_weights(models.build("lifting", {"variant": "direct"}))
    path.write_bytes(pickle.dumps(values, protocol=2))
    out = tmp_path / "out"
    spec = predictors.WeightsSpec(lifting_pickle=str(path))
    evaluate.evaluate_to_files(_run(pr.LIFTING3D, "rhd", rhd_dir, spec), out)
    r = json.loads((out / "lifting3d_rhd.json").read_text())
    assert r["weights"] == {"format": "original pickles", "lifting_variant": "direct",
                            "lifting": str(path)}  # fmt: skip
    assert r["num_samples"] == N


# --- errors -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, weights_dir):
    from hand3d_tf import models, weights

    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    (root / "no_samples" / "evaluation").mkdir(parents=True)
    (root / "no_samples" / "evaluation" / "anno_evaluation.pickle").write_bytes(pickle.dumps({}))
    # posenet.json says width 0.25, the npz holds a width-1/8 net.
    mismatch = root / "mismatch"
    weights.save_weights(mismatch / "posenet", models.build("posenet", CONFIGS["posenet"]),
                         {"width": 0.25})  # fmt: skip
    return root


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"protocol": "eval9d"}, "protocol must be one of"),
        ({"protocol": "full3d", "dataset": "nyu"}, "dataset must be one of"),
        ({"protocol": "full3d", "split": "test"}, "split must be one of"),
        ({"protocol": "full3d", "predictor": "oracle"}, "predictor must be one of"),
    ],
)
def test_run_values_are_checked(kwargs, match, rhd_dir):
    with pytest.raises(ValueError, match=match):
        evaluate.ProtocolRun(data_dir=str(rhd_dir), **kwargs)


@pytest.mark.parametrize(
    "protocol,dataset,data,weights,root,match",
    [
        ("pose2d_full", "rhd", "{bad}/empty", None, "palm", "{bad}/empty"),
        ("pose2d_full", "rhd", "{bad}/no_samples", None, "palm", "no samples"),
        ("pose2d_gt_crop", "rhd", "{rhd}", {"weights_dir": "{bad}/mismatch"}, "palm",
         "do not fit the model"),
        ("lifting3d", "rhd", "{rhd}", None, "wrist", "only supported by"),
        ("pose2d_full", "stb", "{stb}", None, "wrist", "no wrist"),
        ("lifting3d", "rhd", "{rhd}", {"lifting_variant": "local"}, "palm",
         "holds variant 'proposed'"),
        ("pose2d_full", "rhd", "{rhd}", {"posenet_pickle": "{bad}/x.pickle"}, "palm",
         "needs \\['handsegnet_pickle'\\]"),
        ("segmentation", "stb", "{stb}", None, "palm", "needs hand masks"),
    ],
)  # fmt: skip
def test_input_errors_name_the_file_and_the_rule(
    protocol, dataset, data, weights, root, match, bad_inputs, rhd_dir, stb_bin, weights_dir
):
    paths = {"bad": bad_inputs, "rhd": rhd_dir, "stb": stb_bin}
    spec = {"weights_dir": str(weights_dir)}
    spec.update({k: v.format(**paths) for k, v in (weights or {}).items()})
    if "posenet_pickle" in spec:
        del spec["weights_dir"]
    run = _run(protocol, dataset, data.format(**paths), predictors.WeightsSpec(**spec), root=root)
    with pytest.raises(InputError, match=match.format(**paths)):
        evaluate.evaluate_protocol(run)


def test_weights_spec_errors():
    with pytest.raises(ValueError, match="not both"):
        predictors.WeightsSpec(weights_dir="w", posenet_pickle="x.pickle")
    with pytest.raises(ValueError, match="lifting_variant must be one of .*'proposed', 'direct'"):
        predictors.WeightsSpec(lifting_variant="deep")


def test_cli_in_a_subprocess_success_and_user_error(rhd_dir, weights_dir, tmp_path):
    args = ["--protocol=lifting3d", "--dataset=rhd", f"--data_dir={rhd_dir}", "--batch_size=3",
            f"--weights={weights_dir}", f"--output_dir={tmp_path}"]  # fmt: skip
    out = run_cli("evaluate", *args)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads((tmp_path / "lifting3d_rhd.json").read_text())
    assert r["num_samples"] == N and r["weights"]["configs"]["lifting"]["width"] == WIDTH
    assert "EPE median" in out.stdout
    bad = run_cli("evaluate", *args, "--root=wrist", "--name=never")
    assert bad.returncode == 2, bad.stderr[-3000:]
    lines = [line for line in bad.stderr.splitlines() if line.startswith("hand3d-evaluate:")]
    assert len(lines) == 1 and "only supported by" in lines[0] and "Traceback" not in bad.stderr
    assert not (tmp_path / "never.json").exists()


def test_weight_pickle_of_another_width_names_the_mismatch(rhd_dir, tmp_path):
    from hand3d_tf import models, weights

    path = tmp_path / "posenet-rhd-stb.pickle"
    path.write_bytes(pickle.dumps(weights.model_weights(models.build("posenet", {"width": WIDTH}))))
    spec = predictors.WeightsSpec(posenet_pickle=str(path))
    with pytest.raises(weights.WeightMismatchError, match="shape conflicts .*PoseNet2D/conv1_1"):
        predictors.load_pipeline(pr.POSE2D_GT_CROP, spec)
