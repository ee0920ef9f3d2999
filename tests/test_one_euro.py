"""The One-Euro filter and its config (hand3d_tf/tracking.py, docs/tracking.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hand3d_tf.tracking import OneEuroFilter, SmoothingConfig, alpha


def _reference(samples, times, min_cutoff, beta, d_cutoff):
    """The filter's formulas written out per scalar, one step at a time."""

    def a(cutoff, dt):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    out, x_hat, dx_hat = [samples[0]], samples[0], 0.0
    for k in range(1, len(samples)):
        dt = times[k] - times[k - 1]
        dx = (samples[k] - x_hat) / dt
        dx_hat = a(d_cutoff, dt) * dx + (1 - a(d_cutoff, dt)) * dx_hat
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = a(cutoff, dt) * samples[k] + (1 - a(cutoff, dt)) * x_hat
        out.append(x_hat)
    return out


def test_alpha_is_the_low_pass_factor():
    assert alpha(1.0, 1 / 30) == pytest.approx(1 / (1 + 30 / (2 * math.pi)))
    assert alpha(1e9, 0.1) == pytest.approx(1.0)


def test_matches_the_reference_recurrence_element_wise():
    # A ramp with a step on uneven time steps, on a [21, 2] array whose elements differ.
    times = [0.0, 0.03, 0.07, 0.1, 0.16, 0.2, 0.23]
    base = [0.0, 1.0, 2.5, 2.0, 9.0, 9.5, 9.2]
    offsets = np.arange(42, dtype=np.float64).reshape(21, 2)
    gains = 1.0 + offsets / 10
    f = OneEuroFilter(min_cutoff=1.5, beta=0.3, d_cutoff=2.0)
    got = np.stack([f(offsets + gains * b, t) for b, t in zip(base, times)])
    for r in range(21):
        for c in range(2):
            samples = [offsets[r, c] + gains[r, c] * b for b in base]
            want = _reference(samples, times, 1.5, 0.3, 2.0)
            np.testing.assert_allclose(got[:, r, c], want, rtol=1e-12, atol=1e-12)


def test_reduces_jitter_on_a_noisy_constant_signal():
    rng = np.random.default_rng(0)
    noisy = 100.0 + rng.normal(0, 2.0, (120, 21, 3))
    f = OneEuroFilter(**_params(SmoothingConfig()))
    smooth = np.stack([f(x, k / 30) for k, x in enumerate(noisy)])
    raw_jitter = np.abs(np.diff(noisy[30:], 2, axis=0)).mean()
    smooth_jitter = np.abs(np.diff(smooth[30:], 2, axis=0)).mean()
    assert smooth_jitter < 0.3 * raw_jitter  # measured 0.17
    assert np.abs(smooth[30:] - 100).mean() < 0.6 * np.abs(noisy[30:] - 100).mean()  # 0.44


def _params(config: SmoothingConfig) -> dict:
    return dict(min_cutoff=config.min_cutoff, beta=config.beta, d_cutoff=config.d_cutoff)


def test_reset_forgets_the_past():
    f = OneEuroFilter(1.0, 0.1, 1.0)
    f(np.zeros(3), 0.0)
    f(np.ones(3), 0.1)
    f.reset()
    np.testing.assert_array_equal(f(np.full(3, 7.0), 0.2), np.full(3, 7.0))
    fresh = OneEuroFilter(1.0, 0.1, 1.0)
    fresh(np.full(3, 7.0), 0.0)
    np.testing.assert_array_equal(f(np.full(3, 8.0), 0.3), fresh(np.full(3, 8.0), 0.1))


def test_non_finite_sample_passes_and_resets():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    f(np.zeros(2), 0.0)
    nan = f(np.array([np.nan, 1.0]), 0.1)
    assert np.isnan(nan[0]) and nan[1] == 1.0
    np.testing.assert_array_equal(f(np.array([5.0, 5.0]), 0.2), [5.0, 5.0])  # restarted


def test_errors_name_the_value():
    f = OneEuroFilter()
    f(np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="timestamps must increase; received 1.0 after 1.0"):
        f(np.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"sample shape \(3,\) differs .* \(2,\)"):
        f(np.zeros(3), 2.0)
    with pytest.raises(ValueError, match="min_cutoff must be a finite number > 0 .*received 0"):
        SmoothingConfig(min_cutoff=0)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0; received -1"):
        OneEuroFilter(beta=-1)
    with pytest.raises(ValueError, match="d_cutoff .*received inf"):
        SmoothingConfig(d_cutoff=float("inf"))
    with pytest.raises(ValueError, match="enabled must be True or False; received 'yes'"):
        SmoothingConfig(enabled="yes")
