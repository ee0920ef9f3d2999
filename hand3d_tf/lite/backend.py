"""The TFLite backend of ``hand3d_tf.pipeline.ColorHandPose3D``: the three nets as callables.

    from hand3d_tf.pipeline import ColorHandPose3D
    pipe = ColorHandPose3D.from_tflite_dir("weights/default", mode="fp32")
    pipe = ColorHandPose3D.from_pretrained()          # TFLite whenever the files are there

``ColorHandPose3D`` takes its networks as callables with the Keras call signatures
(``handsegnet(frames, training=False)``, ``posenet(crops, training=False)``,
``lifting([scoremaps, sides], training=False)``) and does all the glue in NumPy, so the
TFLite backend is the three adapters below over ``hand3d_tf.lite.nets.NetModel``; the glue
is the very same code for both backends. The exported models have batch 1 (docs/export.md),
so each adapter runs the batch one item at a time.

A TFLite weights folder holds ``<net>_<mode>.tflite`` with its sidecar ``<net>_<mode>.json``
for the three nets (``tools/export_default.sh`` writes them into ``weights/default``). Each
sidecar is checked against its model file (size, SHA-256, tensors); when the folder also
holds ``<net>.npz``, the sidecar's ``weights_sha256`` must name it, so a model retrained
without re-exporting is refused instead of silently disagreeing with the Keras backend.
TensorFlow-free.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import numpy as np

from hand3d_tf.constants import NETS
from hand3d_tf.files import sha256_file
from hand3d_tf.lite import nets as lite_nets
from hand3d_tf.lite import runner
from hand3d_tf.lite import sidecar as sc
from hand3d_tf.quiet import LITERT_NOISE, filtered_stderr

DEFAULT_MODE = sc.REFERENCE_MODE  # fp32: equals the Keras backend within float rounding
RUNTIMES = ("ai_edge_litert", "tflite_runtime")


class TfliteBackendError(ValueError):
    """A TFLite weights folder that cannot be used: files missing, stale or mismatched."""


def model_paths(directory, mode: str = DEFAULT_MODE) -> dict[str, pathlib.Path]:
    """{net: ``<directory>/<net>_<mode>.tflite``} for the three nets (they may not exist)."""
    if mode not in sc.MODES:
        raise ValueError(f"TFLite mode must be one of {list(sc.MODES)}; received {mode!r}")
    return {net: pathlib.Path(directory) / f"{net}_{mode}.tflite" for net in NETS}


def missing_files(directory, mode: str = DEFAULT_MODE) -> list[str]:
    """Names of the ``.tflite`` and sidecar files of ``mode`` that ``directory`` lacks."""
    missing = []
    for path in model_paths(directory, mode).values():
        missing += [p.name for p in (path, sc.sidecar_path(path)) if not p.is_file()]
    return missing


def has_tflite(directory, mode: str = DEFAULT_MODE) -> bool:
    """True if ``directory`` holds the three nets' ``<net>_<mode>.tflite`` + sidecars."""
    return pathlib.Path(directory).is_dir() and not missing_files(directory, mode)


def runtime_installed() -> bool:
    """True if a TFLite runtime (ai-edge-litert or tflite-runtime) can be imported."""
    return any(importlib.util.find_spec(name) is not None for name in RUNTIMES)


def check_dir(directory, mode: str = DEFAULT_MODE) -> dict[str, sc.Sidecar]:
    """Cheap checks of a TFLite weights folder (reads the sidecars, hashes the files; runs
    no model): {net: Sidecar}. TfliteBackendError naming the folder or the file."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise TfliteBackendError(f"TFLite weights folder {directory} not found")
    missing = missing_files(directory, mode)
    if missing:
        raise TfliteBackendError(
            f"{directory} lacks {missing} for the TFLite backend (mode {mode}); "
            "tools/export_default.sh writes them, or use the Keras backend"
        )
    cars = {}
    for net, path in model_paths(directory, mode).items():
        car = sc.load_sidecar(sc.sidecar_path(path))
        if (car.net, car.mode) != (net, mode):
            raise TfliteBackendError(f"{car.path} describes {car.net} {car.mode}, not {net} {mode}")
        sc.verify_file(car, path)
        _check_not_stale(car, directory / f"{net}.npz")
        cars[net] = car
    return cars


def _check_not_stale(car: sc.Sidecar, npz: pathlib.Path) -> None:
    recorded = car.raw.get("weights_sha256")
    if not npz.is_file() or recorded is None:
        return
    if sha256_file(npz) != recorded:
        raise TfliteBackendError(
            f"{car.path} was exported from other weights than {npz} (weights_sha256 "
            f"{str(recorded)[:12]}...): re-export it (tools/export_default.sh)"
        )


def load_models(directory, mode: str = DEFAULT_MODE, threads: int | None = None) -> dict:
    """{net: callable adapter} for ``ColorHandPose3D``, plus the sidecars and the runtime.

    Returns {"handsegnet", "posenet", "lifting": adapters, "sidecars": {net: Sidecar},
    "runtime": runner.Runtime}. threads: interpreter CPU threads (default: every core).
    Raises TfliteBackendError (folder), SidecarError (a sidecar that does not describe
    its model) and ImportError (no TFLite runtime installed; the message names the wheels).
    """
    cars = check_dir(directory, mode)
    runtime = runner.load_runtime()
    threads = int(threads or os.cpu_count() or 1)
    models = {}
    for net, car in cars.items():
        entry = lite_nets.ModelEntry(pathlib.Path(directory) / car.model_file, car)
        with filtered_stderr(LITERT_NOISE):  # LiteRT's "Created ... XNNPACK delegate" line
            model = lite_nets.NetModel(entry, runner.Model(entry.path, runtime, threads=threads))
        if model.batch != 1:
            raise TfliteBackendError(f"{entry.path}: the backend needs batch 1, not {model.batch}")
        models[net] = model
    return {
        "handsegnet": HandSegNetAdapter(models["handsegnet"]),
        "posenet": PoseNetAdapter(models["posenet"]),
        "lifting": LiftingAdapter(models["lifting"]),
        "sidecars": cars,
        "runtime": runtime,
    }


class _Adapter:
    """A NetModel called like the Keras model it was exported from (batch looped)."""

    def __init__(self, model: lite_nets.NetModel):
        self.model = model
        self.sidecar = model.sidecar

    def _check(self, role: str, array: np.ndarray) -> None:
        want = self.sidecar.input(role).shape[1:]
        if tuple(array.shape[1:]) != tuple(want):
            raise ValueError(
                f"{self.model.entry.path.name}: input {role!r} must be [B, "
                f"{', '.join(map(str, want))}]; received {list(array.shape)} (the TFLite "
                "model has a fixed size: use its input_size or the Keras backend)"
            )


class HandSegNetAdapter(_Adapter):
    """frames [B, H, W, 3] float32 in -0.5...0.5 -> logits [B, H/s, W/s, 2] float32."""

    def __call__(self, frames, training=False):
        frames = np.asarray(frames, np.float32)
        self._check("image", frames)
        return np.concatenate([self.model.run(image=f[None])["logits"] for f in frames])


class PoseNetAdapter(_Adapter):
    """crops [B, 256, 256, 3] float32 in -0.5...0.5 -> last stage S3 [B, 32, 32, 21]."""

    def __call__(self, crops, training=False):
        crops = np.asarray(crops, np.float32)
        self._check("image", crops)
        return np.concatenate([self.model.run(image=c[None])["scoremap"] for c in crops])


class LiftingAdapter(_Adapter):
    """[scoremaps [B, 32, 32, 21], hand_side [B, 2]] -> {"xyz", "xyz_canonical",
    "rotation"} with the batch axis first (the outputs the sidecar lists)."""

    def __call__(self, inputs, training=False):
        scoremaps, sides = (np.asarray(x, np.float32) for x in inputs)
        self._check("scoremap", scoremaps)
        runs = [
            self.model.run(scoremap=s[None], hand_side=h[None]) for s, h in zip(scoremaps, sides)
        ]
        shapes = {spec.role: spec.shape[1:] for spec in self.sidecar.outputs}
        return {
            role: np.concatenate([r[role].reshape((1, *shapes[role])) for r in runs])
            for role in runs[0]
        }
