"""Export jobs: weights -> Keras nets -> calibration / QAT -> ``.tflite`` + sidecars.

The library behind ``hand3d-export`` (the CLI only parses flags). Every check that can
fail does so before the first conversion: nets and modes, the output folder, the weights
of every net (file present, scopes of the right net, exact shapes), and the calibration
data of every calibrated mode.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import tempfile

from hand3d_tf.export import tflite
from hand3d_tf.export.calibration import (
    DEFAULT_NUM_SAMPLES,
    DEFAULT_SPLIT,
    CalibrationError,
    calibration_arrays,
    render_synthetic_split,
    representative_dataset,
)
from hand3d_tf.export.gpu_check import GpuReport, check_gpu_compatibility

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random"
OUTPUT_STRIDES = (1, 8)
# Lifting variants whose graph ends in xyz (the "local" ones need the host-side inverse
# bone transform, models/lifting.py).
EXPORTABLE_VARIANTS = ("proposed", "direct", "bottleneck")
# The pipeline preset QAT fine-tunes on: the original's training noise (docs/original.md §9).
QAT_PRESETS = {"handsegnet": "handsegnet_rhd", "posenet": "posenet_rhd", "lifting": "lifting_rhd"}


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What to export and how.

    Attributes:
      nets / modes: subsets of tflite.NETS / tflite.MODES.
      weights: a weights folder holding ``<net>.npz/.json`` (hand3d-convert-weights
        output), one ``<stem>.npz`` for a single net, or "random" (Glorot init, paper
        size: for latency and size only).
      output_dir: where ``<net>_<mode>.tflite/.json`` go.
      input_size: HandSegNet frame (H, W); PoseNet/lifting have fixed inputs.
      handsegnet_output_stride: 1 = logits at the input size (legacy resize in the
        model, the default: measured faster, docs/export.md); 8 = stride-8 logits.
      calibration_data: RHD-layout dir or eval.npz; None renders a synthetic split.
      num_calibration / calibration_split: samples and split read for calibration.
      qat_steps / qat_learning_rate / qat_batch_size: the qat mode's fine-tuning.
      saved_model: also write the float SavedModel of each net (with fp32).
    """

    nets: tuple = tflite.NETS
    modes: tuple = ("fp32",)
    weights: str = "weights"
    output_dir: str = "export"
    input_size: tuple = (240, 320)
    handsegnet_output_stride: int = 1
    calibration_data: str | None = None
    num_calibration: int = DEFAULT_NUM_SAMPLES
    calibration_split: str = DEFAULT_SPLIT
    qat_steps: int = 200
    qat_learning_rate: float = 1e-5
    qat_batch_size: int = 8
    saved_model: bool = True

    def __post_init__(self):
        for net in self.nets:
            tflite.check_net(net)
        for mode in self.modes:
            tflite.check_mode(mode)
        if self.handsegnet_output_stride not in OUTPUT_STRIDES:
            raise ValueError(
                f"handsegnet_output_stride must be one of {OUTPUT_STRIDES}; "
                f"received {self.handsegnet_output_stride}"
            )
        if len(self.input_size) != 2 or min(self.input_size) < 8:
            raise ValueError(f"input_size must be (H, W), both >= 8; received {self.input_size}")


@dataclasses.dataclass
class LoadedNet:
    """A Keras net ready to export: its weights file (None for random) and lifting variant."""

    net: str
    model: object
    weights_path: str | None
    lifting_variant: str | None


def _weights_stem(weights: str, net: str) -> pathlib.Path:
    path = pathlib.Path(weights)
    if path.is_dir():
        return path / net
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def check_weights(net: str, weights: str) -> None:
    """Cheap check of ``net``'s weights file pair (metadata, checksum, net) before any
    network is built; no TensorFlow.

    Raises:
      tflite.ExportError: no weights file for ``net``.
      hand3d_tf.weights.WeightsFileError: malformed metadata, checksum mismatch, other net.
    """
    from hand3d_tf import weights as wlib

    if weights == RANDOM_WEIGHTS:
        return
    try:
        wlib.read_manifest(_weights_stem(weights, net), net=net)
    except FileNotFoundError as e:
        raise tflite.ExportError(
            f"no weights for {net}: {e}; --weights takes a folder with {net}.npz/.json "
            f"(hand3d-convert-weights), a file stem, or {RANDOM_WEIGHTS!r}"
        ) from e


def load_net(net: str, weights: str, handsegnet_output_stride: int = 1) -> LoadedNet:
    """Build ``net`` from its weights file pair (or randomly) and check that they fit.

    Raises:
      tflite.ExportError: no weights file, or weights of another net.
      hand3d_tf.weights.WeightMismatchError: missing keys or shape conflicts.
    """
    from hand3d_tf import models
    from hand3d_tf import weights as wlib

    tflite.check_net(net)
    config: dict = {}
    arrays = None
    stem = None
    if weights != RANDOM_WEIGHTS:
        stem = _weights_stem(weights, net)
        try:
            arrays, config = wlib.load_weights(stem)
        except FileNotFoundError as e:
            raise tflite.ExportError(
                f"no weights for {net}: {e}; --weights takes a folder with {net}.npz/.json "
                f"(hand3d-convert-weights), a file stem, or {RANDOM_WEIGHTS!r}"
            ) from e
        found = wlib.net_of_keys(arrays)
        if found != net:
            raise tflite.ExportError(
                f"weights {stem}.npz hold {found or 'mixed/unknown'} tensors, not {net} "
                f"(scopes {sorted({k.split('/', 1)[0] for k in arrays})})"
            )
    config = dict(config or {})
    if net == "handsegnet":
        config["upsample"] = handsegnet_output_stride == 1
    variant = config.get("variant", "proposed") if net == "lifting" else None
    if variant is not None and variant not in EXPORTABLE_VARIANTS:
        raise tflite.ExportError(
            f"lifting variant {variant!r} outputs bone-local coordinates; exportable variants "
            f"are {list(EXPORTABLE_VARIANTS)}"
        )
    model = models.build(net, config)
    if arrays is not None:
        wlib.assign_weights(model, arrays, source=f"{stem}.npz")
    return LoadedNet(net, model, f"{stem}.npz" if stem else None, variant)


def _qat_batches(net: str, data: str, cfg: ExportConfig):
    """Training batches for QAT: the net's training pipeline on an RHD-layout dir."""
    from hand3d_tf.data import pipelines
    from hand3d_tf.data.rhd import RHDReader

    reader = RHDReader(data, cfg.calibration_split)
    return getattr(pipelines, f"{net}_dataset")(
        reader, pipelines.preset(QAT_PRESETS[net], batch_size=cfg.qat_batch_size, seed=0)
    )


@dataclasses.dataclass
class ExportRun:
    """Results of :func:`export_all`: one ExportResult per (net, mode), GPU reports."""

    results: list
    gpu_reports: dict
    saved_models: list
    qat_losses: dict


def export_all(cfg: ExportConfig, nets: dict | None = None) -> ExportRun:
    """Run the export jobs of ``cfg``.

    Args:
      nets: already loaded nets {net: LoadedNet} (tests, the report); default: load_net.
    """
    out = tflite.ensure_writable_dir(cfg.output_dir)
    loaded = nets or {n: load_net(n, cfg.weights, cfg.handsegnet_output_stride) for n in cfg.nets}
    shapes = {n: tflite.input_shapes(n, loaded[n].model, cfg.input_size) for n in cfg.nets}
    needs_data = any(m in tflite.CALIBRATED_MODES for m in cfg.modes)
    with tempfile.TemporaryDirectory(prefix="hand3d_calib_") as tmp:
        data = cfg.calibration_data
        if needs_data and data is None:
            log.info("no --calibration_data: rendering %d synthetic samples", cfg.num_calibration)
            data = render_synthetic_split(tmp, cfg.num_calibration, split=cfg.calibration_split)
        if "qat" in cfg.modes and data is not None and not pathlib.Path(data).is_dir():
            raise CalibrationError(
                f"mode 'qat' fine-tunes on the training pipeline: --calibration_data must be "
                f"an RHD-layout folder, not {data!r}"
            )
        calib = {}
        if needs_data:
            for n in cfg.nets:
                arrays = calibration_arrays(
                    n, data, shapes[n], cfg.num_calibration, cfg.calibration_split
                )
                calib[n] = representative_dataset(arrays)
        run = ExportRun([], {}, [], {})
        for n in cfg.nets:
            net = loaded[n]
            for mode in cfg.modes:
                model = net.model
                if mode == "qat":
                    from hand3d_tf.export import qat

                    qcfg = qat.QATConfig(
                        steps=cfg.qat_steps,
                        learning_rate=cfg.qat_learning_rate,
                        lifting_variant=net.lifting_variant or "proposed",
                    )
                    model, losses = qat.finetune(model, n, _qat_batches(n, data, cfg), qcfg)
                    run.qat_losses[n] = losses
                result = tflite.export_tflite(
                    model,
                    n,
                    mode,
                    out,
                    shapes=shapes[n],
                    representative=calib.get(n),
                    lifting_variant=net.lifting_variant,
                    weights_path=net.weights_path,
                )
                run.results.append(result)
                run.gpu_reports[(n, mode)] = check_gpu_compatibility(result.tflite_path)
                if mode == "fp32" and cfg.saved_model:
                    run.saved_models.append(
                        tflite.save_float_savedmodel(net.model, n, out, shapes[n])
                    )
    return run


def check_exports(output_dir, nets=tflite.NETS, modes=tflite.MODES) -> dict[str, GpuReport]:
    """GPU reports of the existing ``<net>_<mode>.tflite`` files in ``output_dir``."""
    reports = {}
    for n in nets:
        for mode in modes:
            path = pathlib.Path(output_dir) / f"{n}_{mode}.tflite"
            if path.is_file():
                reports[path.name] = check_gpu_compatibility(path)
    return reports
