"""The networks behind the stage sequence: one small interface, two implementations.

A backend has ``name`` and three methods, each taking a timer (``hand3d_tf.runtime.stages``):
  segment(frames [B, H, W, 3] float32 -0.5...0.5) -> logits [B, H/s, W/s, 2] (s = 1 or 8)
  pose2d(crops [B, 256, 256, 3] float32 -0.5...0.5) -> PoseNet's last stage [B, 32, 32, 21]
  lift(scoremaps [B, 32, 32, 21], sides [B, 2]) -> {"xyz", ...} or the xyz array

``KerasBackend`` calls objects with the tf_keras models' signatures (the "keras" backend;
TensorFlow comes in with the models, never from here). ``ModelFileBackend`` runs exported
model files through ``hand3d_tf.lite.nets.NetModel``: ``.tflite`` on LiteRT ("tflite") or
``.onnx`` on ONNX Runtime ("onnx"); their models have batch 1, so a batch runs one item at
a time, and the timer splits each net's ``invoke`` from the tensor copies ("io").
TensorFlow-free.
"""

from __future__ import annotations

import time

import numpy as np


def _numpy(value) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


class KerasBackend:
    """Three callables with the Keras call signatures (``net(x, training=False)``)."""

    name = "keras"

    def __init__(self, handsegnet, posenet, lifting):
        self.handsegnet, self.posenet, self.lifting = handsegnet, posenet, lifting

    def segment(self, frames, timer):
        with timer.stage("handsegnet"):
            return _numpy(self.handsegnet(frames, training=False))

    def pose2d(self, crops, timer):
        with timer.stage("posenet"):
            outputs = self.posenet(crops, training=False)
            last = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
            return _numpy(last)

    def lift(self, scoremaps, sides, timer):
        with timer.stage("lifting"):
            outputs = self.lifting([scoremaps, sides], training=False)
            if isinstance(outputs, dict):
                return {name: _numpy(value) for name, value in outputs.items()}
            return _numpy(outputs)


class ModelFileBackend:
    """The three nets as ``lite.nets.NetModel`` (batch 1) over one runtime.

    name: "tflite" or "onnx" (what ``source["backend"]`` reports).
    """

    def __init__(self, handsegnet, posenet, lifting, name: str = "tflite"):
        self.models = {"handsegnet": handsegnet, "posenet": posenet, "lifting": lifting}
        for net, model in self.models.items():
            if model.sidecar.net != net:
                raise ValueError(f"{model.entry.path} is a {model.sidecar.net}, not a {net}")
            if model.batch != 1:
                raise ValueError(
                    f"{model.entry.path}: the pipeline needs batch 1, the model has batch "
                    f"{model.batch}"
                )
        self.handsegnet, self.posenet, self.lifting = handsegnet, posenet, lifting
        self.name = name
        self.input_size = handsegnet.sidecar.input_size

    def _run(self, model, timer, **feeds) -> dict:
        start = time.perf_counter()
        model.model.set_inputs(model.prepare(**feeds))
        invoked = time.perf_counter()
        model.model.invoke()
        done = time.perf_counter()
        out = dict(model.outputs())
        timer.add(model.sidecar.net, (done - invoked) * 1e3)
        timer.add("io", ((invoked - start) + (time.perf_counter() - done)) * 1e3)
        return out

    def _check(self, model, role: str, array: np.ndarray) -> None:
        want = model.sidecar.input(role).shape[1:]
        if tuple(array.shape[1:]) != tuple(want):
            raise ValueError(
                f"{model.entry.path.name}: input {role!r} must be [B, "
                f"{', '.join(map(str, want))}]; received {list(array.shape)} (the model has "
                "a fixed size: use its input_size or the Keras backend)"
            )

    def segment(self, frames, timer):
        frames = np.asarray(frames, np.float32)
        self._check(self.handsegnet, "image", frames)
        runs = [self._run(self.handsegnet, timer, image=f[None])["logits"] for f in frames]
        return np.concatenate(runs)

    def pose2d(self, crops, timer):
        crops = np.asarray(crops, np.float32)
        self._check(self.posenet, "image", crops)
        return np.concatenate(
            [self._run(self.posenet, timer, image=c[None])["scoremap"] for c in crops]
        )

    def lift(self, scoremaps, sides, timer):
        scoremaps, sides = np.asarray(scoremaps, np.float32), np.asarray(sides, np.float32)
        self._check(self.lifting, "scoremap", scoremaps)
        runs = [
            self._run(self.lifting, timer, scoremap=s[None], hand_side=h[None])
            for s, h in zip(scoremaps, sides)
        ]
        shapes = {spec.role: spec.shape[1:] for spec in self.lifting.sidecar.outputs}
        return {
            role: np.concatenate([r[role].reshape((1, *shapes[role])) for r in runs])
            for role in runs[0]
        }
