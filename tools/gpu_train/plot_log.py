"""Plot a tools/gpu_train/train.py run: training losses and held-out points.

    .venv/bin/python tools/gpu_train/plot_log.py --log=weights/training_log_stage7.json \
        --output=docs/images/default_model_curves_stage7.png

``--log`` is the run's train_log.json, optionally with a "heldout" list added (one dict per
evaluated point: "label", "step", and the model card's measures), as the stage-7 log in
weights/ has. One panel per net: the training loss (mean of 200 steps) against the step,
the learning-rate changes as vertical lines, and that net's held-out measure on a second
axis.
"""

from __future__ import annotations

import argparse
import json
import pathlib

MEASURE = {
    "handsegnet": ("mask_iou", "held-out mask IoU"),
    "posenet": ("pose2d_gt_crop_auc", "held-out GT-crop 2D AUC"),
    "lifting": ("lifting_auc_20_50", "held-out lifting AUC 20-50 mm"),
}


def plot(log: dict, output: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = list(log["losses"])
    fig, axes = plt.subplots(1, len(nets), figsize=(5 * len(nets), 3.6))
    for ax, net in zip(axes, nets):
        rows = log["losses"][net]
        ax.plot([r[0] for r in rows], [r[2] for r in rows], color="tab:blue", lw=1)
        ax.set_title(net)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss", color="tab:blue")
        for change in log.get("lr_changes", {}).get(net, []):
            ax.axvline(change["step"], color="grey", ls=":", lw=1)
            ax.text(change["step"], ax.get_ylim()[1], f" lr {change['lr']:.1e}", fontsize=7,
                    va="top", color="grey")  # fmt: skip
        points = [p for p in log.get("heldout", []) if MEASURE[net][0] in p]
        if points:
            twin = ax.twinx()
            key, label = MEASURE[net]
            twin.plot([p["step"] for p in points], [p[key] for p in points], "o-",
                      color="tab:red")  # fmt: skip
            for p in points:
                twin.annotate(f"{p[key]:.3f}", (p["step"], p[key]), fontsize=7,
                              textcoords="offset points", xytext=(3, 4))  # fmt: skip
            twin.set_ylabel(label, color="tab:red")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True, type=pathlib.Path)
    ap.add_argument("--output", required=True, type=pathlib.Path)
    args = ap.parse_args()
    plot(json.loads(args.log.read_text()), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
