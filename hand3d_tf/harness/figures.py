"""PNG plots of one benchmark run: latency vs accuracy, PCK curves, per-stage latency bars.

matplotlib's Agg canvas bound to each figure (no pyplot, no global backend change), so
plotting works headless on a Jetson or in CI. TensorFlow-free.
"""

from __future__ import annotations

import pathlib

from hand3d_tf import constants
from hand3d_tf.atomic import atomic_write
from hand3d_tf.harness import result_files

PLOTTED = (*constants.NETS, "pipeline")
STAGE_COLORS = {
    "handsegnet": "#1f77b4",
    "glue_segment": "#ff7f0e",
    "posenet": "#2ca02c",
    "glue_keypoints": "#d62728",
    "lifting": "#9467bd",
    "io": "#8c564b",
}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png"))


def latency_vs_accuracy(result: dict, path) -> pathlib.Path:
    """One panel per net (and the pipeline): median latency (ms, log x) vs its headline
    accuracy, one point per precision and thread count."""
    points = {net: [] for net in PLOTTED}
    for row in result.get("models", []):
        if row.get("status") == "ok" and row.get("net") in points:
            name, value = result_files.headline(row["net"], row.get("accuracy"))
            points[row["net"]].append((row["latency_ms"]["median"], value, name, row))
    for row in result.get("pipelines", []):
        if row.get("status") == "ok":
            name, value = result_files.headline("pipeline", row.get("accuracy"))
            points["pipeline"].append((row["total_ms"]["median"], value, name, row))
    used = [n for n in PLOTTED if any(p[1] is not None for p in points[n])]
    fig = _figure(4.2 * max(1, len(used)), 3.8)
    if not used:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no accuracy (run with --eval_set)", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    markers = "osD^v<>"
    for i, net in enumerate(used):
        ax = fig.add_subplot(1, len(used), i + 1)
        threads = sorted({p[3]["threads"] for p in points[net]})
        for ms, value, _, row in points[net]:
            if value is None:
                continue
            ax.scatter(ms, value, marker=markers[threads.index(row["threads"]) % len(markers)])
            ax.annotate(
                f"{row.get('mode')}/{row['threads']}t",
                (ms, value),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, 3),
            )
        times = [p[0] for p in points[net] if p[1] is not None]
        if max(times) > 10 * min(times):  # log only when the range needs it
            ax.set_xscale("log")
        else:
            from matplotlib.ticker import MaxNLocator

            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
            ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_xlabel("median latency (ms)")
        ax.set_ylabel(next(p[2] for p in points[net] if p[2]))
        ax.set_title(net)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{result.get('label', '')}: latency vs accuracy", fontsize=9)
    return _save(fig, path)


def pck_curves(result: dict, path) -> pathlib.Path:
    """PCK curves per precision: PoseNet 2-D (GT crops), lifting 3-D (GT score maps),
    pipeline 2-D and 3-D; the legend carries each curve's AUC."""
    panels = []  # (title, unit, {label: (thresholds, pck, auc)})
    for net, key, title in (
        ("posenet", "2d", "PoseNet 2D (GT crops)"),
        ("lifting", "3d", "lifting 3D (GT score maps)"),
    ):
        curves = {}
        for row in result.get("models", []):
            acc = (row.get("accuracy") or {}).get(key)
            if row.get("net") == net and acc and row.get("mode") not in curves:
                curves[row.get("mode") or row["model"]] = acc
        panels.append((title, curves))
    for key, title in (("2d", "pipeline 2D"), ("3d", "pipeline 3D")):
        curves = {}
        for row in result.get("pipelines", []):
            acc = (row.get("accuracy") or {}).get(key)
            if acc and row.get("mode") not in curves:
                curves[row["mode"]] = acc
        panels.append((title, curves))
    panels = [p for p in panels if p[1]]
    fig = _figure(4.2 * max(1, len(panels)), 3.8)
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no PCK curves (run with --eval_set)", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    for i, (title, curves) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, acc in curves.items():
            ax.plot(acc["thresholds"], acc["pck_curve"], label=f"{label} (AUC {acc['auc']:.3f})")
        unit = next(iter(curves.values())).get("unit", "")
        ax.set_xlabel(f"threshold ({unit})")
        ax.set_ylabel("PCK")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def stage_bars(result: dict, path) -> pathlib.Path:
    """Stacked horizontal bars of median per-stage latency for each pipeline (mode, threads)."""
    rows = [r for r in result.get("pipelines", []) if r.get("status") == "ok"]
    fig = _figure(7.5, 1.6 + 0.45 * max(1, len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    if not rows:
        ax.text(0.5, 0.5, "no end-to-end pipeline in this run", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    labels = [f"{r['mode']} / {r['threads']}t" for r in rows]
    left = [0.0] * len(rows)
    for stage, color in STAGE_COLORS.items():
        widths = [r["stages_ms"].get(stage, {}).get("median", 0.0) for r in rows]
        ax.barh(labels, widths, left=left, color=color, label=stage)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlabel("median latency per frame (ms)")
    ax.invert_yaxis()
    ax.legend(fontsize=7, ncol=6, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.suptitle(f"{result.get('label', '')}: per-stage latency", fontsize=9)
    return _save(fig, path)


def write_all(result: dict, output_dir, stem: str) -> list[pathlib.Path]:
    out = pathlib.Path(output_dir)
    return [
        latency_vs_accuracy(result, out / f"{stem}_latency_accuracy.png"),
        pck_curves(result, out / f"{stem}_pck.png"),
        stage_bars(result, out / f"{stem}_stages.png"),
    ]
