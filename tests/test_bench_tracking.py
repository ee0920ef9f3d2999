"""benchmarks/bench_tracking.py: the offline re-smoothing equals a tracked + smoothed run,
and the jitter measure (docs/tracking.md, benchmarks/RESULTS.md "Video")."""

from __future__ import annotations

import numpy as np

from benchmarks import bench_tracking
from hand3d_tf.tracking import HandTracker, SmoothingConfig, TrackingConfig
from tests.test_tracking import FakePipe, _frames


def _noisy_path(n, seed=0):
    rng = np.random.default_rng(seed)
    path = [np.array([100.0 + 2 * t, 120.0]) + rng.normal(0, 3, 2) for t in range(n)]
    path[7] = None  # the hand leaves for a frame: a failed track, then a new one
    return path


def test_resmooth_equals_a_tracked_and_smoothed_run():
    n, length = 24, 12  # two sequences of 12 frames
    hands = _noisy_path(n)
    cfg = SmoothingConfig(enabled=True, min_cutoff=0.5, beta=0.2)
    tracked, smoothed = [], []
    for first in (0, length):
        frames = _frames(n)[first : first + length]
        tracked += HandTracker(FakePipe(hands), TrackingConfig(enabled=True)).run(frames, fps=30)
        runs = HandTracker(FakePipe(hands), TrackingConfig(enabled=True), cfg).run(frames, fps=30)
        smoothed += [r.result.keypoints_uv[0] for r in runs]
    assert any(not f.ok for f in tracked)  # the reset paths are exercised
    again = bench_tracking.resmooth(tracked, cfg, 30.0, length)
    np.testing.assert_allclose(again, np.stack(smoothed), atol=1e-9)
    raw = np.stack([f.raw_keypoints_uv for f in tracked])
    assert np.abs(again - raw).max() > 0.1  # it did smooth


class _Still:
    def __init__(self, uv):
        self.result = type("R", (), {"keypoints_uv": uv[None]})


def test_jitter_is_the_mean_acceleration_within_sequences():
    still = [_Still(np.zeros((21, 2))) for _ in range(5)]
    assert bench_tracking.jitter(still, 5) == 0.0
    # constant velocity has no acceleration; a jump between sequences is not counted
    moving = [_Still(np.full((21, 2), 3.0 * t)) for t in range(5)]
    moving += [_Still(np.full((21, 2), 100.0 + 3.0 * t)) for t in range(5)]
    assert bench_tracking.jitter(moving, 5) == 0.0
    spike = [_Still(np.zeros((21, 2))) for _ in range(5)]
    spike[2] = _Still(np.full((21, 2), [3.0, 4.0]))  # |jump| 5 px at one frame
    # accelerations at t=1, 2, 3: 5, 10, 5 px -> mean 20/3
    assert abs(bench_tracking.jitter(spike, 5) - 20.0 / 3.0) < 1e-9
