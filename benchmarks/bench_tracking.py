"""Video: per-frame vs tracked vs tracked + smoothed, on rendered sequences (issue 18).

    hand3d-make-synthetic --output_dir=/tmp/h3d/seq_heldout --num_train=0 --num_eval=12 \
        --sequence_length=60 --seed=2
    hand3d-make-eval-set --dataset=synthetic --data_dir=/tmp/h3d/seq_heldout --num=0 \
        --min_visible=0 --output=/tmp/h3d/seq_eval.npz
    python -m benchmarks.bench_tracking --eval_set=/tmp/h3d/seq_eval.npz --sequence_length=60 \
        --models=weights/default --modes=fp32 [--paper_models=DIR] [--keras_frames=120]

For each TFLite precision in ``--modes`` of the nets in ``--models`` it runs every sequence
of the eval set (frames in order, ``--sequence_length`` frames each, ground-truth hand side)
through hand3d_tf.tracking.HandTracker three ways: per frame, tracked, tracked + One-Euro
smoothing (default configs, docs/tracking.md). It reports per mode:
- frames/s end to end (wall time of the whole run over all frames, glue and tracker included);
- the share of frames that ran HandSegNet;
- 2D AUC 0-30 px / median EPE (frames with a visible hand; docs/evaluation.md) and 3D AUC
  20-50 mm (same frames, xyz scaled by the true bone length, as the model card);
- jitter on still hands: ``--static`` sequences rendered with render_sequence(static=True)
  (only the sensor noise changes), mean norm of the frame-to-frame keypoint acceleration
  |x[t+1] - 2 x[t] + x[t-1]| in pixels over the 21 keypoints.

``--keras_frames`` also times the Keras backend (``--keras_weights``) on that many frames
per mode.
``--paper_models`` (an export of ``--weights=random`` at paper size) times a detected
frame (HandSegNet + crop + PoseNet + lifting) and a tracked frame (no HandSegNet) with
those nets; their tracked frames/s is composed from these two times and the HandSegNet
share the default model measured, because random weights cannot track anything.
Prints markdown tables for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from hand3d_tf import tracking
from hand3d_tf.evaluation import tflite_accuracy as acc
from hand3d_tf.lite import evalset

MODES = ("per-frame", "tracked", "tracked+smoothed")


TRACKING_OVERRIDES: dict = {}  # TrackingConfig fields given on the command line


def configs(mode: str):
    if mode == "per-frame":
        return None, None
    smooth = tracking.SmoothingConfig(enabled=True) if mode == "tracked+smoothed" else None
    return tracking.TrackingConfig(enabled=True, **TRACKING_OVERRIDES), smooth


def lite_pipe(models: pathlib.Path, mode: str, threads: int):
    from hand3d_tf.harness.bench import timed_pipeline
    from hand3d_tf.lite import nets

    rt = nets.load_runtime()
    loaded = {}
    for net in ("handsegnet", "posenet", "lifting"):
        entry = nets.discover([str(models / f"{net}_{mode}.tflite")])[0]
        loaded[net] = nets.NetModel(entry, nets.load_model(entry.path, rt, threads=threads))
    return timed_pipeline(loaded["handsegnet"], loaded["posenet"], loaded["lifting"])


def sides_of(one_hot: np.ndarray) -> list[str]:
    return ["left" if s[0] > s[1] else "right" for s in one_hot]


def run_sequences(pipe, frames, sides, length: int, mode: str, fps: float = 30.0):
    """All sequences through one tracker mode: (list of TrackedFrame, seconds)."""
    track, smooth = configs(mode)
    tracker = tracking.HandTracker(pipe, track, smooth, fps=fps)
    out = []
    start = time.perf_counter()
    for first in range(0, len(frames), length):
        tracker.reset()
        for i in range(first, min(first + length, len(frames))):
            out.append(tracker.step(frames[i], sides[i], (i - first) / fps))
    return out, time.perf_counter() - start


def scores(results, data) -> dict:
    uv = np.stack([r.result.keypoints_uv[0] for r in results])
    xyz = np.stack([r.result.keypoints_xyz[0] for r in results])
    present = data["gt_vis"].sum(axis=1) > 0
    d2 = acc.eval_2d(data["gt_uv"][present], data["gt_vis"][present], uv[present])
    metric = xyz * data["keypoint_scale"][:, None, None]
    d3 = acc.eval_3d(data["gt_xyz"][present], metric[present])
    return {
        "auc_2d": d2["auc"],
        "epe_2d_median": d2["epe_median"],
        "auc_3d_20_50": d3["auc_20_50"],
        "handsegnet_share": float(np.mean([r.handsegnet_ran for r in results])),
        "frames_scored": int(present.sum()),
    }


def accelerations(results, length: int) -> np.ndarray:
    """|x[t+1] - 2 x[t] + x[t-1]| (px) of every keypoint and inner frame, within sequences."""
    uv = np.stack([r.result.keypoints_uv[0] for r in results])
    out = []
    for first in range(0, len(uv), length):
        seq = uv[first : first + length]
        out.append(np.linalg.norm(seq[2:] - 2 * seq[1:-1] + seq[:-2], axis=-1).ravel())
    return np.concatenate(out)


def jitter(results, length: int) -> float:
    """Mean |x[t+1] - 2 x[t] + x[t-1]| (px) over keypoints and frames, within sequences
    (issue 18's measure; sequences of equal length, so the mean of their means)."""
    return float(np.mean(accelerations(results, length)))


def static_frames(count: int, length: int, hw, seed: int):
    """``count`` still-hand sequences (render_sequence static=True) at the pipeline size."""
    import cv2

    from hand3d_tf.data.synthetic import SyntheticConfig, render_sequence

    frames, sides = [], []
    for index in range(count):
        for f in render_sequence(SyntheticConfig(), seed, index, length, static=True):
            frames.append(cv2.resize(f["color"], (hw[1], hw[0]), interpolation=cv2.INTER_AREA))
            # the side the evaluation picks: more pixels of that hand in the mask
            left = np.count_nonzero((f["mask"] > 1) & (f["mask"] < 18))
            sides.append("left" if left > np.count_nonzero(f["mask"] >= 18) else "right")
    return np.stack(frames), sides


def resmooth(frames, cfg, fps: float, length: int) -> np.ndarray:
    """The tracked run's raw 2D keypoints smoothed again with ``cfg``, resetting where
    HandTracker resets (a new track, a frame without one, a new sequence): [N, 21, 2].
    Smoothing never feeds back into tracking (the crops come from the raw keypoints), so
    this equals a tracked+smoothed run with ``cfg``."""
    filt = tracking.OneEuroFilter(cfg.min_cutoff, cfg.beta, cfg.d_cutoff)
    out, prev_ok = [], False
    for i, f in enumerate(frames):
        first = i % length == 0
        if first:
            filt.reset()
            prev_ok = False
        new_track = f.ok and (not prev_ok or f.reason in ("confidence", "left_frame"))
        if new_track or not f.ok:
            filt.reset()
        out.append(filt(f.raw_keypoints_uv, (i % length) / fps))
        prev_ok = f.ok
    return np.stack(out)


def smoothing_grid(tracked, still_tracked, data, length, still_length, grid, fps=30.0):
    """2D AUC on the sequences and still-hand jitter for each (min_cutoff, beta)."""
    present = data["gt_vis"].sum(axis=1) > 0
    print("\n| min_cutoff Hz | beta s/px | 2D AUC 0-30 px | jitter, still hand (px) |")
    print("|---|---|---|---|")
    for min_cutoff, beta in grid:
        cfg = tracking.SmoothingConfig(enabled=True, min_cutoff=min_cutoff, beta=beta)
        uv = resmooth(tracked, cfg, fps, length)
        auc = acc.eval_2d(data["gt_uv"][present], data["gt_vis"][present], uv[present])["auc"]
        still = resmooth(still_tracked, cfg, fps, still_length)
        accel = [
            np.linalg.norm(q[2:] - 2 * q[1:-1] + q[:-2], axis=-1).mean()
            for q in (still[i : i + still_length] for i in range(0, len(still), still_length))
        ]
        print(f"| {min_cutoff:g} | {beta:g} | {auc:.3f} | {np.mean(accel):.2f} |", flush=True)


def stage_times(adapter, frames, sides, runs: int) -> tuple[float, float]:
    """Median ms of a detected frame and of a tracked frame (crop given: no HandSegNet)."""
    detect, track = [], []
    for i in range(runs):
        frame, side = frames[i % len(frames)], sides[i % len(frames)]
        t0 = time.perf_counter()
        result = adapter.predict(frame, side)
        t1 = time.perf_counter()
        adapter.predict_at(frame, result.center_xy[0], result.scale[0], side)
        t2 = time.perf_counter()
        detect.append(t1 - t0)
        track.append(t2 - t1)
    return 1e3 * float(np.median(detect)), 1e3 * float(np.median(track))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval_set", required=True)
    ap.add_argument("--sequence_length", type=int, required=True)
    ap.add_argument("--models", default="weights/default", type=pathlib.Path)
    ap.add_argument("--modes", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--static", type=int, default=4, help="still-hand sequences for jitter")
    ap.add_argument("--static_length", type=int, default=30)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--keras_frames", type=int, default=0)
    ap.add_argument("--keras_weights", default="weights/default", help="the .npz of --models")
    ap.add_argument(
        "--smoothing_grid",
        default="",
        help="min_cutoff:beta pairs, e.g. 1:0.05,0.5:0.2 (first precision's tracked run)",
    )
    ap.add_argument("--paper_models", type=pathlib.Path, default=None)
    ap.add_argument("--paper_runs", type=int, default=10)
    ap.add_argument("--redetect_every", type=int, default=None, help="TrackingConfig override")
    ap.add_argument("--min_confidence", type=float, default=None, help="TrackingConfig override")
    ap.add_argument("--only", default=",".join(MODES), help="modes to run, of " + ",".join(MODES))
    args = ap.parse_args()
    for name in ("redetect_every", "min_confidence"):
        if getattr(args, name) is not None:
            TRACKING_OVERRIDES[name] = getattr(args, name)
    if TRACKING_OVERRIDES:
        print(f"TrackingConfig overrides: {TRACKING_OVERRIDES}")

    data = evalset.load_eval_set(args.eval_set)
    frames, sides = data["images"], sides_of(data["hand_side"])
    hw = frames.shape[1:3]
    n_seq = len(frames) // args.sequence_length
    print(f"{len(frames)} frames = {n_seq} sequences of {args.sequence_length}; {hw[0]}x{hw[1]}")
    still, still_sides = static_frames(args.static, args.static_length, hw, args.seed)

    shares, kept = {}, {}
    print("\n| precision | mode | frames/s | HandSegNet ran | 2D AUC 0-30 px | 2D EPE median px "
          "| 3D AUC 20-50 mm | jitter, still hand (px) | median |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for precision in args.modes.split(","):
        pipe = lite_pipe(args.models, precision, args.threads)
        for mode in args.only.split(","):
            results, seconds = run_sequences(pipe, frames, sides, args.sequence_length, mode)
            s = scores(results, data)
            still_results, _ = run_sequences(pipe, still, still_sides, args.static_length, mode)
            jit = jitter(still_results, args.static_length)
            jit_median = float(np.median(accelerations(still_results, args.static_length)))
            shares[(precision, mode)] = s["handsegnet_share"]
            if mode == "tracked" and precision == args.modes.split(",")[0]:
                kept = {"tracked": results, "still": still_results}
            print(f"| {precision} | {mode} | {len(frames) / seconds:.1f} | "
                  f"{100 * s['handsegnet_share']:.0f} % | {s['auc_2d']:.3f} | "
                  f"{s['epe_2d_median']:.2f} | {s['auc_3d_20_50']:.3f} | {jit:.2f} | "
                  f"{jit_median:.2f} |", flush=True)  # fmt: skip

    if args.smoothing_grid:
        grid = [tuple(float(v) for v in pair.split(":")) for pair in args.smoothing_grid.split(",")]
        smoothing_grid(kept["tracked"], kept["still"], data, args.sequence_length,
                       args.static_length, grid)  # fmt: skip

    if args.keras_frames:
        from hand3d_tf.pipeline import ColorHandPose3D

        keras_pipe = ColorHandPose3D.from_dir(args.keras_weights, backend="keras")
        n = args.keras_frames
        print("\n| Keras backend, fp32 | frames/s | HandSegNet ran |")
        print("|---|---|---|")
        for mode in MODES:
            results, seconds = run_sequences(
                keras_pipe, frames[:n], sides[:n], args.sequence_length, mode
            )
            share = np.mean([r.handsegnet_ran for r in results])
            print(f"| {mode} | {n / seconds:.1f} | {100 * share:.0f} % |", flush=True)

    if args.paper_models:
        print("\n| paper-size nets (random weights) | detected frame ms | tracked frame ms "
              "| per-frame frames/s | tracked frames/s (composed) | speed-up |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for precision in args.modes.split(","):
            adapter = lite_pipe(args.paper_models, precision, args.threads)
            det, trk = stage_times(adapter, frames, sides, args.paper_runs)
            share = shares[(precision, "tracked")]
            per_frame = 1e3 / det
            tracked = 1e3 / (share * det + (1 - share) * trk)
            print(f"| {precision} | {det:.1f} | {trk:.1f} | {per_frame:.2f} | {tracked:.2f} "
                  f"| {tracked / per_frame:.2f}x |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
