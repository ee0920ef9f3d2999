"""Hand tracking between video frames and One-Euro smoothing (docs/tracking.md). NumPy only.

    from hand3d_tf import ColorHandPose3D, tracking
    tracker = tracking.HandTracker(ColorHandPose3D.from_pretrained(),
                                   tracking.TrackingConfig(), tracking.SmoothingConfig())
    for t, frame in enumerate(frames):                  # uint8 RGB [H, W, 3]
        out = tracker.step(frame, "left", timestamp=t / 30)
        out.result.keypoints_uv, out.tracked, out.confidence

Per frame the tracker either *detects* (the full pipeline: HandSegNet -> mask -> crop ->
PoseNet -> lifting, ``pipe.predict``) or *tracks*: the crop comes from the previous frame's
2D keypoints (box, centre and size as the glue takes them from a mask, docs/original.md §5
steps 3-4, side enlarged by ``margin``) and only PoseNet + lifting run (``pipe.predict_at``).
A track is kept while the keypoint confidence (median of the 21 score-map peaks) stays at or
above ``min_confidence`` and at least half of the keypoints lie inside the frame; a tracked
frame that fails either test is re-detected at once, and every ``redetect_every`` frames
HandSegNet runs anyway. The One-Euro filter (Casiez et al. 2012) then smooths the 2D and 3D
keypoints; it restarts whenever a new track starts. With tracking and smoothing disabled
the tracker returns ``pipe.predict``'s results unchanged (the faithful per-frame mode).

``pipe`` is a ``ColorHandPose3D`` on any backend (Keras, TFLite, ONNX; with a
``runtime.stages.StageTimer`` its ``timer.times`` holds the last frame's stage times, the
``handsegnet`` time 0 on a tracked frame), or anything with its ``predict`` and
``predict_at``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hand3d_tf import glue

# A track needs at least this fraction of its 21 keypoints inside the frame: a hand that
# leaves the frame drags the crop to the border, where PoseNet still finds (wrong) maxima.
MIN_INSIDE_FRACTION = 0.5
REASONS = ("start", "per_frame", "every_n", "confidence", "left_frame")


def _check(name: str, value, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {rule}; received {value!r}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- One-Euro filter -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro filter parameters (docs/tracking.md "Smoothing").

    min_cutoff: Hz, the cutoff of a still signal (lower = smoother, more lag when slow).
    beta: s/pixel, how fast the cutoff rises with the 2D keypoints' speed (less lag when fast).
    beta_xyz: the same for the 3D keypoints, per normalised unit (bone 12->11 = 1) per second;
      a hand is about 20 times more pixels than units at 240x320, hence the larger default.
    d_cutoff: Hz, the cutoff of the speed estimate.
    enabled: False = no smoothing (the faithful mode).
    """

    enabled: bool = True
    min_cutoff: float = 0.5
    beta: float = 0.08
    beta_xyz: float = 1.0
    d_cutoff: float = 1.0

    def __post_init__(self):
        _check("enabled", self.enabled, isinstance(self.enabled, bool), "True or False")
        for name in ("min_cutoff", "d_cutoff"):
            value = getattr(self, name)
            _check(name, value, _number(value) and value > 0, "a finite number > 0 (Hz)")
        for name in ("beta", "beta_xyz"):
            value = getattr(self, name)
            _check(name, value, _number(value) and value >= 0, "a finite number >= 0")


def alpha(cutoff, dt):
    """Smoothing factor of a first-order low-pass: 1 / (1 + tau / dt), tau = 1 / (2 pi cutoff)."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), element-wise on any shape.

    Per element, for a sample x at time t (dt = t - t_prev):
      dx     = (x - x_hat_prev) / dt
      dx_hat = a_d dx + (1 - a_d) dx_hat_prev,      a_d = alpha(d_cutoff, dt)
      cutoff = min_cutoff + beta |dx_hat|
      x_hat  = a x + (1 - a) x_hat_prev,            a = alpha(cutoff, dt)
    The first sample (and the first after ``reset``) passes unchanged with dx_hat = 0.
    A sample holding NaN or inf passes unchanged and resets the filter.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        SmoothingConfig(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)  # validates
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes unchanged."""
        self._x = self._dx = self._t = None

    def __call__(self, x, t: float) -> np.ndarray:
        """The filtered sample (float64, x's shape) at time ``t`` seconds (increasing)."""
        x = np.asarray(x, np.float64)
        if not np.all(np.isfinite(x)):
            self.reset()
            return x.copy()
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"sample shape {x.shape} differs from the filter's {self._x.shape}")
        dt = float(t) - self._t
        if not dt > 0:
            raise ValueError(f"timestamps must increase; received {t!r} after {self._t!r}")
        dx = (x - self._x) / dt
        self._dx = alpha(self.d_cutoff, dt) * dx + (1 - alpha(self.d_cutoff, dt)) * self._dx
        a = alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = float(t)
        return self._x.copy()


# --- tracking --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """When to skip HandSegNet (docs/tracking.md "Defaults" gives the measurements).

    min_confidence: a track continues while the median of the 21 keypoint scores (the
      upsampled score-map peaks, ``HandPoseResult.keypoint_scores``) is at least this.
    redetect_every: HandSegNet runs at least every N frames (0 = only when the track is lost).
    margin: the keypoints' box side is enlarged by (1 + margin) before the glue's own x1.25
      (keypoints sit inside the hand's outline, which the mask box covers).
    hold: the crop stays where it is while the keypoints' crop moves its centre by less than
      hold x the crop side and its scale by less than a factor (1 + hold): re-cropping on
      every arg-max step feeds the keypoints' noise back into the crop.
    enabled: False = detect on every frame (per-frame mode).
    """

    enabled: bool = True
    min_confidence: float = 0.1
    redetect_every: int = 15
    margin: float = 0.2
    hold: float = 0.2

    def __post_init__(self):
        _check("enabled", self.enabled, isinstance(self.enabled, bool), "True or False")
        value = self.min_confidence
        _check("min_confidence", value, _number(value), "a finite number")
        value = self.redetect_every
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        _check("redetect_every", value, ok, "an integer >= 0 (0 = only when lost)")
        _check("margin", self.margin, _number(self.margin) and self.margin >= 0, "a number >= 0")
        _check("hold", self.hold, _number(self.hold) and self.hold >= 0, "a number >= 0")


def keypoint_crop(keypoints_uv, image_hw, margin: float) -> tuple[np.ndarray, float]:
    """Crop centre (x, y) [2] and scale from 2D keypoints [21, 2] (x, y) pixels.

    As the glue does for a mask (docs/original.md §5 steps 3-4, hand3d_tf/glue.py mask_box,
    crop_scale): the keypoints clipped to the frame (a mask never leaves it), their box,
    centre = its middle, size = max(width, height) with no +1, here times (1 + margin), then
    scale = clip(256 / (1.25 size), 0.25, 5).
    """
    uv = np.asarray(keypoints_uv, np.float64).reshape(-1, 2)
    height, width = image_hw
    uv = np.clip(uv, 0.0, [width - 1.0, height - 1.0]).astype(np.float32)
    low, high = uv.min(axis=0), uv.max(axis=0)
    center = (low + high) / np.float32(2)
    size = np.max(high - low) * np.float32(1.0 + margin)
    return center.astype(np.float64), float(glue.crop_scale(np.float32([size]))[0])


def confidence(keypoint_scores) -> float:
    """The tracker's confidence: the median of the 21 score-map peaks (robust to a few
    occluded keypoints)."""
    return float(np.median(np.asarray(keypoint_scores, np.float64)))


def inside_fraction(keypoints_uv, image_hw) -> float:
    """Fraction of keypoints [21, 2] (x, y) inside the frame [0, W) x [0, H)."""
    uv = np.asarray(keypoints_uv, np.float64).reshape(-1, 2)
    height, width = image_hw
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    return float(np.mean(inside))


@dataclasses.dataclass(frozen=True)
class TrackedFrame:
    """One frame of ``HandTracker.step``.

    result: a HandPoseResult of batch 1; its keypoints_uv / keypoints_xyz are smoothed when
      smoothing is on. A tracked frame has no mask (all False, zero logits).
    tracked: True = HandSegNet did not run on this frame (the crop came from the last frame).
    reason: why HandSegNet ran (None when tracked): "start" (no track), "per_frame"
      (tracking off), "every_n", "confidence" / "left_frame" (the tracked crop failed).
    confidence: median keypoint score of the result; ok: the result holds a track.
    raw_keypoints_uv [21, 2], raw_keypoints_xyz [21, 3]: before smoothing.
    """

    result: object
    tracked: bool
    reason: str | None
    confidence: float
    ok: bool
    raw_keypoints_uv: np.ndarray
    raw_keypoints_xyz: np.ndarray

    @property
    def handsegnet_ran(self) -> bool:
        return not self.tracked

    def record(self) -> dict:
        """The result's JSON record plus "tracked", "redetect_reason" and "confidence"."""
        record = self.result.record(0)
        record.update(tracked=self.tracked, redetect_reason=self.reason,
                      confidence=self.confidence)  # fmt: skip
        return record


class HandTracker:
    """Runs ``pipe`` frame by frame, tracking and smoothing as configured (module docstring).

    tracking / smoothing: None or enabled=False turn either off. fps: the frame rate used for
    the filter's time steps when ``step`` gets no timestamp.
    """

    def __init__(self, pipe, tracking: TrackingConfig | None = None,
                 smoothing: SmoothingConfig | None = None, fps: float = 30.0):  # fmt: skip
        _check("fps", fps, _number(fps) and fps > 0, "a finite number > 0")
        self.pipe = pipe
        self.tracking = tracking if tracking is not None else TrackingConfig(enabled=False)
        self.smoothing = smoothing if smoothing is not None else SmoothingConfig(enabled=False)
        self.fps = float(fps)
        s = self.smoothing
        self._filter_uv = OneEuroFilter(s.min_cutoff, s.beta, s.d_cutoff)
        self._filter_xyz = OneEuroFilter(s.min_cutoff, s.beta_xyz, s.d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the track and the filters' past (a new video)."""
        self._last = None  # raw keypoints_uv [21, 2] of the last frame that held a track
        self._crop = None  # (center_xy [2], scale) of the last tracked crop
        self._since_detect = 0
        self._frames = 0
        self._filter_uv.reset()
        self._filter_xyz.reset()

    def _next_crop(self, image_hw) -> tuple[np.ndarray, float]:
        """The crop from the last keypoints, or the last crop while that moved little."""
        center_xy, scale = keypoint_crop(self._last, image_hw, self.tracking.margin)
        if self._crop is not None:
            old_center, old_scale = self._crop
            hold = self.tracking.hold
            near = np.max(np.abs(center_xy - old_center)) < hold * glue.CROP_SIZE / old_scale
            if near and abs(math.log(scale / old_scale)) < math.log1p(hold):
                return old_center, old_scale
        self._crop = (center_xy, scale)
        return center_xy, scale

    def _judge(self, result, image_hw) -> tuple[float, str | None]:
        conf = confidence(result.keypoint_scores[0])
        if not bool(result.hand_found[0]) or not conf >= self.tracking.min_confidence:
            return conf, "confidence"
        if inside_fraction(result.keypoints_uv[0], image_hw) < MIN_INSIDE_FRACTION:
            return conf, "left_frame"
        return conf, None

    def step(self, image, hand_side="left", timestamp: float | None = None) -> TrackedFrame:
        """One uint8 RGB frame [H, W, 3] -> TrackedFrame. timestamp: seconds (increasing);
        default frame number / fps."""
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"step takes one frame [H, W, C]; received shape {image.shape}")
        t = self._frames / self.fps if timestamp is None else float(timestamp)
        self._frames += 1
        image_hw = image.shape[:2]
        track = self.tracking
        reason, result = None, None
        if not track.enabled:
            reason = "per_frame"
        elif self._last is None:
            reason = "start"
        elif track.redetect_every and self._since_detect >= track.redetect_every:
            reason = "every_n"
        else:
            center_xy, scale = self._next_crop(image_hw)
            result = self.pipe.predict_at(image, center_xy, scale, hand_side)
            conf, reason = self._judge(result, image_hw)
        if reason is not None:  # HandSegNet runs
            result = self.pipe.predict(image, hand_side)
            conf, failed = self._judge(result, image_hw)
            self._since_detect = 0
        else:
            failed = None
        self._since_detect += 1
        ok = failed is None
        # A new track (none before, or the last one failed) restarts the filters; the
        # scheduled every_n detection refreshes a healthy track and keeps them.
        new_track = ok and (self._last is None or reason in ("confidence", "left_frame"))
        self._last = result.keypoints_uv[0].copy() if ok else None
        if reason is not None:  # a detection: its mask crop is the one to hold
            self._crop = (result.center_xy[0].copy(), float(result.scale[0])) if ok else None
        raw_uv, raw_xyz = result.keypoints_uv[0].copy(), result.keypoints_xyz[0].copy()
        if self.smoothing.enabled:
            if new_track or not ok:
                self._filter_uv.reset()
                self._filter_xyz.reset()
            uv = self._filter_uv(raw_uv, t)
            xyz = self._filter_xyz(raw_xyz, t).astype(np.float32)
            result = dataclasses.replace(result, keypoints_uv=uv[None], keypoints_xyz=xyz[None])
        return TrackedFrame(result, reason is None, reason, conf, ok, raw_uv, raw_xyz)

    def run(self, frames, hand_side="left", fps: float | None = None) -> list[TrackedFrame]:
        """``step`` over a sequence of frames from a fresh state (timestamps frame / fps)."""
        self.reset()
        rate = self.fps if fps is None else float(fps)
        return [self.step(f, hand_side, i / rate) for i, f in enumerate(frames)]
