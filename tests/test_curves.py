"""Held-out curves of training runs (hand3d_tf.training.curves)."""

from __future__ import annotations

import json

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
