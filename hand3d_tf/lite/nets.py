"""Find the models to benchmark and run them by role (image, scoremap, hand_side -> ...).

A model with a sidecar (``hand3d_tf/lite/sidecar.py``) is checked against it and run by the
roles the sidecar names; one without is "third party": only timed, with random input of
its declared shape and dtype. The model format follows the delegate: ``.tflite`` files run
on LiteRT (``runner.Model``), ``.onnx`` files on ONNX Runtime (``ort.OrtModel``, the
``ort_*`` delegates); ``NetModel`` and everything above it are the same for both.
TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import numpy as np

from hand3d_tf.lite import ort, runner
from hand3d_tf.lite import sidecar as sc


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One ``.tflite`` or ``.onnx`` file to benchmark; ``sidecar`` is None for third-party models."""

    path: pathlib.Path
    sidecar: sc.Sidecar | None
    error: str | None = None  # a sidecar that could not be read: the model is skipped

    @property
    def net(self) -> str | None:
        return self.sidecar.net if self.sidecar else None

    @property
    def mode(self) -> str | None:
        return self.sidecar.mode if self.sidecar else None

    @property
    def label(self) -> str:
        return self.path.stem


def model_suffix(delegate: str) -> str:
    """The model files a delegate runs: ``.onnx`` for the ONNX Runtime ones, else ``.tflite``."""
    return ort.SUFFIX if ort.is_ort(delegate) else ".tflite"


def load_runtime(delegate: str = "xnnpack", prefer: str | None = None) -> runner.Runtime:
    """The runtime a delegate needs: onnxruntime for ``ort_*``, else LiteRT / tflite_runtime
    (``prefer`` as in ``runner.load_runtime``). ImportError naming what to install."""
    return ort.load_runtime() if ort.is_ort(delegate) else runner.load_runtime(prefer)


def load_model(path, runtime, threads=1, delegate="xnnpack", delegate_options=None):
    """A ``runner.Model`` (``.tflite``) or ``ort.OrtModel`` (``.onnx``) of ``path``.

    Raises:
        runner.DelegateError: the file's format is not the one the delegate runs (a
            ``.onnx`` with ``xnnpack``, a ``.tflite`` with ``ort_cpu``), or the delegate fails.
    """
    path = pathlib.Path(path)
    want = model_suffix(delegate)
    if path.suffix != want:
        runs = f"{list(ort.DELEGATES)}" if path.suffix == ort.SUFFIX else "a TFLite delegate"
        raise runner.DelegateError(
            f"{path}: --delegate={delegate} runs {want} models; a {path.suffix or 'suffix-less'} "
            f"file needs {runs}"
        )
    cls = ort.OrtModel if want == ort.SUFFIX else runner.Model
    return cls(path, runtime, threads=threads, delegate=delegate, delegate_options=delegate_options)


def discover(paths: Sequence[str], suffix: str = ".tflite") -> list[ModelEntry]:
    """Model files from directories (non-recursive: the ``suffix`` files) and/or files, with
    their sidecars (``sidecar.sidecar_path``: ``<stem>.json``, ``<stem>.onnx.json``).

    A sidecar that is malformed or does not match its model file (size, SHA-256) becomes
    ``ModelEntry.error`` so that one bad model does not stop the others.
    Order: net (handsegnet, posenet, lifting, third party), then fp32 first, then by name,
    so the fp32 reference of a net is run before the modes compared with it.
    """
    files: list[pathlib.Path] = []
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob(f"*{suffix}")))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"--models: {p} is neither a {suffix} file nor a directory")
    if not files:
        raise FileNotFoundError(f"--models: no {suffix} files in {list(map(str, paths))}")
    entries = []
    for f in dict.fromkeys(files):
        side = sc.sidecar_path(f)
        if not side.exists():
            entries.append(ModelEntry(f, None))
            continue
        try:
            car = sc.load_sidecar(side)
            sc.verify_file(car, f)
            entries.append(ModelEntry(f, car))
        except sc.SidecarError as e:
            entries.append(ModelEntry(f, None, error=str(e)))

    def key(e: ModelEntry):
        net = sc.NETS.index(e.net) if e.net in sc.NETS else len(sc.NETS)
        mode = sc.MODES.index(e.mode) if e.mode in sc.MODES else len(sc.MODES)
        return (net, mode, e.path.name)

    return sorted(entries, key=key)


class NetModel:
    """A loaded model plus its sidecar: ``run(image=..., ...)`` -> {role: float32 array}.

    Args:
        entry: from ``discover``; must have a sidecar.
        model: a ``runner.Model`` or ``ort.OrtModel`` of ``entry.path`` (``load_model``).

    Raises:
        SidecarError: a tensor the sidecar lists is missing or has another shape/dtype,
            or its quantisation differs from the model's.
    """

    def __init__(self, entry: ModelEntry, model):
        if entry.sidecar is None:
            raise ValueError(f"{entry.path}: no sidecar, cannot run it by role")
        self.entry, self.model, self.sidecar = entry, model, entry.sidecar
        details = getattr(model, "tensor_details", None)  # ONNX: symbolic dims kept
        if details is not None:
            in_details, out_details = details("inputs"), details("outputs")
        else:
            in_details = [_details(t) for t in model.inputs]
            out_details = [_details(t) for t in model.outputs]
        self._in_pos = sc.verify_tensors(self.sidecar, "inputs", in_details)
        self._out_pos = sc.verify_tensors(self.sidecar, "outputs", out_details)
        self._check_quantization()
        self.batch = self.sidecar.inputs[0].shape[0]

    def _check_quantization(self) -> None:
        pairs = [(s, self.model.inputs[p]) for s, p in zip(self.sidecar.inputs, self._in_pos)]
        pairs += [(s, self.model.outputs[p]) for s, p in zip(self.sidecar.outputs, self._out_pos)]
        for spec, info in pairs:
            if spec.scale is None or not info.quantized:
                continue
            if (
                not np.isclose(spec.scale, info.scale, rtol=1e-5)
                or spec.zero_point != info.zero_point
            ):
                raise sc.SidecarError(
                    f"{self.sidecar.path}: {spec.name!r} quantization (scale {spec.scale}, "
                    f"zero_point {spec.zero_point}) differs from the model's "
                    f"({info.scale}, {info.zero_point})"
                )

    def prepare(self, **feeds: np.ndarray) -> list[np.ndarray]:
        """Role feeds (float, or uint8 pixels for "image") -> model inputs in their dtypes."""
        arrays: list[np.ndarray | None] = [None] * len(self.model.inputs)
        for spec, pos in zip(self.sidecar.inputs, self._in_pos):
            if spec.role not in feeds:
                raise ValueError(f"{self.entry.path}: needs input role {spec.role!r}")
            x = np.asarray(feeds[spec.role])
            if spec.role == "image" and x.dtype == np.uint8:
                x = normalize_pixels(x, self.sidecar.normalization)
            arrays[pos] = runner.quantize(x.reshape(spec.shape), self.model.inputs[pos])
        return arrays

    def outputs(self) -> list[tuple[str, np.ndarray]]:
        """(role, float32 array) in sidecar order, dequantised."""
        raw = self.model.get_outputs()
        return [
            (spec.role, runner.dequantize(raw[pos], self.model.outputs[pos]))
            for spec, pos in zip(self.sidecar.outputs, self._out_pos)
        ]

    def run(self, **feeds: np.ndarray) -> dict[str, np.ndarray]:
        """set inputs, invoke, read outputs; a repeated role (PoseNet stages) keeps the last."""
        self.model.set_inputs(self.prepare(**feeds))
        self.model.invoke()
        return dict(self.outputs())


def normalize_pixels(pixels: np.ndarray, normalization: dict | None) -> np.ndarray:
    """uint8 pixels -> x = pixel * scale + offset (sidecar "normalization"; docs/original.md §1)."""
    if normalization is None:
        return pixels.astype(np.float32)
    return pixels.astype(np.float32) * np.float32(normalization["scale"]) + np.float32(
        normalization["offset"]
    )


def _details(info: runner.TensorInfo) -> dict:
    return {"name": info.name, "shape": info.shape, "dtype": info.dtype.type}
