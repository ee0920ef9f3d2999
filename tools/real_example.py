"""The README's second figure: the default model on a real photograph of the validation set.

The rule (weights/README.md, "Real photographs"): among the validation photos of
``bench_real.py``'s results (the first split given), the one whose full-pipeline median
error (normalised by the hand size, against the teacher's label) is closest to the median of
those errors: a typical photo, neither the best nor the worst. The figure is
hand3d-predict's (image + keypoints, crop, mask, 3D) with the teacher's label beside it.

    python tools/real_example.py --results=/tmp/real/results_default.json \\
        --weights=weights/default --output=docs/images/real_example.png
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--weights", default="weights/default")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    results = json.loads(pathlib.Path(args.results).read_text())
    split, measured = next(iter(results["splits"].items()))
    errors = np.asarray(measured["per_sample_full_median"])
    index = int(np.argmin(np.abs(errors - np.median(errors))))

    from hand3d_tf.drawing import prediction_figure
    from hand3d_tf.evaluation import real_photos
    from hand3d_tf.pipeline import ColorHandPose3D

    samples = real_photos.load_split(split)
    sample = samples[index]
    assert sample.source == measured["sources"][index], "results and split disagree"
    pipe = ColorHandPose3D.from_dir(args.weights, backend=results.get("backend", "tflite"))
    side = ("left", "right")[sample.side]
    result = pipe.predict(sample.image, hand_side=side)
    fig = prediction_figure(sample.image, result)
    ax = fig.axes[0]
    ax.plot(sample.uv[:, 0], sample.uv[:, 1], "wx", markersize=5, label="teacher")
    ax.legend(loc="lower right", fontsize=7)
    name = pathlib.Path(sample.source).name.split("_jpg.rf.")[0].split("_", 1)[-1]
    fig.suptitle(
        f"real photo {name} ({side} hand), validation median rule: error {errors[index]:.3f} "
        f"of the hand size (median {np.median(errors):.3f})",
        fontsize=9,
        y=0.995,
    )
    fig.savefig(args.output, dpi=80)
    print(
        f"wrote {args.output}: sample {index} of {split} ({sample.source}), error {errors[index]:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
