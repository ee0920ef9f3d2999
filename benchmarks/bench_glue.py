"""Time each stage of the host glue (hand3d_tf/glue.py) on one 240x320 frame.

    python -m benchmarks.bench_glue                        # hand3d_tf.glue, 300 runs
    python -m benchmarks.bench_glue --runs=1000 --threads=1
    git show f9bbcf3:hand3d_tf/glue.py > /tmp/glue_before.py
    python -m benchmarks.bench_glue --glue=/tmp/glue_before.py   # any other glue module file

The frame is synthetic but shaped like the real thing: stride-8 HandSegNet logits [1, 30,
40, 2] with an elliptic hand (about 100 x 80 px after upsampling) and scattered false
positives, and PoseNet score maps [1, 32, 32, 21] with one Gaussian peak per keypoint plus
noise. Every run times the stages in pipeline order (normalise the frame, upsample the
logits, locate the hand, crop it, keypoint arg-max, back-projection), so slow drift of a
shared machine affects all stages alike; the medians are printed, then a markdown table
row for benchmarks/RESULTS.md. No TensorFlow: numpy, OpenCV and the glue module only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time

import numpy as np

from hand3d_tf.constants import DEFAULT_INPUT_SIZE

STAGES = ("normalize", "upsample", "locate", "crop", "keypoints", "back_project")


def load_glue(path: str | None):
    """hand3d_tf.glue, or the glue module in the file `path` (e.g. an older version)."""
    if not path:
        from hand3d_tf import glue

        return glue
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--glue={path!r} is not a file")
    spec = importlib.util.spec_from_file_location("glue_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def synthetic_inputs(seed: int = 0, frame_hw=DEFAULT_INPUT_SIZE):
    """(frame [H, W, 3] uint8, stride-8 logits [1, H/8, W/8, 2], scoremaps [1, 32, 32, 21])."""
    import cv2

    rng = np.random.default_rng(seed)
    height, width = frame_hw
    small = rng.uniform(0, 255, (height // 16, width // 16, 3)).astype(np.float32)
    frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    frame = np.clip(frame, 0, 255).astype(np.uint8)

    rows, cols = np.mgrid[: height // 8, : width // 8] * 8.0
    hand = ((rows - 0.5 * height) / 50.0) ** 2 + ((cols - 0.53 * width) / 40.0) ** 2 < 1.0
    margin = np.where(hand, 3.0, -3.0) + rng.normal(0.0, 1.2, hand.shape)  # some false positives
    logits = np.stack([-margin / 2, margin / 2], axis=-1)[None].astype(np.float32)

    grid = np.arange(32, dtype=np.float32)
    peaks = rng.uniform(4, 28, (21, 2))
    scoremaps = np.exp(
        -((grid[:, None, None] - peaks[:, 0]) ** 2 + (grid[None, :, None] - peaks[:, 1]) ** 2)
        / (2 * 1.5**2)
    )
    scoremaps = scoremaps + rng.normal(0.0, 0.02, scoremaps.shape)
    return frame, logits, scoremaps[None].astype(np.float32)


def time_stages(glue, frame, logits8, scoremaps, runs: int, warmup: int) -> dict:
    """Median milliseconds per stage and for the whole glue of one frame."""
    frame_hw = frame.shape[:2]
    samples = {name: [] for name in STAGES + ("total",)}
    for run in range(warmup + runs):
        times = {}
        t0 = time.perf_counter()
        image = glue.normalize_image(frame[None])
        t1 = time.perf_counter()
        logits = glue.resize_bilinear_legacy(logits8, frame_hw)
        t2 = time.perf_counter()
        where = glue.locate_hand(logits)
        t3 = time.perf_counter()
        glue.crop_hand(image, where.center_rowcol, where.scale)
        t4 = time.perf_counter()
        rowcol, _ = glue.keypoints_from_scoremaps(scoremaps)
        t5 = time.perf_counter()
        glue.crop_to_image(rowcol, where.center_rowcol, where.scale)
        t6 = time.perf_counter()
        stamps = (t0, t1, t2, t3, t4, t5, t6)
        for i, name in enumerate(STAGES):
            times[name] = stamps[i + 1] - stamps[i]
        times["total"] = t6 - t0
        if run >= warmup:
            for name, seconds in times.items():
                samples[name].append(seconds * 1e3)
    return {name: float(np.median(values)) for name, values in samples.items()}


def markdown_row(label: str, medians: dict, runs: int, cv_threads: int) -> str:
    cells = [f"{medians[name]:.3f}" for name in STAGES + ("total",)]
    head = f"| {platform.machine()} | {label} | {cv_threads} | {runs} | "
    return head + " | ".join(cells) + " |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--glue", default="", help="glue module file (default hand3d_tf.glue)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads; 0: default")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        raise SystemExit(f"--runs must be >= 1 and --warmup >= 0; got {args.runs}, {args.warmup}")
    import cv2

    if args.threads:
        cv2.setNumThreads(args.threads)
    glue = load_glue(args.glue)
    frame, logits8, scoremaps = synthetic_inputs(args.seed)
    medians = time_stages(glue, frame, logits8, scoremaps, args.runs, args.warmup)
    for name in STAGES + ("total",):
        print(f"{name:>13}: {medians[name]:8.3f} ms (median of {args.runs})")
    label = os.path.basename(args.glue) if args.glue else "hand3d_tf.glue"
    print("\n| machine | glue | cv2 threads | runs | " + " | ".join(STAGES) + " | total ms |")
    print("|---" * (len(STAGES) + 5) + "|")
    print(markdown_row(label, medians, args.runs, cv2.getNumThreads()))


if __name__ == "__main__":
    main()
