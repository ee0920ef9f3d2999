"""Held-out curves of training runs (hand3d_tf.training.curves)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np

from hand3d_tf.training import curves
from hand3d_tf.training.trainer import train
from tests.test_training import smoke


def test_each_checkpoint_is_evaluated_once_and_plotted(tmp_path):
    run = tmp_path / "run"
    result = train(smoke("lifting", run, num_steps=4, checkpoint_every=2, evaluate=True))
    history = curves.evaluate_run(str(run), {}, max_samples=None)
    (entry,) = history.values()
    assert entry["net"] == "lifting" and entry["measure"] == "auc_20_50"
    assert sorted(entry["points"], key=int) == ["2", "4"]  # no init_weights: no step 0
    assert all(0.0 <= v <= 1.0 for v in entry["points"].values())
    # The last checkpoint holds the final weights: the same number as the run's final
    # evaluation, on the same measure.
    final = curves._measure(curves._config(str(run), None), result.evaluation)
    np.testing.assert_allclose(entry["points"]["4"], final, rtol=1e-6)
    again = curves.evaluate_run(str(run), json.loads(json.dumps(history)), max_samples=None)
    assert again == history
    png = tmp_path / "curves.png"
    curves.plot(history, [str(run)], str(png))
    assert png.stat().st_size > 1000


def test_second_stage_starts_with_its_init_weights(tmp_path):
    first = tmp_path / "stage1"
    train(smoke("posenet", first, num_steps=2, checkpoint_every=2, evaluate=False))
    second = tmp_path / "stage2"
    train(smoke("posenet", second, num_steps=2, checkpoint_every=2, evaluate=False,
                init_weights=str(first)))  # fmt: skip
    history = curves.evaluate_run(str(second), {}, max_samples=None)
    points = history[str(second)]["points"]
    assert sorted(points, key=int) == ["0", "2"]
    stage1 = curves.evaluate_run(str(first), {}, max_samples=None)[str(first)]["points"]
    # Step 0 of stage 2 is stage 1's end.
    np.testing.assert_allclose(points["0"], stage1["2"], rtol=1e-6)


def test_a_mixed_precision_run_is_evaluated_as_its_float32_weights(tmp_path):
    """The final evaluation of a bfloat16 run measures the weights it exports, as every later
    evaluation does (a checkpoint's curve point, hand3d-evaluate): in a float32 build. It
    used to evaluate the bfloat16 training model."""
    from hand3d_tf import weights as weight_io
    from hand3d_tf.training import inputs
    from hand3d_tf.training.final_eval import evaluate_and_write

    run = tmp_path / "run"
    config = smoke("lifting", run, num_steps=2, checkpoint_every=2, precision="mixed_bfloat16")
    result = train(config)
    exported = weight_io.load_model(result.weights_path)
    again = evaluate_and_write(config, exported, inputs.make_data(config).evaluation(), False)
    # The same float32 kernels on the same weights and inputs: equal to the last bit (the
    # bfloat16 evaluation differed by 2e-6 to 1e-5 relative, varying from run to run).
    for key in ("epe_mean", "epe_median"):
        assert again[key] == result.evaluation[key], key
    (entry,) = curves.evaluate_run(str(run), {}, max_samples=None).values()
    final = curves._measure(curves._config(str(run), None), result.evaluation)
    np.testing.assert_allclose(entry["points"]["2"], final, rtol=1e-6)


def test_mixed_runs_options_heldout_folder_every_init_and_real_measures(tmp_path):
    """The options of runs trained on mixed folders (issue 30): the held-out folder replaces
    the run's data, --every thins the checkpoints (the last one always kept), step 0 takes
    the named init file, and real-photo measures are stored per split and step, once."""
    from hand3d_tf import weights as weight_io
    from hand3d_tf.data.rhd import write_rhd_split
    from hand3d_tf.training import inputs
    from hand3d_tf.training.final_eval import evaluate_and_write
    from tests.test_data_readers import make_rhd_samples

    held = tmp_path / "held"
    for split in ("training", "evaluation"):
        write_rhd_split(held, split, make_rhd_samples(4, seed=3))  # training: unused
    first = tmp_path / "stage1"
    train(smoke("posenet", first, num_steps=1, checkpoint_every=1, evaluate=False))
    kept = tmp_path / "kept"  # stage 1's end, copied before its folder is overwritten
    shutil.copytree(first / "weights", kept)
    run = tmp_path / "run"
    result = train(smoke("posenet", run, num_steps=3, checkpoint_every=1, evaluate=False,
                         init_weights=str(first)))  # fmt: skip
    shutil.rmtree(first)

    class Probe:  # the RealProbe interface, counting its calls
        splits = {"photos": None}
        calls: list = []

        def measure(self, net, model):
            self.calls.append(net)
            total = float(sum(np.abs(w).sum() for w in model.get_weights()))
            return {"photos": {"full_pck": total, "posenet_box_pck": total, "mask_iou": None}}

    probe = Probe()
    stage1_weights = str(kept / "posenet.npz")
    history = curves.evaluate_run(str(run), {}, max_samples=None, heldout_dir=str(held),
                                  every=2, init_weights=stage1_weights, real=probe)  # fmt: skip
    entry = history[str(run)]
    assert sorted(entry["points"], key=int) == ["0", "2", "3"]  # 1 thinned out, 3 is the last
    assert sorted(entry["real"]["photos"], key=int) == ["0", "2", "3"]
    assert probe.calls == ["posenet"] * 3
    # Step 0 is the named file: the same weights as stage 1's end.
    stage1 = weight_io.load_model(stage1_weights)
    total = float(sum(np.abs(w).sum() for w in stage1.get_weights()))
    np.testing.assert_allclose(entry["real"]["photos"]["0"]["full_pck"], total, rtol=1e-6)
    # The last point is the exported weights measured on the held-out folder.
    config = dataclasses.replace(curves._config(str(run), None), data_dir=str(held))
    exported = weight_io.load_model(result.weights_path)
    final = evaluate_and_write(config, exported, inputs.make_data(config).evaluation(), False)
    np.testing.assert_allclose(entry["points"]["3"], curves._measure(config, final), rtol=1e-6)
    smoke_points = curves.evaluate_run(str(run), {}, max_samples=None, every=2,
                                       init_weights=stage1_weights)[str(run)]["points"]  # fmt: skip
    assert smoke_points["3"] != entry["points"]["3"]  # another data set, another number
    again = curves.evaluate_run(str(run), json.loads(json.dumps(history)), max_samples=None,
                                heldout_dir=str(held), every=2, real=probe)  # fmt: skip
    assert again == history and len(probe.calls) == 3  # nothing measured twice
    png = tmp_path / "curves.png"
    curves.plot(history, [str(run)], str(png))
    assert png.stat().st_size > 1000


def test_real_probe_split_names():
    assert curves._split_name("/tmp/real/phone_gestures/evaluation") == "phone_gestures"
    assert curves._split_name("/data/mine/") == "mine"
