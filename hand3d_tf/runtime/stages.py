"""The one stage sequence of ColorHandPose3D, on any backend, with an optional stage timer.

    frames -0.5..0.5 --HandSegNet--> logits --glue_segment--> crop --PoseNet--> S3
           --glue_keypoints--> keypoints_uv;   S3 + hand side --lifting--> keypoints_xyz

``run`` is the whole sequence, ``pose_at`` its second half from a given crop (the tracker,
docs/tracking.md). The glue is ``hand3d_tf.glue`` (docs/original.md §5); the networks come
from a backend (``hand3d_tf.runtime.backends``). With a ``StageTimer`` the stages are timed
in ms: ``handsegnet``, ``posenet``, ``lifting`` the networks (a model-file backend: its
``invoke`` only, tensor (de)quantisation and copies go to ``io``), ``glue_segment``
(normalisation, host upsampling of stride-8 logits, blob, box, crop), ``glue_keypoints``
(score-map upsampling, argmax, back-projection); ``total`` the wall time of the frame.
TensorFlow-free.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from hand3d_tf import glue
from hand3d_tf import keypoints as kp

STAGES = ("glue_segment", "handsegnet", "posenet", "glue_keypoints", "lifting", "io")
GLUE_STAGES = ("glue_segment", "glue_keypoints")


class StageTimer:
    """Per-stage wall times (ms) of the last frame: ``times`` holds STAGES and "total".

    ``frame()`` brackets one frame (nested brackets count once, so a public method may call
    another); ``stage(name)`` adds the time of its block to ``name``.
    """

    enabled = True

    def __init__(self):
        self.times: dict[str, float] = {}
        self._depth = 0
        self._start = 0.0

    @contextlib.contextmanager
    def frame(self):
        if self._depth == 0:
            self.times = dict.fromkeys(STAGES, 0.0)
            self._start = time.perf_counter()
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.times["total"] = (time.perf_counter() - self._start) * 1e3

    @contextlib.contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1e3)

    def add(self, name: str, ms: float) -> None:
        self.times[name] = self.times.get(name, 0.0) + ms


class NoTimer:
    """The timer of an untimed pipeline: every bracket is free."""

    enabled = False
    times: dict = {}

    def frame(self):
        return contextlib.nullcontext(self)

    def stage(self, name: str):
        return contextlib.nullcontext()

    def add(self, name: str, ms: float) -> None:
        pass


NO_TIMER = NoTimer()


def segment(backend, frames: np.ndarray, timer=NO_TIMER) -> np.ndarray:
    """HandSegNet logits [B, H, W, 2] float32 at the frames' size (frames -0.5...0.5)."""
    logits = np.asarray(backend.segment(frames, timer))
    with timer.stage("glue_segment"):
        if logits.shape[1:3] != frames.shape[1:3]:  # a stride-8 head: upsample here
            logits = glue.resize_bilinear_legacy(logits, frames.shape[1:3])
        return logits.astype(np.float32, copy=False)


def pose2d(backend, crops: np.ndarray, timer=NO_TIMER) -> np.ndarray:
    """PoseNet's last stage S3 [B, 32, 32, 21] float32 of crops [B, 256, 256, 3] -0.5...0.5."""
    return np.asarray(backend.pose2d(crops, timer)).astype(np.float32, copy=False)


def lift(backend, scoremaps: np.ndarray, sides: np.ndarray, timer=NO_TIMER) -> dict:
    """The lifting's outputs as float32 arrays with "xyz" [B, 21, 3] always present."""
    outputs = backend.lift(scoremaps, sides, timer)
    if not isinstance(outputs, dict):
        outputs = {"xyz": outputs}
    result = {name: np.asarray(v).astype(np.float32, copy=False) for name, v in outputs.items()}
    if "xyz" not in result and "local" in result:  # the "local" variants (docs/original.md §3)
        from hand3d_tf import geometry

        result["xyz"] = geometry.bone_relative_inverse(result["local"]).astype(np.float32)
    if "xyz" not in result:
        raise ValueError(f"lifting model returned {sorted(result)}; expected an 'xyz' output")
    return result


def run(backend, frames: np.ndarray, sides=None, timer=NO_TIMER) -> dict:
    """The whole sequence on frames [B, H, W, 3] float32 -0.5...0.5, in their own frame.

    Returns "logits", "location" (glue.HandLocation) and ``pose_at``'s outputs.
    """
    logits = segment(backend, frames, timer)
    with timer.stage("glue_segment"):
        location = glue.locate_hand(logits)
    out = pose_at(backend, frames, location.center_rowcol, location.scale, sides, timer)
    return dict(logits=logits, location=location, **out)


def pose_at(backend, frames, center_rowcol, scale, sides=None, timer=NO_TIMER) -> dict:
    """Crop at (centre [B, 2] (row, col), scale [B]) -> PoseNet -> keypoints (-> lifting).

    Returns "crop", "scoremaps", "keypoints_uv" [B, 21, 2] (x, y) px, "keypoint_scores" and,
    when ``sides`` (one-hot [B, 2] float32) is given, "keypoints_xyz".
    """
    with timer.stage("glue_segment"):
        crop = glue.crop_hand(frames, center_rowcol, scale)
    scoremaps = pose2d(backend, crop, timer)
    with timer.stage("glue_keypoints"):
        crop_rowcol, scores = glue.keypoints_from_scoremaps(scoremaps)
        rowcol = glue.crop_to_image(crop_rowcol, center_rowcol, scale)
    out = dict(crop=crop, scoremaps=scoremaps, keypoints_uv=rowcol[..., ::-1],
               keypoint_scores=scores)  # fmt: skip
    if sides is not None:
        out["keypoints_xyz"] = lift(backend, scoremaps, sides, timer)["xyz"]
    return out


def check_scoremaps(scoremaps) -> np.ndarray:
    """float32 [B, 32, 32, 21]; ValueError naming the shape otherwise."""
    scoremaps = np.asarray(scoremaps, np.float32)
    want = (glue.SCOREMAP_SIZE, glue.SCOREMAP_SIZE, kp.NUM_KEYPOINTS)
    if scoremaps.ndim != 4 or scoremaps.shape[1:] != want:
        raise ValueError(f"scoremaps must be [B, 32, 32, 21]; received shape {scoremaps.shape}")
    return scoremaps
