"""The default model on real photographs (issue 30's targets; docs/autolabel.md).

Runs hand3d_tf.evaluation.real_photos on held-out hand3d-autolabel splits: the full
pipeline's and PoseNet-on-the-true-box's PCK@0.2 of the hand size against the teacher's
labels, and the mask IoU on keyed (trusted) masks, each on the ORIGINAL photos. Writes a
JSON with the numbers and the per-sample medians (for the figure's selection rule).

  python -m benchmarks.bench_real --weights=weights/default --backend=tflite \\
      --splits=/tmp/real/phone_gestures/evaluation,/tmp/real/finger_counting/evaluation \\
      --output=/tmp/real/results_default.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time


def cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="weights/default")
    parser.add_argument("--backend", default="tflite", choices=["tflite", "keras"])
    parser.add_argument("--splits", required=True, help="comma-separated autolabel split folders")
    parser.add_argument("--max_samples", type=int, default=0, help="per split (0 = all)")
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--output", default=None, help="JSON file to write")
    parser.add_argument(
        "--teacher_renders",
        default=None,
        help="also measure the teacher "
        "against exact labels on this synthetic dataset root's evaluation split",
    )
    parser.add_argument("--teacher_count", type=int, default=200)
    args = parser.parse_args(argv)

    from hand3d_tf.evaluation import real_photos
    from hand3d_tf.pipeline import ColorHandPose3D

    pipe = ColorHandPose3D.from_dir(args.weights, backend=args.backend)
    results = {"weights": args.weights, "backend": args.backend, "cpu": cpu_name(), "splits": {}}
    for split in [s for s in args.splits.split(",") if s]:
        t0 = time.perf_counter()
        samples = real_photos.load_split(split, args.max_samples)
        measured = real_photos.evaluate(pipe, samples, args.threshold)
        measured["sources"] = [s.source for s in samples]
        measured["seconds"] = round(time.perf_counter() - t0, 1)
        results["splits"][split] = measured
        iou = measured["mask_iou"]
        print(
            f"{split}: {measured['samples']} photos; full pipeline PCK@{args.threshold} "
            f"{measured['full_pck']:.3f}, PoseNet on the true box {measured['posenet_box_pck']:.3f}; "
            f"mask IoU {'n/a' if iou is None else f'{iou:.3f}'} on {measured['mask_samples']} keyed masks",
            flush=True,
        )
    if args.teacher_renders:
        teacher = real_photos.teacher_on_renders(args.teacher_renders, count=args.teacher_count,
                                                 threshold=args.threshold)  # fmt: skip
        results["teacher_on_renders"] = dict(teacher, data_dir=args.teacher_renders)
        print(
            f"teacher on {teacher['renders']} held-out renders (exact labels): kept "
            f"{teacher['kept']}, PCK@{args.threshold} {teacher['pck']:.3f}, median error "
            f"{teacher['median_error']:.3f} of the hand size, side right on "
            f"{teacher['side_accuracy']:.1%}",
            flush=True,
        )
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
