"""hand3d-evaluate: the paper's evaluation protocols (facts §7), or stored predictions.

    hand3d-evaluate --predictions=preds.npz --dataset=stb --output_dir=eval_out
    hand3d-evaluate --protocol=full3d --dataset=stb --data_dir=... --weights=...   (not wired yet)

Writes <output_dir>/<name>.json (numbers; 3-D in mm) and <output_dir>/<name>_pck.png.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
from absl import app, flags

from hand3d_tf import evaluation as ev
from hand3d_tf import keypoints as kp
from hand3d_tf import plots
from hand3d_tf import protocols as pr

DATASETS = ("rhd", "stb", "synthetic")
# What keypoint 0 of each dataset's ground truth is (facts §8.1, §8.4).
DATASET_GT_INDEX0 = {"rhd": kp.ROOT_WRIST, "stb": kp.ROOT_PALM, "synthetic": kp.ROOT_WRIST}
PREDICTION_KINDS = ("2d", "3d", "3d_normed")
CHUNK = 256  # samples per feed() call when evaluating a predictions file

# allow_override: other CLI modules may define flags of the same name (--weights,
# --output_dir, ...); without it importing two of them in one process (pytest) would fail.
_OVR = {"allow_override": True}
flags.DEFINE_string("protocol", None, f"one of {pr.PROTOCOLS}", **_OVR)
flags.DEFINE_string("dataset", "rhd", f"one of {DATASETS}", **_OVR)
flags.DEFINE_string("data_dir", None, "dataset folder (for --protocol)", **_OVR)
flags.DEFINE_string("weights", None, "weights file or folder (for --protocol)", **_OVR)
flags.DEFINE_string("output_dir", "eval_results", "where the .json and .png go", **_OVR)
flags.DEFINE_string("root", kp.ROOT_PALM, f"ground-truth keypoint 0 as one of {kp.ROOTS}", **_OVR)
flags.DEFINE_string(
    "predictions",
    None,
    "npz with gt, vis, pred and kind (2d | 3d | 3d_normed); optional gt_index0",
    **_OVR,
)
flags.DEFINE_string(
    "name", None, "output file stem (default: predictions stem or protocol_dataset)", **_OVR
)
flags.DEFINE_integer("max_samples", None, "stop after this many samples (for --protocol)", **_OVR)
FLAGS = flags.FLAGS


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise app.UsageError(f"--{name} must be one of {tuple(choices)}; received {value!r}")
    return value


def load_predictions(path) -> dict:
    """Read a predictions npz: gt [N, 21, D], vis [N, 21], pred [N, 21, D], kind, gt_index0?"""
    path = pathlib.Path(path)
    if not path.is_file():
        raise app.UsageError(f"--predictions file not found: {path}")
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    missing = [k for k in ("gt", "vis", "pred", "kind") if k not in data]
    if missing:
        raise ValueError(f"{path} lacks arrays {missing}; it has {sorted(data)}")
    data["kind"] = str(data["kind"])
    if data["kind"] not in PREDICTION_KINDS:
        raise ValueError(
            f"{path}: kind must be one of {PREDICTION_KINDS}; received {data['kind']!r}"
        )
    if "gt_index0" in data:
        data["gt_index0"] = str(data["gt_index0"])
    return data


def evaluate_predictions(data: dict, root: str, dataset: str, progress: bool = True):
    """EvalSummary (px or m) of stored predictions.

    kind "2d" / "3d": gt and pred already in one frame (px / m, root-relative for 3d);
    keypoint 0 is re-rooted only if the file names ``gt_index0``. kind "3d_normed": gt in
    camera metres, pred scale-normalised; aligned with ``evaluation.align_3d`` using
    ``root`` and ``gt_index0`` (file key, else the dataset's: rhd wrist, stb palm).
    """
    from tqdm import tqdm

    gt, vis, pred = data["gt"], data["vis"], data["pred"]
    if gt.ndim == 2:
        gt, vis, pred = gt[None], np.asarray(vis)[None], pred[None]
    kind = data["kind"]
    gt_index0 = data.get("gt_index0")
    evaluator = ev.KeypointEvaluator()
    for start in tqdm(range(0, gt.shape[0], CHUNK), desc="evaluate", disable=not progress):
        sl = slice(start, start + CHUNK)
        g, v, p = gt[sl], vis[sl], pred[sl]
        if kind == "3d_normed":
            index0 = gt_index0 or DATASET_GT_INDEX0[dataset]
            g, v, p = ev.align_3d(g, v, p, root=root, gt_index0=index0)
        elif gt_index0 is not None:
            g, v = ev.set_root(g, v, root, gt_index0)
            if kind == "3d":  # keep both root-relative after re-rooting the ground truth
                g = g - g[:, :1]
        evaluator.feed(g, v, p)
    return evaluator.summary(*(ev.PRESET_2D if kind == "2d" else ev.PRESET_3D))


def report(summary: ev.EvalSummary, kind: str, name: str, output_dir, dataset: str, meta: dict):
    """Print the numbers, write <name>.json and <name>_pck.png; returns (json, png) paths."""
    is_3d = kind != "2d"
    unit = "mm" if is_3d else "px"
    shown = summary.in_units(ev.METRES_TO_MM) if is_3d else summary
    result = {"name": name, "kind": kind, "unit": unit, **meta, **shown.to_dict()}
    lines = [
        f"{name}: {summary.num_samples} samples ({summary.num_invalid} non-finite predictions)",
        f"  EPE mean   {shown.epe_mean:.3f} {unit}",
        f"  EPE median {shown.epe_median:.3f} {unit} (mean of per-keypoint medians)",
        f"  AUC        {shown.auc:.3f} ({shown.thresholds[0]:g}-{shown.thresholds[-1]:g} {unit})",
    ]
    if is_3d:
        sub = shown.auc_between(ev.STB_SUBRANGE_START)
        result["auc_subrange"] = sub
        result["auc_subrange_from_mm"] = float(shown.thresholds[ev.STB_SUBRANGE_START])
        lines.append(
            f"  AUC        {sub:.3f} ({shown.thresholds[ev.STB_SUBRANGE_START]:.2f}-"
            f"{shown.thresholds[-1]:g} mm, eval_full's sub-range)"
        )
    print("\n".join(lines))
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=2))
    png_path = plots.plot_pck(
        {name: (shown.thresholds, shown.pck_curve)},
        out / f"{name}_pck.png",
        unit=unit,
        title=f"{name} ({dataset})",
        reference="stb" if (dataset == "stb" and is_3d) else None,
    )
    print(f"wrote {json_path} and {png_path}")
    return json_path, png_path


def build_protocol_inputs(protocol: str, dataset: str, data_dir, weights):
    """(samples_iterable, predictor) for a protocol. Wired by the lead once readers exist."""
    raise app.UsageError(
        f"--protocol={protocol} is not wired yet: it needs a {dataset!r} sample reader "
        "(hand3d_tf.data, yielding the keys listed in hand3d_tf.protocols) and a predictor "
        "built from --weights (hand3d_tf.pipeline). Evaluate stored predictions with "
        "--predictions=FILE.npz instead."
    )


def main(argv):
    if not FLAGS.is_parsed():  # called in-process with flags in argv
        argv = FLAGS(argv)
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    dataset = _choice("dataset", FLAGS.dataset, DATASETS)
    root = _choice("root", FLAGS.root, kp.ROOTS)
    if FLAGS.predictions:
        data = load_predictions(FLAGS.predictions)
        summary = evaluate_predictions(data, root=root, dataset=dataset)
        name = FLAGS.name or pathlib.Path(FLAGS.predictions).stem
        meta = {"dataset": dataset, "root": root, "predictions": str(FLAGS.predictions)}
        report(summary, data["kind"], name, FLAGS.output_dir, dataset, meta)
        return 0
    if FLAGS.protocol is None:
        raise app.UsageError(f"give --predictions=FILE.npz or --protocol (one of {pr.PROTOCOLS})")
    protocol = _choice("protocol", FLAGS.protocol, pr.PROTOCOLS)
    samples, predictor = build_protocol_inputs(protocol, dataset, FLAGS.data_dir, FLAGS.weights)
    config = pr.ProtocolConfig(
        root=root, gt_index0=DATASET_GT_INDEX0[dataset], max_samples=FLAGS.max_samples
    )
    summary = pr.run_protocol(protocol, samples, predictor, config)
    name = FLAGS.name or f"{protocol}_{dataset}"
    meta = {"protocol": protocol, "dataset": dataset, "root": root, "weights": FLAGS.weights}
    report(summary, pr.KIND[protocol], name, FLAGS.output_dir, dataset, meta)
    return 0


def run():
    app.run(main)
