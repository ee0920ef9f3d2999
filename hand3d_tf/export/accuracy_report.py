"""What each precision costs: run every export with LiteRT on the held-out eval set.

For each ``<net>_<mode>.tflite`` (with its sidecar) in the export folder this runs the
model with the LiteRT interpreter (the TF-free runtime ``hand3d_tf.lite``) on ``eval.npz``
(hand3d-make-eval-set) and compares it with the float tf_keras model on the same inputs:

- size; max / mean absolute deviation of the main output from Keras (logits, last-stage
  score maps, xyz);
- the task metric (hand3d_tf/evaluation/tflite_accuracy.py protocols): HandSegNet mask IoU, PoseNet 2-D
  AUC (0-30 px) on ground-truth crops, lifting 3-D AUC over 20-50 mm (and 0-50 mm);
- agreement with the fp32 export: keypoint-argmax agreement (PoseNet), mask-pixel
  agreement (HandSegNet), and the target of the mode (``TARGETS``), met or missed by how much.

Writes ``<stem>.md`` (a table) and ``<stem>.json`` (everything).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from hand3d_tf.atomic import atomic_write
from hand3d_tf.evaluation import tflite_accuracy as acc
from hand3d_tf.lite import nets, runner
from hand3d_tf.lite import sidecar as sc
from hand3d_tf.lite.evalset import load_eval_set

# Targets against the fp32 export (docs/export.md): (quantity, bound). "agreement": keypoint argmax
# agreement >= bound; "drop": main metric may fall by at most bound.
TARGETS = {
    "fp16": ("agreement", 0.99),
    "int16x8": ("drop", 0.01),
    "qat": ("drop", 0.01),
    "int8": ("drop", 0.02),
    "int8_io": ("drop", 0.02),
}
METRIC_NAMES = {"handsegnet": "mask IoU", "posenet": "2D AUC 0-30px", "lifting": "3D AUC 20-50mm"}


def main_metric(net: str, accuracy: dict) -> float | None:
    """The one number per net the targets are stated in."""
    if net == "handsegnet":
        return accuracy.get("mask_iou")
    if net == "posenet":
        return accuracy["2d"]["auc"]
    return accuracy["3d"]["auc_20_50"]


def keras_outputs(net: str, model, feeds: dict, batch: int = 8) -> dict:
    """Float tf_keras outputs {role: [N, ...]} on eval-set feeds (uint8 frames normalised)."""
    feeds = dict(feeds)
    if "image" in feeds and feeds["image"].dtype == np.uint8:
        feeds["image"] = nets.normalize_pixels(feeds["image"], sc.NORMALIZATION)
    n = len(next(iter(feeds.values())))
    parts: dict = {}
    for start in range(0, n, batch):
        chunk = {k: v[start : start + batch].astype(np.float32) for k, v in feeds.items()}
        if net == "lifting":
            out = model([chunk["scoremap"], chunk["hand_side"]], training=False)
            out = {k: v for k, v in out.items() if k in sc.NET_OUTPUT_ROLES["lifting"]}
        else:
            y = model(chunk["image"], training=False)
            out = {sc.NET_OUTPUT_ROLES[net][0]: y[-1] if isinstance(y, (list, tuple)) else y}
        for role, value in out.items():
            parts.setdefault(role, []).append(np.asarray(value))
    return {role: np.concatenate(v) for role, v in parts.items()}


def _target_status(mode: str, metric, fp32_metric, fp32_agreement) -> tuple[str, str]:
    if mode not in TARGETS:
        return "", ""
    kind, bound = TARGETS[mode]
    if kind == "agreement":
        if fp32_agreement is None:  # no fp32 export, or a net without an argmax (lifting)
            why = "no fp32 export" if fp32_metric is None else "no argmax; see its metric drop"
            return f"argmax agreement >= {bound}", f"n/a ({why})"
        short = bound - fp32_agreement
        status = "met" if short <= 0 else f"MISSED by {short:.4f}"
        return f"argmax agreement >= {bound}", status
    if metric is None or fp32_metric is None:
        return f"drop <= {bound}", "n/a (no fp32 export)"
    over = (fp32_metric - metric) - bound
    return f"drop <= {bound}", "met" if over <= 0 else f"MISSED by {over:.4f}"


@dataclasses.dataclass
class ReportRow:
    net: str
    mode: str
    model_bytes: int | None
    max_abs_dev: float | None
    mean_abs_dev: float | None
    rel_max_dev: float | None
    metric: float | None
    delta_vs_fp32: float | None
    argmax_agreement_fp32: float | None
    argmax_agreement_keras: float | None
    target: str
    status: str
    details: dict


def evaluate_net(net: str, keras_model, export_dir, data, threads: int = 2) -> list[ReportRow]:
    """Rows for the Keras model and every export of ``net`` in ``export_dir``."""
    feeds = acc.net_feeds(net, data)
    reference = keras_outputs(net, keras_model, feeds)
    entries = [e for e in nets.discover([str(export_dir)]) if e.net == net]
    stride = entries[0].sidecar.output_stride if entries else 1
    keras_acc = acc.accuracy(net, reference, data, stride)
    rows = [ReportRow(net, "keras", None, 0.0, 0.0, 0.0, main_metric(net, keras_acc), None,
                      None, 1.0, "", "reference", {"accuracy": keras_acc})]  # fmt: skip
    runtime = runner.load_runtime()
    fp32_out = fp32_metric = None
    for entry in entries:
        model = nets.NetModel(entry, runner.Model(entry.path, runtime, threads=threads))
        outputs = acc.run_over(model, feeds)
        stride = entry.sidecar.output_stride
        result = acc.accuracy(net, outputs, data, stride)
        metric = main_metric(net, result)
        vs_keras = acc.agreement(net, outputs, reference, data, stride)
        vs_fp32 = None
        if entry.mode == "fp32":
            fp32_out, fp32_metric = outputs, metric
        elif fp32_out is not None:
            vs_fp32 = acc.agreement(net, outputs, fp32_out, data, stride)
        agree_fp32 = vs_fp32.get("argmax_agreement") if vs_fp32 else None
        target, status = _target_status(entry.mode, metric, fp32_metric, agree_fp32)
        ref_max = vs_keras["ref_abs_max"] or 1.0
        rows.append(ReportRow(
            net, entry.mode, entry.sidecar.model_bytes, vs_keras["max_abs_diff"],
            vs_keras["mean_abs_diff"], vs_keras["max_abs_diff"] / ref_max, metric,
            None if fp32_metric is None or metric is None else metric - fp32_metric,
            agree_fp32, vs_keras.get("argmax_agreement"), target, status,
            {"accuracy": result, "vs_keras": vs_keras, "vs_fp32": vs_fp32,
             "file": entry.path.name},
        ))  # fmt: skip
    return rows


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def to_markdown(rows: list[ReportRow], eval_path: str, num: int) -> str:
    lines = [
        f"# Accuracy of the TFLite exports ({num} samples of {eval_path})",
        "",
        "Deviation: |TFLite - Keras float| of the main output (logits / last score map / "
        "xyz). Δ and agreement are against the fp32 export of the same net.",
        "",
        "| net | mode | size MB | max dev | mean dev | rel. max dev | metric | value | "
        "Δ vs fp32 | argmax agr. vs fp32 | target | status |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        size = "" if r.model_bytes is None else f"{r.model_bytes / 1e6:.2f}"
        lines.append(
            f"| {r.net} | {r.mode} | {size} | {_fmt(r.max_abs_dev, '.3g')} | "
            f"{_fmt(r.mean_abs_dev, '.3g')} | {_fmt(r.rel_max_dev, '.3g')} | "
            f"{METRIC_NAMES[r.net]} | {_fmt(r.metric, '.4f')} | {_fmt(r.delta_vs_fp32, '+.4f')} | "
            f"{_fmt(r.argmax_agreement_fp32, '.4f')} | {r.target} | {r.status} |"
        )
    return "\n".join(lines) + "\n"


def accuracy_report(
    keras_models: dict,
    export_dir,
    eval_data,
    output_stem=None,
    num_samples: int = 0,
    threads: int = 2,
) -> list[ReportRow]:
    """Evaluate the exports of the nets in ``keras_models`` ({net: tf_keras model}).

    Args:
      eval_data: an ``eval.npz`` of hand3d-make-eval-set (frames at the HandSegNet
        export size).
      output_stem: write ``<stem>.md`` and ``<stem>.json``; default
        ``<export_dir>/accuracy_report``.
      num_samples: the first N samples (0 = all).
    """
    data = load_eval_set(eval_data).subset(num_samples)
    rows: list[ReportRow] = []
    for net, model in keras_models.items():
        rows.extend(evaluate_net(net, model, export_dir, data, threads))
    stem = pathlib.Path(output_stem or pathlib.Path(export_dir) / "accuracy_report")
    atomic_write(stem.with_suffix(".md"), to_markdown(rows, str(eval_data), len(data)))
    payload = {"eval_data": str(eval_data), "num_samples": len(data), "targets": TARGETS,
               "rows": [dataclasses.asdict(r) for r in rows]}  # fmt: skip
    atomic_write(stem.with_suffix(".json"), json.dumps(payload, indent=2, default=float))
    return rows
