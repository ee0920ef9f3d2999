"""Held-out curves of a training run: each checkpoint evaluated as the run's final evaluation.

    python -m hand3d_tf.training.curves --runs=RUN1[,RUN2,...] --history=curves.json \
        [--max_samples=200] [--plot=curves.png] [--every=1000] [--heldout_dir=DIR] \
        [--init_weights=RUN=FILE] [--real_splits=SPLIT1,SPLIT2 --base_weights=DIR]

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

Options for runs trained on mixed folders (synthetic renders + labelled photos, issue 30):
``--heldout_dir`` measures on that folder's ``evaluation`` split instead of the run's own
``data_dir``; ``--every`` keeps the checkpoints whose step is a multiple of it (and each
run's last); ``--init_weights=RUN=FILE`` names step 0's weights where the run's
``init_weights`` file has since been overwritten (e.g. the bundled default of an earlier
stage); ``--real_splits`` also measures HandSegNet and PoseNet checkpoints on real photos
(``hand3d-autolabel`` splits, evaluation/real_photos.py: full-pipeline and
PoseNet-on-the-true-box PCK@0.2, mask IoU), the other two nets from ``--base_weights``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import numpy as np

from hand3d_tf.atomic import atomic_write

MEASURE = {"handsegnet": "hand_iou", "posenet": "auc", "lifting": "auc_20_50"}
REAL_MEASURES = ("full_pck", "posenet_box_pck", "mask_iou")
# The real-photo measures a net's curve shows (the full pipeline's PCK moves with either net).
REAL_PLOTTED = {"handsegnet": ("mask_iou", "full_pck"), "posenet": ("posenet_box_pck", "full_pck")}


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


class RealProbe:
    """Real-photo measures of a HandSegNet or PoseNet checkpoint: a Keras pipeline with the
    other nets from ``base_weights``, the checkpoint's weights copied into its net."""

    def __init__(self, base_weights: str, splits: list[str], max_samples: int = 0):
        from hand3d_tf.evaluation import real_photos
        from hand3d_tf.pipeline import ColorHandPose3D

        self.pipe = ColorHandPose3D.from_weights_dir(base_weights)
        self.splits = {_split_name(s): real_photos.load_split(s, max_samples) for s in splits}

    def measure(self, net: str, model) -> dict:
        from hand3d_tf.evaluation import real_photos

        target = getattr(self.pipe, net)
        base = target.get_weights()
        for layer in model.layers:
            if layer.weights:
                target.get_layer(layer.name).set_weights(layer.get_weights())
        out = {}
        try:
            for name, samples in self.splits.items():
                result = real_photos.evaluate(self.pipe, samples)
                out[name] = {k: result[k] for k in REAL_MEASURES}
        finally:
            target.set_weights(base)  # the next run's other nets are the base ones again
        return out


def _split_name(split: str) -> str:
    """'/tmp/real/phone_gestures/evaluation' -> 'phone_gestures'."""
    parts = os.path.normpath(split).split(os.sep)
    return parts[-2] if len(parts) > 1 and parts[-1] in ("evaluation", "training") else parts[-1]


def evaluate_run(
    run_dir: str,
    history: dict,
    max_samples: int | None = 200,
    heldout_dir: str | None = None,
    every: int = 0,
    init_weights: str | None = None,
    real: RealProbe | None = None,
) -> dict:
    """Evaluate the not-yet-evaluated checkpoints of ``run_dir``; returns the updated history
    {run_dir: {"net": ..., "measure": ..., "points": {step: value}[, "real": {split:
    {step: {measure: value}}}]}} (options: the module's docstring)."""
    import tensorflow as tf

    from hand3d_tf.training import checkpoints as ckpt
    from hand3d_tf.training import inputs
    from hand3d_tf.training.final_eval import evaluate_and_write
    from hand3d_tf.training.initialization import build_model, initialize

    config = _config(run_dir, max_samples)
    if heldout_dir:
        config = dataclasses.replace(config, data_dir=heldout_dir)
    if real is not None and config.net == "lifting":
        raise ValueError(f"{run_dir}: real-photo measures are for handsegnet/posenet runs")
    entry = history.setdefault(
        os.path.abspath(run_dir), {"net": config.net, "measure": MEASURE[config.net], "points": {}}
    )
    points = entry["points"]
    real_points = entry.setdefault("real", {}) if real is not None else None

    def done(step: int) -> bool:
        return str(step) in points and (
            real is None or all(str(step) in real_points.get(n, {}) for n in real.splits)
        )

    listed = ckpt.list_checkpoints(os.path.join(run_dir, ckpt.CHECKPOINT_SUBDIR))
    last = listed[-1][0] if listed else None
    todo = [(0, None)] if not done(0) else []
    todo += [
        (step, folder)
        for step, folder in listed
        if not done(step) and (not every or step % every == 0 or step == last)
    ]
    if not todo:
        return history
    evaluation = (
        inputs.evaluation_data(config) if heldout_dir else inputs.make_data(config).evaluation
    )
    model = build_model(config)
    for step, folder in todo:
        if folder is None:
            if not (init_weights or config.init_weights):
                continue
            initialize(model, config.net, init_weights or config.init_weights)
        else:
            try:
                tf.train.Checkpoint(model=model).restore(
                    ckpt.checkpoint_prefix(folder)
                ).expect_partial()
            except tf.errors.NotFoundError:
                # The running trainer rotated it away since it was listed.
                print(f"{run_dir} step {step}: checkpoint removed meanwhile, skipped", flush=True)
                continue
        result = evaluate_and_write(config, model, evaluation(), chief=False)
        points[str(step)] = _measure(config, result)
        print(f"{run_dir} step {step}: {entry['measure']} {points[str(step)]:.4f}", flush=True)
        if real is not None:
            for name, values in real.measure(config.net, model).items():
                real_points.setdefault(name, {})[str(step)] = values
                print(f"{run_dir} step {step}: {name} {json.dumps(values)}", flush=True)
    return history


def _run_label(run: str) -> str:
    """A run's name in a legend: its folder and the one above ('runs9/posenet')."""
    return "/".join(os.path.normpath(run).split(os.sep)[-2:])


def _end_to_end(stages, values_of):
    """[(x, y)] of the stages of one net placed end to end (stage k from stage k-1's end)."""
    xs, ys, offset = [], [], 0
    for entry in stages:
        steps = sorted(int(s) for s in entry["points"])
        for s in steps:
            value = values_of(entry, str(s))
            if value is not None:
                xs.append(offset + s)
                ys.append(value)
        offset += steps[-1] if steps else 0
    return xs, ys


def plot(history: dict, runs: list, path: str) -> None:
    """One panel per net (its held-out measure, one line per run), and one more per net with
    real-photo measures; the runs of a net placed end to end in the order given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    by_net: dict = {}
    for run in runs:
        entry = history.get(os.path.abspath(run))
        if entry:
            by_net.setdefault(entry["net"], []).append((run, entry))
    panels = [(net, "heldout") for net in sorted(by_net)]
    panels += [
        (net, "real") for net in sorted(by_net) if any(e.get("real") for _, e in by_net[net])
    ]
    fig = Figure(figsize=(4.2 * max(1, len(panels)), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    for i, (net, kind) in enumerate(panels):
        stages = by_net[net]
        ax = fig.add_subplot(1, len(panels), i + 1)
        if kind == "heldout":
            offset = 0
            for run, entry in stages:
                steps = sorted(int(s) for s in entry["points"])
                values = [entry["points"][str(s)] for s in steps]
                ax.plot([offset + s for s in steps], values, marker="o", ms=3,
                        label=_run_label(run))  # fmt: skip
                offset += steps[-1] if steps else 0
                if len(stages) > 1:
                    ax.axvline(offset, color="0.6", lw=0.8, ls="--")
            ax.set_title(f"{net}: {stages[0][1]['measure']} (held-out)", fontsize=9)
        else:
            splits = sorted({n for _, e in stages for n in e.get("real", {})})
            for split in splits:
                for measure in REAL_PLOTTED[net]:
                    xs, ys = _end_to_end(
                        [e for _, e in stages],
                        lambda e, s, sp=split, m=measure: e.get("real", {}).get(sp, {}).get(s, {}).get(m),
                    )  # fmt: skip
                    if xs:
                        ax.plot(xs, ys, marker="o", ms=3, label=f"{split} {measure}")
            offset = 0
            for _, entry in stages[:-1]:
                offset += max((int(s) for s in entry["points"]), default=0)
                ax.axvline(offset, color="0.6", lw=0.8, ls="--")
            ax.set_title(f"{net}: real photos, PCK@0.2 / IoU", fontsize=9)
        ax.set_xlabel("steps in this model's stages")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="comma-separated run folders, in order")
    parser.add_argument("--history", required=True, help="JSON file read and updated")
    parser.add_argument("--max_samples", type=int, default=200)
    parser.add_argument("--plot", default=None, help="PNG of the curves")
    parser.add_argument("--no_eval", action="store_true", help="only plot the history")
    parser.add_argument("--every", type=int, default=0, help="only steps that are multiples")
    parser.add_argument("--heldout_dir", default=None, help="held-out data folder to measure on")
    parser.add_argument("--init_weights", action="append", default=[], metavar="RUN=FILE",
                        help="step 0's weights of RUN (repeatable)")  # fmt: skip
    parser.add_argument("--real_splits", default="", help="comma-separated autolabel splits")
    parser.add_argument("--real_max_samples", type=int, default=0, help="per split (0 = all)")
    parser.add_argument("--base_weights", default="weights/default",
                        help="weights folder of the nets a real-photo measure does not train")  # fmt: skip
    args = parser.parse_args(argv)
    if args.every < 0 or args.real_max_samples < 0:
        parser.exit(2, "error: --every and --real_max_samples must be >= 0\n")
    runs = [r for r in args.runs.split(",") if r]
    init = {}
    for item in args.init_weights:
        run, sep, path = item.partition("=")
        if not sep or not os.path.exists(path):
            parser.exit(
                2, f"error: --init_weights={item!r}: expected RUN=FILE of an existing file\n"
            )
        init[os.path.abspath(run)] = path
    real = None
    real_splits = [s for s in args.real_splits.split(",") if s]
    if real_splits and not args.no_eval:
        for split in real_splits:
            if not os.path.isfile(os.path.join(split, "labels.json")):
                parser.exit(2, f"error: --real_splits: {split!r} is not a hand3d-autolabel split\n")
        real = RealProbe(args.base_weights, real_splits, args.real_max_samples)
    history = {}
    if os.path.exists(args.history):
        with open(args.history) as f:
            history = json.load(f)
    if not args.no_eval:
        for run in runs:
            if not os.path.exists(os.path.join(run, "config.json")):
                parser.exit(2, f"error: {run!r} is not a training run (no config.json)\n")
            history = evaluate_run(
                run, history, args.max_samples, heldout_dir=args.heldout_dir, every=args.every,
                init_weights=init.get(os.path.abspath(run)), real=real,
            )  # fmt: skip
            atomic_write(args.history, json.dumps(history, indent=1, sort_keys=True) + "\n")
    if args.plot:
        plot(history, runs, args.plot)


if __name__ == "__main__":
    main()
