"""hand3d-export: the networks to TFLite in every precision (and ONNX), with sidecars and checks.

Example:
  hand3d-export --net=all --mode=fp32,fp16 --output_dir=export/
  hand3d-export --format=onnx --mode=fp32,fp16 --output_dir=export/   # <net>_<mode>.onnx
  hand3d-export --net=posenet --mode=int8,int16x8 --calibration_data=data/synthetic
  hand3d-export --net=all --mode=all --check_gpu --report --eval_data=eval.npz
  hand3d-export --noconvert --check_gpu --output_dir=export/   # check existing files

Writes <output_dir>/<net>_<mode>.tflite + .json sidecar (and the float SavedModel
<net>_saved_model/ with fp32) from the bundled default model (weights/default) unless
--weights names other weights; --format=onnx (or tflite,onnx) writes <net>_<mode>.onnx +
.onnx.json for fp32/fp16, each checked against Keras first. --check_gpu prints every TFLite GPU-delegate finding and
exits 1 if an fp32/fp16 model has one; --report writes <output_dir>/accuracy_report.md/.json
(LiteRT vs Keras on --eval_data). docs/export.md describes the modes and the sidecar.
Exit status 2 with one line naming the flag or file on a user error; the flags, the
weights' metadata and --output_dir are checked before any network is built.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors
from hand3d_tf.constants import NETS, SPLITS
from hand3d_tf.export.exporter import FORMATS, ONNX_MODES, OUTPUT_STRIDES  # TF-free at import
from hand3d_tf.export.tflite import MODES

FLAGS = flags.FLAGS


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    shared_flags.net(m, default="all", extra=("all",), help="which network; all: the three")
    shared_flags.weights(
        m, help="folder with <net>.npz/.json (hand3d-convert-weights, hand3d-train), one "
        "weights file stem, or 'random' (paper-size nets, Glorot init: size and latency only); "
        "default: the bundled default model, weights/default")  # fmt: skip
    shared_flags.output_dir(m, default="export", help="where the .tflite and .json files go")
    shared_flags.input_size(m, help="HandSegNet input frame HxW")
    DEF = {"module_name": m}
    flags.DEFINE_list("mode", ["fp32"], f"comma-separated modes of {list(MODES)}, or 'all'", **DEF)
    flags.DEFINE_list("format", ["tflite"], f"comma-separated file formats of {list(FORMATS)}; "
                      f"onnx takes the modes {list(ONNX_MODES)} ('all' = both)", **DEF)  # fmt: skip
    flags.DEFINE_string("calibration_data", None, "RHD-layout folder (its --calibration_split "
                        "is read) or an eval.npz; default: render a small synthetic training "
                        "split", **DEF)  # fmt: skip
    flags.DEFINE_integer("num_calibration", 64, "calibration samples", lower_bound=1, **DEF)
    flags.DEFINE_enum("calibration_split", "training", SPLITS, "split read from "
                      "--calibration_data", **DEF)  # fmt: skip
    flags.DEFINE_enum("handsegnet_output_stride", "1", [str(s) for s in OUTPUT_STRIDES],
                      "1: logits at the input size (legacy resize inside the model); "
                      "8: stride-8 logits, the host upsamples", **DEF)  # fmt: skip
    flags.DEFINE_integer("qat_steps", 200, "quantization-aware fine-tuning steps (mode qat)",
                         lower_bound=0, **DEF)  # fmt: skip
    flags.DEFINE_float("qat_learning_rate", 1e-5, "Adam learning rate of QAT", **DEF)
    flags.DEFINE_integer("qat_batch_size", 8, "QAT batch size", lower_bound=1, **DEF)
    flags.DEFINE_bool("saved_model", True, "also write the float SavedModel with fp32", **DEF)
    flags.DEFINE_bool("convert", True, "convert; --noconvert only checks/reports existing "
                      "files", **DEF)  # fmt: skip
    flags.DEFINE_bool("check_gpu", False, "print every GPU-delegate finding; exit 1 if an "
                      "fp32/fp16 model has one", **DEF)  # fmt: skip
    flags.DEFINE_bool("report", False, "accuracy report of the exports on --eval_data", **DEF)
    flags.DEFINE_string("eval_data", None, "eval.npz of hand3d-make-eval-set (--report)", **DEF)
    flags.DEFINE_integer("report_samples", 0, "eval samples for --report (0 = all)",
                         lower_bound=0, **DEF)  # fmt: skip
    flags.DEFINE_integer("threads", 2, "LiteRT CPU threads for --report", lower_bound=1, **DEF)


@dataclasses.dataclass(frozen=True)
class ExportFlags:
    """The command line, checked: each error names its flag."""

    nets: tuple
    modes: tuple
    formats: tuple
    weights: str | None
    output_dir: str
    input_size: tuple
    handsegnet_output_stride: int
    calibration_data: str | None
    num_calibration: int
    calibration_split: str
    qat_steps: int
    qat_learning_rate: float
    qat_batch_size: int
    saved_model: bool
    convert: bool
    check_gpu: bool
    report: bool
    eval_data: str | None
    report_samples: int
    threads: int

    def __post_init__(self):
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise UserError(
                f"--mode: unknown export mode(s) {unknown}; modes are {list(MODES)} or 'all'"
            )
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise UserError(f"--format: unknown format(s) {unknown}; formats are {list(FORMATS)}")
        no_onnx = [m for m in self.modes if m not in ONNX_MODES]
        if "onnx" in self.formats and no_onnx:
            raise UserError(
                f"--mode: {no_onnx} have no ONNX export; --format=onnx takes --mode of "
                f"{list(ONNX_MODES)}"
            )
        if "tflite" not in self.formats and (self.check_gpu or self.report):
            raise UserError("--check_gpu and --report check .tflite files: add --format=tflite")
        if min(self.input_size) < 8:
            raise UserError(f"--input_size must be at least 8x8; received {self.input_size}")
        if not (math.isfinite(self.qat_learning_rate) and self.qat_learning_rate > 0):
            raise UserError(
                f"--qat_learning_rate must be a finite number > 0; received {self.qat_learning_rate}"
            )
        if not self.output_dir:
            raise UserError("--output_dir is required")
        if self.report and not self.eval_data:
            raise UserError(
                "--report needs --eval_data=eval.npz (make one with "
                "hand3d-make-eval-set --dataset=synthetic --output=eval.npz)"
            )

    @classmethod
    def from_flags(cls) -> ExportFlags:
        modes, formats = tuple(FLAGS.mode), tuple(dict.fromkeys(FLAGS.format))
        every = ONNX_MODES if formats == ("onnx",) else MODES
        special = ("nets", "modes", "formats", "input_size")
        names = [f.name for f in dataclasses.fields(cls)]
        plain = {n: FLAGS[n].value for n in names if n not in special}
        return cls(
            **dict(plain, handsegnet_output_stride=int(FLAGS.handsegnet_output_stride)),
            nets=NETS if FLAGS.net == "all" else (FLAGS.net,),
            modes=every if modes == ("all",) else modes,
            formats=formats,
            input_size=shared_flags.hw(FLAGS.input_size),
        )

    def export_config(self):
        from hand3d_tf.export import exporter

        with user_errors(ValueError):  # the library's own checks of the same values
            return exporter.ExportConfig(**dataclasses.asdict(self))


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = ExportFlags.from_flags().export_config()
    # Cheap checks first, each naming its flag: no network is built when one fails.
    if config.convert:
        check_output_dir(config.output_dir)
    if config.report:
        check_input_file(config.eval_data, "--eval_data")
    from hand3d_tf import weights as W
    from hand3d_tf.export import exporter
    from hand3d_tf.export.calibration import CalibrationError
    from hand3d_tf.export.tflite import ExportError

    if config.convert or config.report:
        with user_errors(ExportError, FileNotFoundError, W.WeightsFileError,
                         prefix="--weights: "):  # fmt: skip
            for net in config.nets:
                exporter.check_weights(net, config.weights)
    if config.convert and "onnx" in config.formats:
        from hand3d_tf.export import onnx

        with user_errors(ExportError, prefix="--format=onnx: "):
            onnx.check_tools()
    app.quiet_tensorflow()  # only now: a cheap error above costs no TensorFlow start
    logging.getLogger("hand3d_tf").setLevel(logging.INFO)
    # The converter saves a temporary SavedModel per conversion; keep its INFO lines quiet.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # its per-conversion INFO lines
    bad_input = (ExportError, CalibrationError, W.WeightsFileError, W.WeightMismatchError)
    if config.report:  # a malformed --eval_data is found when the report reads it
        from hand3d_tf.lite.evalset import EvalSetError

        bad_input += (EvalSetError,)
    with user_errors(*bad_input):
        summary = exporter.run_export(config)
    return 1 if summary.gpu_blocking else 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
