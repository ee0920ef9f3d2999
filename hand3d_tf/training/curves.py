"""Held-out curves of a training run: each checkpoint evaluated as the run's final evaluation.

    python -m hand3d_tf.training.curves --runs=RUN1[,RUN2,...] --history=curves.json \
        [--max_samples=200] [--plot=curves.png]

Evaluates every checkpoint of each run (``<run>/checkpoints/ckpt-*``) that ``--history``
does not hold yet, plus step 0 (the run's ``init_weights``, or its random init), on the
run's held-out split (the ``evaluation`` split of the run's ``data_dir``; the first
``--max_samples``), with the same measure as the run's final evaluation
(training/final_eval.py: HandSegNet hand IoU on 256x256 crops, PoseNet 2D AUC 0-30 px on
ground-truth crops, lifting 3D AUC 20-50 mm), and appends the numbers to ``--history``.
Runs given in order are stages of one model (each continued from the previous one's
weights): the plot puts them end to end, stage k starting where stage k-1 stopped.
The trainer keeps its last few checkpoints only, so run this while training runs (e.g.
every 20 minutes) to keep the earlier points.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from hand3d_tf.atomic import atomic_write

MEASURE = {"handsegnet": "hand_iou", "posenet": "auc", "lifting": "auc_20_50"}


def _config(run_dir: str, max_samples: int | None):
    from hand3d_tf.training import presets

    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)["train"]
    saved = dict(saved, eval_max_samples=max_samples, output_dir=run_dir, resume=False)
    return presets.TrainConfig.from_dict(saved)


def _measure(config, result: dict) -> float:
    if config.net == "lifting":
        from hand3d_tf.evaluation import metrics as ev

        # The original's "20-50 mm" sub-range (thresholds from index 8, docs/original.md §7).
        start = ev.STB_SUBRANGE_START
        thresholds = np.asarray(result["thresholds"], np.float64)[start:]
        return float(ev.pck_auc(thresholds, np.asarray(result["pck_curve"], np.float64)[start:]))
    return float(result[MEASURE[config.net]])


def evaluate_run(run_dir: str, history: dict, max_samples: int | None = 200) -> dict:
    """Evaluate the not-yet-evaluated checkpoints of ``run_dir``; returns the updated history
    {run_dir: {"net": ..., "measure": ..., "points": {step: value}}}."""
    import tensorflow as tf

    from hand3d_tf.training import checkpoints as ckpt
    from hand3d_tf.training import inputs
    from hand3d_tf.training.final_eval import evaluate_and_write
    from hand3d_tf.training.initialization import build_model, initialize

    config = _config(run_dir, max_samples)
    entry = history.setdefault(
        os.path.abspath(run_dir), {"net": config.net, "measure": MEASURE[config.net], "points": {}}
    )
    points = entry["points"]
    todo = [(0, None)] if "0" not in points else []
    todo += [
        (step, folder)
        for step, folder in ckpt.list_checkpoints(os.path.join(run_dir, ckpt.CHECKPOINT_SUBDIR))
        if str(step) not in points
    ]
    if not todo:
        return history
    data = inputs.make_data(config)
    model = build_model(config)
    for step, folder in todo:
        if folder is None:
            if not config.init_weights:
                continue
            initialize(model, config.net, config.init_weights)
        else:
            try:
                tf.train.Checkpoint(model=model).restore(
                    ckpt.checkpoint_prefix(folder)
                ).expect_partial()
            except tf.errors.NotFoundError:
                # The running trainer rotated it away since it was listed.
                print(f"{run_dir} step {step}: checkpoint removed meanwhile, skipped", flush=True)
                continue
        result = evaluate_and_write(config, model, data.evaluation(), chief=False)
        points[str(step)] = _measure(config, result)
        print(f"{run_dir} step {step}: {entry['measure']} {points[str(step)]:.4f}", flush=True)
    return history


def plot(history: dict, runs: list, path: str) -> None:
    """One panel per net; the runs of a net placed end to end in the order given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    by_net: dict = {}
    for run in runs:
        entry = history.get(os.path.abspath(run))
        if entry:
            by_net.setdefault(entry["net"], []).append((run, entry))
    fig = Figure(figsize=(4.2 * max(1, len(by_net)), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    for i, (net, stages) in enumerate(sorted(by_net.items())):
        ax = fig.add_subplot(1, len(by_net), i + 1)
        offset = 0
        for run, entry in stages:
            steps = sorted(int(s) for s in entry["points"])
            values = [entry["points"][str(s)] for s in steps]
            ax.plot([offset + s for s in steps], values, marker="o", ms=3,
                    label=os.path.basename(run.rstrip("/")))  # fmt: skip
            offset += steps[-1] if steps else 0
        ax.set_title(f"{net}: {stages[0][1]['measure']} (held-out)", fontsize=9)
        ax.set_xlabel("steps in this model's stages")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="comma-separated run folders, in order")
    parser.add_argument("--history", required=True, help="JSON file read and updated")
    parser.add_argument("--max_samples", type=int, default=200)
    parser.add_argument("--plot", default=None, help="PNG of the curves")
    parser.add_argument("--no_eval", action="store_true", help="only plot the history")
    args = parser.parse_args(argv)
    runs = [r for r in args.runs.split(",") if r]
    history = {}
    if os.path.exists(args.history):
        with open(args.history) as f:
            history = json.load(f)
    if not args.no_eval:
        for run in runs:
            if not os.path.exists(os.path.join(run, "config.json")):
                parser.exit(2, f"error: {run!r} is not a training run (no config.json)\n")
            history = evaluate_run(run, history, args.max_samples)
            atomic_write(args.history, json.dumps(history, indent=1, sort_keys=True) + "\n")
    if args.plot:
        plot(history, runs, args.plot)


if __name__ == "__main__":
    main()
