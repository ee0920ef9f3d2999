"""The training library and hand3d-train (hand3d_tf/training, hand3d_tf/cli/train.py).

The library is called directly; hand3d-train runs once in a subprocess (a smoke run, then a
user error in the same folder).

Every run is a --smoke-sized net (width 1/16, 64-pixel images, 4 samples), so each train()
call costs about two seconds, mostly tracing.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from hand3d_tf.training import checkpoints as ckpt
from hand3d_tf.training import inputs, presets
from hand3d_tf.training.smoke_data import smoke_arrays
from hand3d_tf.training.trainer import NonFiniteLossError, OutputDirError, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke(net, out, **overrides):
    # Precision pinned: "auto" picks bfloat16 on some CPUs, and no test may depend on the
    # machine that runs it (tests about "auto" pass precision="auto").
    values = dict(output_dir=str(out), progress=False, precision="float32")
    values.update(overrides)
    variant = overrides.get("lifting_variant", "proposed")
    return presets.make_config(
        presets.default_preset(net, "synthetic", variant), smoke=True, **values
    )


def arrays(config):
    """In-memory smoke data (no pipelines): the fastest TrainData for a config."""
    x, y, truth = smoke_arrays(config.net, 4, config.image_size, config.seed)
    return inputs.array_data(x, y, truth, config.batch_size, config.seed)


def fast(config, **kwargs):
    return train(config, data=arrays(config), **kwargs)


def event_tags(folder) -> set:
    tags = set()
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            tags.update(v.tag for v in event.summary.value)
    return tags


@pytest.fixture
def restore_determinism():
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    yield
    if not was:
        tf_config.disable_op_determinism()


def _independent_eval(config, model) -> dict:
    """The final evaluation's main numbers, recomputed with NumPy from the model's outputs
    on the run's evaluation split (docs/original.md §7 protocols; HandSegNet: hand-class IoU)."""
    from hand3d_tf import glue

    batches = list(inputs.make_data(config).evaluation())
    x, truth = ({k: np.concatenate([b[i][k] for b in batches]) for k in batches[0][i]}
                for i in (0, 1))  # fmt: skip
    if config.net == "handsegnet":
        logits = np.asarray(model(x["image"], training=False))
        pred, gt = logits[..., 1] > logits[..., 0], truth["hand_mask"][..., 1] > 0.5
        return {"hand_iou": (pred & gt).sum() / (pred | gt).sum(),
                "pixel_accuracy": (pred == gt).mean(), "num_samples": len(gt)}  # fmt: skip
    if config.net == "posenet":
        maps = np.asarray(model(x["image"], training=False)[-1])
        rowcol, _ = glue.keypoints_from_scoremaps(maps, config.image_size)
        # Crop pixels back to source-image pixels.
        scale = truth["crop_scale"][:, None]
        err = np.linalg.norm(rowcol[..., ::-1] - truth["keypoints_uv_crop"], axis=-1) / scale
        vis = truth["keypoint_vis"].astype(bool)
    else:  # lifting3d: ground-truth root and bone 12-11, all 21 keypoints, mm
        xyz = truth["keypoints_xyz"].astype(np.float64)
        bone = np.linalg.norm(xyz[:, 12] - xyz[:, 11], axis=-1)[:, None, None]
        pred = np.asarray(model([x["scoremap"], x["hand_side"]], training=False)["xyz"])
        err = 1000 * np.linalg.norm(pred * bone - (xyz - xyz[:, :1]), axis=-1)
        vis = np.ones(err.shape, bool)
    per_keypoint = [err[vis[:, k], k] for k in range(err.shape[1]) if vis[:, k].any()]
    return {"epe_mean": np.mean([e.mean() for e in per_keypoint]),
            "epe_median": np.mean([np.median(e) for e in per_keypoint]),
            "num_samples": len(err)}  # fmt: skip


# ------------------------------------------------------------------ smoke runs
@pytest.mark.parametrize("net", ["handsegnet", "posenet", "lifting"])
def test_smoke_run_lowers_loss_and_writes_everything(net, tmp_path):
    from hand3d_tf import models, weights

    config = smoke(net, tmp_path)
    result = train(config)
    assert result.step == 6 and len(result.losses) == 6
    # Overfitting the same 4 samples: the loss on them (inference mode) must drop.
    assert result.probe_loss_end < 0.99 * result.probe_loss_start, result
    steps = [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")]
    assert steps == [3, 6]
    tags = event_tags(tmp_path / "logs")
    image_tag = {"handsegnet": "hand_probability", "posenet": "scoremap_pred",
                 "lifting": "input_scoremap"}[net]  # fmt: skip
    assert {"loss/loss", "learning_rate", image_tag} <= tags
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["net"] == net and saved["model"]["config"]["width"] == 0.0625
    evaluation = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert (tmp_path / "eval" / "eval.png").stat().st_size > 1000
    key = "hand_iou" if net == "handsegnet" else "auc"
    assert key in evaluation and evaluation["net"] == net
    # The numbers are those of the trained model on the held-out smoke split.
    for name, value in _independent_eval(config, result.model).items():
        assert evaluation[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
    # The exported weights rebuild the same network.
    arrays, config = weights.load_weights(result.weights_path)
    rebuilt = models.build(net, config)
    weights.assign_weights(rebuilt, arrays)
    for a, b in zip(rebuilt.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ resume
def test_kill_and_resume_reaches_the_same_weights(tmp_path, restore_determinism):
    common = dict(
        num_steps=6,
        checkpoint_every=2,
        learning_rates=(2e-3, 5e-4),
        lr_boundaries=(3,),
        deterministic=True,
        evaluate=False,
        image_every=100,
    )
    whole = fast(smoke("handsegnet", tmp_path / "whole", **common))

    def crash(step, _):
        if step == 5:
            raise RuntimeError("simulated kill at step 5")

    with pytest.raises(RuntimeError, match="simulated kill"):
        fast(smoke("handsegnet", tmp_path / "split", **common), on_step=crash)
    # Killed after step 5: the last checkpoint is step 4 (at most checkpoint_every lost).
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "split" / "checkpoints")] == [2, 4]
    resumed = fast(smoke("handsegnet", tmp_path / "split", resume=True, **common))
    assert resumed.start_step == 4 and resumed.step == 6
    # Same batches, same learning rate (the schedule crossed its boundary before the kill).
    np.testing.assert_allclose(resumed.losses, whole.losses[4:], rtol=1e-6)
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_resumed_pipeline_stream_continues_the_uninterrupted_one(tmp_path):
    # Deterministic mode: the stream from step k is the stream from 0 without k batches.
    config = smoke("lifting", tmp_path, deterministic=True, num_samples=3, batch_size=2)
    data = inputs.smoke_data(config)
    from_zero = list(data.train(0).take(4).as_numpy_iterator())
    from_two = list(data.train(2).take(2).as_numpy_iterator())
    for (x0, y0), (x2, y2) in zip(from_zero[2:], from_two):
        for key in x0:
            np.testing.assert_array_equal(x0[key], x2[key])
        np.testing.assert_array_equal(y0["xyz_normed"], y2["xyz_normed"])


def test_ctrl_c_writes_a_checkpoint_of_the_current_step(tmp_path):
    def interrupt(step, _):
        if step == 2:
            raise KeyboardInterrupt

    config = smoke("lifting", tmp_path, num_steps=6, checkpoint_every=5, evaluate=False)
    with pytest.raises(KeyboardInterrupt):
        fast(config, on_step=interrupt)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [2]


def test_interrupted_checkpoint_write_leaves_previous_loadable(tmp_path, monkeypatch):
    value = tf.Variable([1.0, 2.0])
    checkpoint = tf.train.Checkpoint(v=value)
    manager = ckpt.CheckpointManager(str(tmp_path), checkpoint, keep=2)
    first = manager.save(1, {"note": "good"})
    value.assign([5.0, 6.0])
    real_write = tf.train.Checkpoint.write

    def dies_midway(self, prefix, *args, **kwargs):
        real_write(self, prefix, *args, **kwargs)
        data = [f for f in os.listdir(os.path.dirname(prefix)) if ".data-" in f][0]
        with open(os.path.join(os.path.dirname(prefix), data), "r+b") as f:
            f.truncate(3)  # half-written data file
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(tf.train.Checkpoint, "write", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        manager.save(2)
    monkeypatch.setattr(tf.train.Checkpoint, "write", real_write)
    # A hard kill would also leave its temporary folder behind: never read, later removed.
    os.makedirs(tmp_path / ".tmp-ckpt-00000003-dead")
    assert manager.latest() == first
    assert manager.restore()["note"] == "good"
    np.testing.assert_array_equal(value.numpy(), [1.0, 2.0])
    manager.save(4)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    assert [s for s, _ in manager.checkpoints()] == [1, 4]


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    config = smoke("lifting", tmp_path, checkpoint_every=2, evaluate=False)
    x, y, truth = smoke_arrays("lifting", 4)
    bad = {k: np.full_like(v, np.nan) for k, v in y.items()}

    def stream(start_step):  # three good batches, then NaN targets
        good = inputs.array_stream(x, y, 4, 0, start_step).take(max(0, 3 - start_step))
        return good.concatenate(inputs.array_stream(x, bad, 4, 0))

    data = inputs.TrainData(train=stream, evaluation=None, num_train=4, description="nan")
    with pytest.raises(NonFiniteLossError, match="at step 4") as err:
        train(config, data=data)
    assert err.value.step == 4 and err.value.last_checkpoint.endswith("ckpt-00000002")
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [2]


@pytest.mark.parametrize("variant", ["bottleneck", "local_w_xyz_loss"])
def test_other_lifting_variants_train(variant, tmp_path):
    config = smoke("lifting", tmp_path, lifting_variant=variant, num_steps=2, progress=False)
    result = fast(config)
    assert all(np.isfinite(result.losses)) and result.evaluation["unit"] == "mm"
    names = {layer.name for layer in result.model.layers}
    assert ("fc_bottleneck" in names) == (variant == "bottleneck")


# ------------------------------------------------------------------ scale out
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from hand3d_tf.training.presets import make_config
    from hand3d_tf.training.strategy import make_strategy
    from hand3d_tf.training.trainer import train
    cfg = make_config(sys.argv[2], smoke=True, strategy="mirrored", num_steps=2,
                      output_dir=sys.argv[1], progress=False, evaluate=False, deterministic=True,
                      precision="float32", **json.loads(sys.argv[3]))
    r = train(cfg)
    replicas = make_strategy("mirrored").num_replicas_in_sync
    print("RESULT" + json.dumps({"losses": r.losses, "replicas": replicas}))
    """
)


def _start_script(script, *args, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def _script_result(proc: subprocess.Popen):
    stdout, stderr = proc.communicate(timeout=300)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT")]
    assert proc.returncode == 0 and lines, stderr[-3000:]
    return json.loads(lines[-1][len("RESULT") :])


def _run_script(script, *args, env=None):
    return _script_result(_start_script(script, *args, env=env))


def test_mirrored_two_cpu_devices_matches_single_device(tmp_path, restore_determinism):
    # A subprocess: logical devices must be configured before TensorFlow runs any op.
    # Step 1: the same loss on the same global batch, although each replica saw half of it
    # (the PoseNet loss divides by the visible count of the GLOBAL batch, the lifting loss
    # by the global batch size); step 2: the same loss again, so the summed replica
    # gradients made the single-device update. Lifting runs without dropout: the replicas'
    # dropout masks could not match the single device's. One process per net (a second
    # MirroredStrategy in one process reuses the first one's collective keys), started
    # together and overlapping the single-device runs.
    nets = {"posenet": {}, "lifting": {"lifting_dropout": False}}
    procs = {
        net: _start_script(MIRRORED_SCRIPT, str(tmp_path / "mirrored" / net),
                           presets.default_preset(net, "synthetic"), json.dumps(extra))
        for net, extra in nets.items()
    }  # fmt: skip
    single = {
        net: train(smoke(net, tmp_path / net, num_steps=2, evaluate=False,
                         deterministic=True, **extra)).losses
        for net, extra in nets.items()
    }  # fmt: skip
    for net, proc in procs.items():
        mirrored = _script_result(proc)
        assert mirrored["replicas"] == 2
        np.testing.assert_allclose(mirrored["losses"], single[net], rtol=1e-5, err_msg=net)


WORKER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from hand3d_tf.training.presets import make_config
    from hand3d_tf.training.trainer import train
    cfg = make_config("posenet_synthetic_compact", smoke=True, strategy=sys.argv[2], num_steps=2,
                      output_dir=sys.argv[1], progress=False, evaluate=False, deterministic=True,
                      precision="float32")
    print("RESULT" + json.dumps(train(cfg).losses))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two worker processes + a reference run: ~30 s on two cores
def test_multi_worker_two_processes_matches_single_device(tmp_path):
    cluster = {"worker": [f"localhost:{_free_port()}" for _ in range(2)]}
    procs = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / "mw"), "multi_worker"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
        ))  # fmt: skip
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT")]
        assert proc.returncode == 0 and lines, stderr[-3000:]
        results.append(json.loads(lines[-1][len("RESULT") :]))
    single = _run_script(WORKER_SCRIPT, str(tmp_path / "single"), "default")
    for losses in results:
        np.testing.assert_allclose(losses, single, rtol=1e-5)
    # Only the chief (worker 0) writes into the output directory.
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "mw" / "checkpoints")] == [2]


def test_mixed_precision_step_runs_and_restores_policy(tmp_path):
    from hand3d_tf.keras import keras

    result = fast(
        smoke("lifting", tmp_path, num_steps=2, precision="mixed_float16", evaluate=False)
    )
    assert all(np.isfinite(result.losses))
    assert keras.mixed_precision.global_policy().name == "float32"
    # The net computed in float16 with float32 variables.
    layer = result.model.get_layer("conv_pose_0_1")
    assert layer.compute_dtype == "float16" and layer.kernel.dtype == tf.float32


# ------------------------------------------------------------------ bad input
def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'nope'; choose one of .*posenet_rhd"):
        presets.make_config("nope")
    with pytest.raises(ValueError, match="unknown net 'foo'; choose one of handsegnet, posenet"):
        presets.TrainConfig(net="foo").validate()
    with pytest.raises(ValueError, match="unknown lifting_variant 'fancy'.*local_w_xyz_loss"):
        presets.TrainConfig(net="lifting", lifting_variant="fancy").validate()
    with pytest.raises(ValueError, match="unknown strategy 'tpu'.*multi_worker"):
        presets.TrainConfig(net="posenet", strategy="tpu").validate()
    with pytest.raises(ValueError, match="trains net='posenet' but net='lifting'"):
        presets.make_config("posenet_rhd", net="lifting")
    with pytest.raises(ValueError, match="one value more than lr_boundaries"):
        presets.make_config("posenet_rhd", learning_rates=(1e-4,), lr_boundaries=(5,))


def test_data_dir_without_samples_is_refused(tmp_path):
    (tmp_path / "training").mkdir()
    config = presets.make_config(
        "posenet_rhd", data_dir=str(tmp_path), output_dir=str(tmp_path / "o")
    )
    with pytest.raises(inputs.NoSamplesError, match=f"no training samples .*'rhd'.*{tmp_path}"):
        inputs.dataset_data(config)


def test_output_dir_of_another_run_is_refused(tmp_path):
    first = fast(smoke("lifting", tmp_path, num_steps=2, evaluate=False))
    assert first.step == 2
    with pytest.raises(
        OutputDirError, match="holds checkpoints of run lifting_synthetic_proposed.*--resume"
    ):
        fast(smoke("lifting", tmp_path, num_steps=4, evaluate=False))
    with pytest.raises(OutputDirError, match="width: saved 0.0625, requested 0.125"):
        fast(smoke("lifting", tmp_path, num_steps=4, width=0.125, resume=True, evaluate=False))
    with pytest.raises(OutputDirError, match="net: saved 'lifting', requested 'posenet'"):
        fast(smoke("posenet", tmp_path, num_steps=4, resume=True, evaluate=False))
    more = fast(smoke("lifting", tmp_path, num_steps=3, resume=True, evaluate=False))
    assert (more.start_step, more.step) == (2, 3)


# ------------------------------------------------------------------ init, presets, CLI
def test_init_weights_reports_loaded_layers(tmp_path):
    from hand3d_tf import models, weights
    from hand3d_tf.training.initialization import model_config

    config = smoke("posenet", tmp_path / "run", num_steps=1, evaluate=False)
    source = models.build("posenet", model_config(config))
    weights.save_weights(tmp_path / "w" / "posenet", source, model_config(config).to_dict())
    result = fast(dataclass_replace(config, init_weights=str(tmp_path / "w")))
    report = result.init_report
    assert report["kind"] == "weights_file" and report["not_loaded_layers"] == []
    assert "conv1_1" in report["loaded_layers"] and "conv7_7" in report["loaded_layers"]
    assert json.loads((tmp_path / "run" / "init_report.json").read_text()) == report
    exported = json.loads((tmp_path / "run" / "weights" / "posenet.json").read_text())
    assert exported["provenance"]["init_weights"] == str(tmp_path / "w")
    # Starting from those weights, the first step's loss is the source model's loss.
    assert result.probe_loss_start == pytest.approx(_probe(config, source), rel=1e-5)
    # A checkpoint of a run initialises too; a wider net does not fit and is refused.
    again = fast(
        smoke(
            "posenet",
            tmp_path / "run2",
            num_steps=1,
            evaluate=False,
            init_weights=str(tmp_path / "run" / "checkpoints"),
        )
    )
    assert again.init_report["kind"] == "checkpoint"
    assert again.probe_loss_start == pytest.approx(result.probe_loss_end, rel=1e-5)
    # A released-style pickle: original key names, plus a key of another net (ignored).
    released = dict(weights.model_weights(source), **{"PosePrior/fc_xyz/biases": np.zeros(63)})
    with open(tmp_path / "posenet-test.pickle", "wb") as f:
        pickle.dump({k: np.asarray(v) for k, v in released.items()}, f)
    third = fast(
        smoke("posenet", tmp_path / "run4", num_steps=1, evaluate=False,
              init_weights=str(tmp_path / "posenet-test.pickle"))
    )  # fmt: skip
    assert third.init_report["kind"] == "released_pickle"
    assert third.init_report["ignored_keys"] == ["PosePrior/fc_xyz/biases"]
    assert third.probe_loss_start == pytest.approx(result.probe_loss_start, rel=1e-5)
    with pytest.raises(weights.WeightMismatchError, match="conv1_1"):
        fast(
            smoke(
                "posenet",
                tmp_path / "run3",
                num_steps=1,
                width=0.125,
                init_weights=str(tmp_path / "w"),
            )
        )


def dataclass_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


def _probe(config, model):
    from hand3d_tf.training.step import compute_loss, forward

    x, y, _ = smoke_arrays("posenet", 4, config.image_size, config.seed)
    return float(compute_loss(config, forward(model, "posenet", x, False), y)["loss"])


def test_presets_follow_the_paper_and_released_behaviour():
    pn = presets.make_config("posenet_rhd")
    assert (pn.batch_size, pn.num_steps, pn.learning_rates, pn.lr_boundaries) == (
        8,
        30_000,
        (1e-4, 1e-5, 1e-6),
        (10_000, 20_000),
    )  # docs/original.md §9
    hs = presets.make_config("handsegnet_rhd")
    assert (hs.num_steps, hs.learning_rates, hs.lr_boundaries) == (
        40_000,
        (1e-5, 1e-6, 1e-7),
        (20_000, 30_000),
    )
    lift = presets.make_config("lifting_rhd_proposed")
    assert (lift.num_steps, lift.lr_boundaries, lift.effective_dropout()) == (
        80_000,
        (60_000,),
        True,
    )
    released = presets.make_config("lifting_rhd_proposed", released_behaviour=True)
    assert released.effective_schedule() == ((1e-5,), ()) and not released.effective_dropout()
    from hand3d_tf.training.step import current_learning_rate

    # Piecewise-constant: the lifting rate switches when step > 60,000 (docs/original.md §9).
    assert current_learning_rate(lift, 60_000) == 1e-5
    assert current_learning_rate(lift, 60_001) == 1e-6
    assert current_learning_rate(released, 70_000) == 1e-5


def test_resolve_config_takes_the_preset_then_smoke_then_given_values(tmp_path):
    from hand3d_tf.training import launch

    out = str(tmp_path)
    # No preset: the paper recipe for net/dataset; with --smoke the compact synthetic one.
    assert launch.resolve_config("posenet", output_dir=out).preset == "posenet_rhd"
    lift = launch.resolve_config("lifting", dataset="stb", lifting_variant="direct")
    assert (lift.preset, lift.lifting_variant, lift.dataset) == ("lifting_stb_direct", "direct",
                                                                 "stb")  # fmt: skip
    smoked = launch.resolve_config("lifting", smoke=True, num_steps=2, output_dir=out)
    assert (smoked.preset, smoked.dataset, smoked.num_steps, smoked.width) == (
        "lifting_synthetic_proposed_compact", "synthetic", 2, 0.0625)  # fmt: skip
    # With a preset only given values override it.
    named = launch.resolve_config("lifting", preset="lifting_stb_bottleneck", smoke=True)
    assert (named.dataset, named.lifting_variant) == ("stb", "bottleneck")
    assert launch.resolve_config("posenet", preset="posenet_stb", dataset="rhd").dataset == "rhd"
    # A new list of rates replaces the whole schedule, unless boundaries come with it.
    assert launch.resolve_config("posenet", learning_rates=(1e-3,)).lr_boundaries == ()
    both = launch.resolve_config("posenet", learning_rates=(1e-3, 1e-4), lr_boundaries=(5,))
    assert (both.learning_rates, both.lr_boundaries) == ((1e-3, 1e-4), (5,))
    # Overrides of None keep the preset's value (a CLI passes every flag).
    assert launch.resolve_config("posenet", num_steps=None, width=None).num_steps == 30_000
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        launch.resolve_config("posenet", preset="nope")
    with pytest.raises(ValueError, match="preset 'posenet_rhd' trains net='posenet'"):
        launch.resolve_config("lifting", preset="posenet_rhd")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        launch.resolve_config("posenet", dataset="mnist")


def test_train_command_checks_its_flags_and_the_presets_table():
    from hand3d_tf.cli import train as train_cli
    from hand3d_tf.cli.errors import UserError
    from hand3d_tf.cli.train import TrainCommand
    from hand3d_tf.training import launch

    def command(**values):
        fields = dict.fromkeys(TrainCommand.__dataclass_fields__)
        return TrainCommand(**dict(fields, **values))

    with pytest.raises(UserError, match="--net is required: one of handsegnet, posenet, lifting"):
        command(list_presets=False)
    with pytest.raises(UserError, match="--learning_rates must be finite numbers > 0; received "
                       "0.001,-1"):  # fmt: skip
        command(net="posenet", learning_rates=(1e-3, -1.0))
    assert command(list_presets=True).net is None  # --list_presets needs no --net
    with pytest.raises(UserError, match="--learning_rates must be a comma-separated list of "
                       "numbers; received 1e-4,fast"):  # fmt: skip
        train_cli.numbers(["1e-4", "fast"], float, "learning_rates")
    table = launch.presets_table().splitlines()
    assert len(table) == len(presets.PRESETS)
    assert any(line.startswith("lifting_rhd_direct ") and "lr 1e-05,1e-06 at 60000" in line
               for line in table)  # fmt: skip


def test_sigterm_writes_a_checkpoint_and_restores_the_handler(tmp_path):
    import signal

    from hand3d_tf.training import launch

    def terminate(step, _):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    config = smoke("lifting", tmp_path, num_steps=6, checkpoint_every=5, evaluate=False)
    with pytest.raises(launch.Interrupted) as caught:
        launch.run(config, data=arrays(config), on_step=terminate)
    assert caught.value.signum == signal.SIGTERM
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [2]
    assert signal.getsignal(signal.SIGTERM) is before
    more = dataclass_replace(config, resume=True, num_steps=3)
    resumed = launch.run(more, data=arrays(more))
    assert (resumed.start_step, resumed.step) == (2, 3)
    assert "trained steps 2..3" in launch.describe(more, resumed)


def test_cli_in_a_subprocess_success_and_user_error(tmp_path):
    from tests.helpers import run_cli

    out = tmp_path / "cli"
    done = run_cli("train", "--net=lifting", "--smoke", f"--output_dir={out}", "--noprogress",
                   "--num_steps=2", "--precision=float32")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lifting_synthetic_proposed: trained steps 0..2" in done.stdout
    assert "evaluation: {'epe_mean'" in done.stdout
    assert (out / "weights" / "lifting.npz").is_file()
    # The same folder again without --resume: refused before TensorFlow loads.
    again = run_cli("train", "--net=lifting", "--smoke", f"--output_dir={out}")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert (
        again.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"hand3d-train: error: output dir {out} already holds checkpoints of run "
            "lifting_synthetic_proposed"
        )
    )
