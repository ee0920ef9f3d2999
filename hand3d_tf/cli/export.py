"""hand3d-export: the networks to TFLite in every precision, with sidecars and checks.

    hand3d-export --net=all --weights=weights/ --mode=fp32,fp16 --output_dir=export/
    hand3d-export --net=posenet --mode=int8,int16x8 --calibration_data=data/synthetic
    hand3d-export --net=all --mode=all --check_gpu --report --eval_data=eval.npz
    hand3d-export --noconvert --check_gpu --output_dir=export/   # check existing files

Writes ``<output_dir>/<net>_<mode>.tflite`` + ``.json`` sidecar (and the float SavedModel
``<net>_saved_model/`` with fp32). ``--check_gpu`` prints every TFLite GPU-delegate
finding and exits 1 if an fp32/fp16 model has one; ``--report`` writes
``<output_dir>/accuracy_report.md/.json`` (LiteRT vs Keras on ``--eval_data``).

Exit status 2 on a user error, one line naming the flag or file; the flags, the weights'
metadata and --output_dir are checked before any network is built.
"""

from __future__ import annotations

import logging
import pathlib

from absl import flags

from hand3d_tf.cli.errors import report as report_error
from hand3d_tf.cli.errors import run as run_cli
from hand3d_tf.cli.flag_values import given, parse_hw
from hand3d_tf.export.tflite import MODES, NETS, ExportError

_OVR = {"allow_override": True}
flags.DEFINE_string("net", "all", f"one of {NETS} or 'all'", **_OVR)
flags.DEFINE_list("mode", ["fp32"], f"comma-separated modes of {MODES}, or 'all'", **_OVR)
flags.DEFINE_string(
    "weights",
    "weights",
    "folder with <net>.npz/.json (hand3d-convert-weights), "
    "one weights file stem, or 'random' (paper-size nets, Glorot init)",
    **_OVR,
)
flags.DEFINE_string("output_dir", "export", "where the .tflite and .json files go", **_OVR)
flags.DEFINE_string(
    "calibration_data",
    None,
    "RHD-layout folder (training split read) or "
    "eval.npz; default: render a small synthetic training split",
    **_OVR,
)
flags.DEFINE_integer("num_calibration", 64, "calibration samples", **_OVR)
flags.DEFINE_string("calibration_split", "training", "split read from --calibration_data", **_OVR)
flags.DEFINE_string("input_size", "240x320", "HandSegNet input frame HxW", **_OVR)
flags.DEFINE_integer(
    "handsegnet_output_stride",
    1,
    "1: logits at the input size (legacy "
    "resize inside the model); 8: stride-8 logits, the host upsamples",
    **_OVR,
)
flags.DEFINE_integer("qat_steps", 200, "quantization-aware fine-tuning steps (mode qat)", **_OVR)
flags.DEFINE_float("qat_learning_rate", 1e-5, "Adam learning rate of QAT", **_OVR)
flags.DEFINE_integer("qat_batch_size", 8, "QAT batch size", **_OVR)
flags.DEFINE_bool("saved_model", True, "also write the float SavedModel with fp32", **_OVR)
flags.DEFINE_bool(
    "convert", True, "convert; --noconvert only checks/reports existing files", **_OVR
)
flags.DEFINE_bool("check_gpu", False, "print every GPU-delegate finding", **_OVR)
flags.DEFINE_bool("report", False, "accuracy report of the exports on --eval_data", **_OVR)
flags.DEFINE_string("eval_data", None, "eval.npz of hand3d-make-eval-set (--report)", **_OVR)
flags.DEFINE_integer("report_samples", 0, "eval samples for --report (0 = all)", **_OVR)
flags.DEFINE_integer("threads", 2, "LiteRT CPU threads for --report", **_OVR)
FLAGS = flags.FLAGS


def _selection(net: str, modes: list) -> tuple[tuple, tuple]:
    nets = NETS if net == "all" else (net,)
    modes = MODES if modes == ["all"] else tuple(modes)
    return nets, modes


def _print_gpu(reports) -> int:
    """Print every report; the number of fp32/fp16 models with findings."""
    bad = 0
    for name, report in reports:
        print(report.summary())
        if not report.ok and name.rsplit("_", 1)[-1].split(".")[0] in ("fp32", "fp16"):
            bad += 1
    return bad


def main(argv):
    del argv
    logging.getLogger("hand3d_tf").setLevel(logging.INFO)
    # The converter saves a temporary SavedModel per conversion; keep its INFO lines quiet.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    from hand3d_tf.export import exporter

    try:
        nets, modes = _selection(FLAGS.net, FLAGS.mode)
        if FLAGS.report and not FLAGS.eval_data:
            raise ValueError(
                "--report needs --eval_data=eval.npz (make one with "
                "hand3d-make-eval-set --dataset=synthetic --output=eval.npz)"
            )
        cfg = exporter.ExportConfig(
            nets=nets, modes=modes, weights=given("weights", "weights"), output_dir=given("output_dir", "export"),
            input_size=parse_hw(given("input_size", "240x320")),
            handsegnet_output_stride=FLAGS.handsegnet_output_stride,
            calibration_data=FLAGS.calibration_data, num_calibration=FLAGS.num_calibration,
            calibration_split=FLAGS.calibration_split, qat_steps=FLAGS.qat_steps,
            qat_learning_rate=FLAGS.qat_learning_rate, qat_batch_size=FLAGS.qat_batch_size,
            saved_model=FLAGS.saved_model,
        )  # fmt: skip
        loaded = None
        if FLAGS.convert or FLAGS.report:
            for n in nets:  # cheap checks first: metadata, checksums, the output folder
                exporter.check_weights(n, cfg.weights)
            if FLAGS.convert:
                from hand3d_tf.export.tflite import ensure_writable_dir

                ensure_writable_dir(cfg.output_dir)
            loaded = {n: exporter.load_net(n, cfg.weights, cfg.handsegnet_output_stride)
                      for n in nets}  # fmt: skip
        if FLAGS.convert:
            run = exporter.export_all(cfg, loaded)
            for r in run.results:
                print(f"{r.tflite_path}  {r.sidecar['model_bytes'] / 1e6:.2f} MB  "
                      f"ops {', '.join(r.sidecar['ops'])}")  # fmt: skip
            for path in run.saved_models:
                print(f"{path}  (float SavedModel)")
        status = 0
        if FLAGS.check_gpu:
            reports = exporter.check_exports(cfg.output_dir, nets, modes)
            if not reports:
                raise FileNotFoundError(f"no {nets} x {modes} .tflite files in {cfg.output_dir}")
            status = 1 if _print_gpu(sorted(reports.items())) else 0
        if FLAGS.report:
            from hand3d_tf.export import report

            report.accuracy_report(
                {n: loaded[n].model for n in nets}, cfg.output_dir, FLAGS.eval_data,
                num_samples=FLAGS.report_samples, threads=FLAGS.threads,
            )  # fmt: skip
            print(pathlib.Path(cfg.output_dir, "accuracy_report.md").read_text())
        return status
    except (ValueError, OSError, ExportError) as e:
        # Bad input (mode, weights, calibration data, output dir): one clear line, exit 2.
        return report_error("hand3d-export", e)


def run():
    run_cli(main, "hand3d-export")


if __name__ == "__main__":
    run()
