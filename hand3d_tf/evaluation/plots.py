"""PCK plots written as PNG with matplotlib's Agg canvas (no pyplot, no global backend change)."""

from __future__ import annotations

import pathlib

import numpy as np

from hand3d_tf.evaluation import metrics as evaluation

UNITS = ("mm", "px")
REFERENCES = ("stb", None)


def plot_pck(
    curves: dict,
    path,
    unit: str = "mm",
    title: str | None = None,
    reference: str | None = None,
) -> pathlib.Path:
    """Plot PCK curves and write them as a PNG; returns the path.

    curves: label -> (thresholds [T], pck [T]) with thresholds in ``unit`` ("mm" or "px");
    each label gets its AUC over its own thresholds. reference="stb" adds the STB curves of
    Zhang et al. that the original's eval_full plots (docs/original.md §7; needs unit="mm").
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}; received {unit!r}")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}; received {reference!r}")
    if reference == "stb" and unit != "mm":
        raise ValueError(f"the STB reference curves are in mm; received unit={unit!r}")
    if not curves:
        raise ValueError("curves is empty: give at least one label -> (thresholds, pck)")
    # Agg canvas bound to this figure only, so plotting never touches the user's backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, (thresholds, pck) in curves.items():
        auc = evaluation.pck_auc(thresholds, pck)
        lo, hi = float(np.min(thresholds)), float(np.max(thresholds))
        ax.plot(thresholds, pck, lw=2, label=f"{label} (AUC {lo:.3g}-{hi:.3g} {unit}: {auc:.3f})")
    if reference == "stb":
        ref_x = np.asarray(evaluation.STB_REFERENCE_THRESHOLDS_MM)
        for label, ref_y in evaluation.STB_REFERENCE_CURVES.items():
            auc = evaluation.pck_auc(ref_x, ref_y)
            ax.plot(
                ref_x, ref_y, ls="--", marker="o", ms=3, label=f"{label} (AUC 20-50 mm: {auc:.3f})"
            )
    ax.set_xlabel(f"threshold [{unit}]")
    ax.set_ylabel("PCK")
    ax.set_ylim(0.0, 1.0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
