"""The checks of a TFLite weights folder (the "tflite" backend of ``ColorHandPose3D``).

    from hand3d_tf.pipeline import ColorHandPose3D
    pipe = ColorHandPose3D.from_tflite_dir("weights/default", mode="fp32")
    pipe = ColorHandPose3D.from_pretrained()          # TFLite whenever the files are there

The folder is loaded by ``hand3d_tf.runtime.loader`` into a
``runtime.backends.ModelFileBackend``, which runs the one stage sequence of
``hand3d_tf.runtime.stages``, as the Keras backend does.

A TFLite weights folder holds ``<net>_<mode>.tflite`` with its sidecar ``<net>_<mode>.json``
for the three nets (``tools/export_default.sh`` writes them into ``weights/default``). Each
sidecar is checked against its model file (size, SHA-256, tensors); when the folder also
holds ``<net>.npz``, the sidecar's ``weights_sha256`` must name it, so a model retrained
without re-exporting is refused instead of silently disagreeing with the Keras backend.
TensorFlow-free.
"""

from __future__ import annotations

import importlib.util
import pathlib

from hand3d_tf.constants import NETS
from hand3d_tf.files import sha256_file
from hand3d_tf.lite import sidecar as sc

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


def check_dir(
    directory, mode: str = DEFAULT_MODE, load_sidecar=sc.load_sidecar, sha256=sha256_file
) -> dict[str, sc.Sidecar]:
    """Cheap checks of a TFLite weights folder (reads the sidecars, hashes the files; runs
    no model): {net: Sidecar}. TfliteBackendError naming the folder or the file.

    load_sidecar(path), sha256(path): the readers (``hand3d_tf.runtime.loader`` passes its
    memos, so that a load reads and hashes each file once)."""
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
        car = load_sidecar(sc.sidecar_path(path))
        if (car.net, car.mode) != (net, mode):
            raise TfliteBackendError(f"{car.path} describes {car.net} {car.mode}, not {net} {mode}")
        sc.verify_file(car, path, sha256)
        _check_not_stale(car, directory / f"{net}.npz", sha256)
        cars[net] = car
    return cars


def _check_not_stale(car: sc.Sidecar, npz: pathlib.Path, sha256=sha256_file) -> None:
    recorded = car.raw.get("weights_sha256")
    if not npz.is_file() or recorded is None:
        return
    if sha256(npz) != recorded:
        raise TfliteBackendError(
            f"{car.path} was exported from other weights than {npz} (weights_sha256 "
            f"{str(recorded)[:12]}...): re-export it (tools/export_default.sh)"
        )
