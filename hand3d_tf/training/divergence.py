"""When has a training loss blown up? A robust running level of the recent losses. No TF.

A run with too high a learning rate rarely jumps straight to NaN: its loss climbs for a few
steps (0.3, 40, 1e5, ...) and only then overflows. Weights from those steps are finite, so a
finite-only check keeps them, and a run continued from them starts where the explosion
left off. A checkpoint is good when the loss its weights give is *sane*: within reach of
what the run's loss has recently been.

``LossMonitor`` keeps the last ``WINDOW`` sane losses and judges each new one against their
median and median absolute deviation (MAD, scaled by 1.4826 to a standard deviation for
normal noise); both are unmoved by a few outliers, unlike a mean. A loss has blown up when
it is more than ``FACTOR`` times the median *and* more than ``MADS`` robust deviations above
it: ordinary noise and spikes of a few times the median pass; a climb by orders of
magnitude does not. Blown-up losses do not enter the window, so the level stays the sane
one. With fewer than ``MIN_HISTORY`` losses nothing is judged (the first steps of a run
fall fast). The window travels in each checkpoint's meta.json, so a resumed run judges as
the original would have.
"""

from __future__ import annotations

import collections
import math

WINDOW = 200
MIN_HISTORY = 5
FACTOR = 10.0
MADS = 10.0
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution = 0.6745 sigma


class LossMonitor:
    """The robust level of a run's recent sane losses (module docstring)."""

    def __init__(self, losses=()):
        self.window = collections.deque(
            (float(v) for v in losses if math.isfinite(float(v))), maxlen=WINDOW
        )

    def level(self) -> tuple[float, float] | None:
        """(median, robust standard deviation) of the window; None while it is too short."""
        if len(self.window) < MIN_HISTORY:
            return None
        values = sorted(self.window)
        median = _median(values)
        mad = _median(sorted(abs(v - median) for v in values))
        return median, _MAD_TO_SIGMA * mad

    def blown_up(self, loss: float) -> str | None:
        """Why ``loss`` is not sane (its value against the level), or None when it is.
        A non-finite loss is never sane."""
        if not math.isfinite(loss):
            return f"loss {loss}"
        level = self.level()
        if level is None:
            return None
        median, sigma = level
        if loss > FACTOR * abs(median) and loss > median + MADS * sigma:
            return (
                f"loss {loss:.4g} against a running median of {median:.4g} "
                f"(more than {FACTOR:g}x it and {MADS:g} robust deviations above)"
            )
        return None

    def add(self, loss: float) -> str | None:
        """Judge ``loss`` (``blown_up``) and keep it in the window if it is sane."""
        reason = self.blown_up(loss)
        if reason is None:
            self.window.append(float(loss))
        return reason

    def state(self) -> list[float]:
        """The window, for a checkpoint's meta.json (``LossMonitor(state)`` restores it)."""
        return list(self.window)


def _median(values: list[float]) -> float:
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def checkpoint_blown_up(meta: dict) -> str | None:
    """Why a checkpoint's recorded loss (``next_loss``: the next step's, from its weights;
    else ``probe_loss``) is not sane against the window it recorded (``recent_losses``);
    None when it is, or when the meta records no window (an older checkpoint)."""
    loss = meta.get("next_loss", meta.get("probe_loss"))
    if loss is None or "recent_losses" not in meta:
        return None
    return LossMonitor(meta["recent_losses"]).blown_up(float(loss))
