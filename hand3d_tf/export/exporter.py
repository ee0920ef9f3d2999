"""Export jobs: weights -> Keras nets -> calibration / QAT -> ``.tflite`` / ``.onnx`` + sidecars.

The library behind ``hand3d-export`` (the CLI only parses flags and calls
:func:`run_export`). Every check that can fail does so before the first conversion: nets
and modes, the output folder, the weights of every net (file present, scopes of the right
net, exact shapes), and the calibration data of every calibrated mode.

    from hand3d_tf.export import exporter
    exporter.run_export(exporter.ExportConfig(nets=("posenet",), modes=("fp32", "fp16")))
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import tempfile

from hand3d_tf.constants import DEFAULT_INPUT_SIZE
from hand3d_tf.export import onnx as onnx_export
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
# The file formats: TFLite in every mode (tflite.py), ONNX from the float models (onnx.py).
FORMATS = ("tflite", "onnx")
ONNX_MODES = onnx_export.MODES
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
      formats: subset of FORMATS: ``<net>_<mode>.tflite`` and/or ``<net>_<mode>.onnx``;
        with "onnx" every mode must be one of ONNX_MODES; --check_gpu, --report and the
        SavedModel are the TFLite files' and need "tflite".
      onnx_opset: the ONNX opset (onnx.DEFAULT_OPSET).
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
      convert: convert; False only checks / reports the existing files in output_dir.
      check_gpu: check every ``<net>_<mode>.tflite`` for GPU-delegate findings.
      report: accuracy report of the exports on ``eval_data`` (an eval.npz of
        hand3d-make-eval-set), ``report_samples`` samples (0 = all), ``threads`` LiteRT
        CPU threads.

    ``weights=None`` means the bundled default model (``pipeline.DEFAULT_WEIGHTS_DIR``).
    """

    nets: tuple = tflite.NETS
    modes: tuple = ("fp32",)
    formats: tuple = ("tflite",)
    onnx_opset: int = onnx_export.DEFAULT_OPSET
    weights: str | None = None
    output_dir: str = "export"
    input_size: tuple = DEFAULT_INPUT_SIZE
    handsegnet_output_stride: int = 1
    calibration_data: str | None = None
    num_calibration: int = DEFAULT_NUM_SAMPLES
    calibration_split: str = DEFAULT_SPLIT
    qat_steps: int = 200
    qat_learning_rate: float = 1e-5
    qat_batch_size: int = 8
    saved_model: bool = True
    convert: bool = True
    check_gpu: bool = False
    report: bool = False
    eval_data: str | None = None
    report_samples: int = 0
    threads: int = 2

    def __post_init__(self):
        if self.weights is None:
            from hand3d_tf.pipeline import DEFAULT_WEIGHTS_DIR

            object.__setattr__(self, "weights", str(DEFAULT_WEIGHTS_DIR))
        if not self.nets or not self.modes:
            raise ValueError(f"nothing to export: nets={self.nets!r}, modes={self.modes!r}")
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
        if self.report and not self.eval_data:
            raise ValueError(
                "the accuracy report needs eval_data=eval.npz (make one with "
                "hand3d-make-eval-set --dataset=synthetic --output=eval.npz)"
            )
        self._check_formats()

    def _check_formats(self):
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ValueError(f"unknown format(s) {unknown}; formats are {list(FORMATS)}")
        if "onnx" in self.formats:
            no_onnx = [m for m in self.modes if m not in ONNX_MODES]
            if no_onnx:
                raise ValueError(
                    f"mode(s) {no_onnx} have no ONNX export; with format onnx the modes "
                    f"are {list(ONNX_MODES)} (TensorRT quantises the fp32 file itself)"
                )
        if "tflite" not in self.formats and (self.check_gpu or self.report):
            raise ValueError("check_gpu and report check the .tflite files; add format tflite")


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
    onnx_results: list = dataclasses.field(default_factory=list)


def export_all(cfg: ExportConfig, nets: dict | None = None) -> ExportRun:
    """Run the export jobs of ``cfg``.

    Args:
      nets: already loaded nets {net: LoadedNet} (tests, the report); default: load_net.
    """
    out = tflite.ensure_writable_dir(cfg.output_dir)
    if "onnx" in cfg.formats:
        onnx_export.check_tools()
    loaded = nets or {n: load_net(n, cfg.weights, cfg.handsegnet_output_stride) for n in cfg.nets}
    shapes = {n: tflite.input_shapes(n, loaded[n].model, cfg.input_size) for n in cfg.nets}
    run = ExportRun([], {}, [], {})
    if "onnx" in cfg.formats:
        run.onnx_results = _export_onnx(cfg, loaded, shapes, out)
    if "tflite" not in cfg.formats:
        return run
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


def _export_onnx(cfg: ExportConfig, loaded: dict, shapes: dict, out: pathlib.Path) -> list:
    """``<net>_<mode>.onnx`` + sidecar for every net and mode; one tf2onnx run per net."""
    results = []
    for n in cfg.nets:
        net = loaded[n]
        fp32 = onnx_export.convert(n, net.model, shapes[n], cfg.onnx_opset)
        for mode in cfg.modes:
            results.append(
                onnx_export.export_onnx(
                    net.model, n, mode, out, shapes=shapes[n], opset=cfg.onnx_opset,
                    lifting_variant=net.lifting_variant, weights_path=net.weights_path,
                    fp32=fp32,
                )
            )  # fmt: skip
    return results


def check_exports(output_dir, nets=tflite.NETS, modes=tflite.MODES) -> dict[str, GpuReport]:
    """GPU reports of the existing ``<net>_<mode>.tflite`` files in ``output_dir``."""
    reports = {}
    for n in nets:
        for mode in modes:
            path = pathlib.Path(output_dir) / f"{n}_{mode}.tflite"
            if path.is_file():
                reports[path.name] = check_gpu_compatibility(path)
    return reports


# Modes whose exports must have no GPU-delegate finding (docs/export.md).
GPU_MODES = ("fp32", "fp16")


@dataclasses.dataclass
class ExportSummary:
    """What :func:`run_export` did.

    Attributes:
      run: the conversions (None with ``convert=False``).
      gpu_reports: {file name: GpuReport} of the checked files (``check_gpu``).
      gpu_blocking: the fp32/fp16 files with a GPU-delegate finding (sorted).
      report_rows: the accuracy report's rows (``report``), else None.
    """

    run: ExportRun | None = None
    gpu_reports: dict = dataclasses.field(default_factory=dict)
    gpu_blocking: list = dataclasses.field(default_factory=list)
    report_rows: list | None = None


def run_export(cfg: ExportConfig, log=print) -> ExportSummary:
    """Everything ``hand3d-export`` does: convert, check for the GPU delegate, report.

    Cheap checks first (each net's weights metadata and checksum, the output folder), then
    the nets are built, converted (:func:`export_all`), checked and reported; ``log``
    receives one line per written file, every GPU finding and the report table.

    Raises (before any conversion): tflite.ExportError (no weights, weights of another
    net, an output folder that cannot be written, no files to check), WeightsFileError,
    WeightMismatchError, CalibrationError.
    """
    loaded = None
    if cfg.convert or cfg.report:
        for n in cfg.nets:  # cheap checks first: metadata, checksums, the output folder
            check_weights(n, cfg.weights)
        if cfg.convert:
            tflite.ensure_writable_dir(cfg.output_dir)
        if cfg.convert and "onnx" in cfg.formats:
            onnx_export.check_tools()
        loaded = {n: load_net(n, cfg.weights, cfg.handsegnet_output_stride) for n in cfg.nets}
    summary = ExportSummary()
    if cfg.convert:
        summary.run = export_all(cfg, loaded)
        for r in summary.run.results:
            log(f"{r.tflite_path}  {r.sidecar['model_bytes'] / 1e6:.2f} MB  "
                f"ops {', '.join(r.sidecar['ops'])}")  # fmt: skip
        for r in summary.run.onnx_results:
            worst = max(r.max_rel_error.values())
            log(f"{r.onnx_path}  {r.sidecar['model_bytes'] / 1e6:.2f} MB  opset "
                f"{r.sidecar['opset']}  max rel. error vs Keras {worst:.2g}")  # fmt: skip
        for path in summary.run.saved_models:
            log(f"{path}  (float SavedModel)")
    if cfg.check_gpu:
        summary.gpu_reports = check_exports(cfg.output_dir, cfg.nets, cfg.modes)
        if not summary.gpu_reports:
            raise tflite.ExportError(
                f"no {list(cfg.nets)} x {list(cfg.modes)} .tflite files in {cfg.output_dir}"
            )
        for name, report in sorted(summary.gpu_reports.items()):
            log(report.summary())
            if not report.ok and name.rsplit("_", 1)[-1].split(".")[0] in GPU_MODES:
                summary.gpu_blocking.append(name)
    if cfg.report:
        from hand3d_tf.export import accuracy_report

        summary.report_rows = accuracy_report.accuracy_report(
            {n: loaded[n].model for n in cfg.nets}, cfg.output_dir, cfg.eval_data,
            num_samples=cfg.report_samples, threads=cfg.threads,
        )  # fmt: skip
        log(pathlib.Path(cfg.output_dir, "accuracy_report.md").read_text())
    return summary
