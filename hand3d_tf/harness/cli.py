"""The harness's console scripts: hand3d-benchmark, hand3d-benchmark-compare,
hand3d-benchmark-android, hand3d-benchmark-trtexec. TensorFlow-free; they run from
``pip install hand3d_tf`` (the ``ort_*`` delegates also need ``[onnx]``).

They keep argparse rather than the absl shape of hand3d_tf/cli/: their flags are the
device tools' own (``--threads=1,2,4`` is a list here and one integer in hand3d-export,
``--models`` and ``--runs`` mean other things than in the training tools), and a phone or
board user reads only these. Like every hand3d command, a bad flag or file is one
line ``<prog>: error: ...`` with exit status 2; a failed model or pipeline is exit status 1
after all results are written. ``python -m benchmarks.run`` / ``.compare`` / ``.android`` / ``.trtexec``
in a checkout call the same functions.
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys

from hand3d_tf.lite import ort, runner

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, exit status 2."""

    def __init__(self, prog: str, doc: str):
        super().__init__(
            prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _fail(prog: str, error) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


def _output_dir(p: _Parser, path: str, flag: str = "--output_dir") -> None:
    """hand3d_tf.paths' one output-folder check, as this parser's one-line error."""
    from hand3d_tf import paths

    try:
        paths.check_output_folder(path, f"{flag}={path}")
    except paths.OutputPathError as err:
        p.error(str(err))


def _at_least(p: _Parser, args, minimum: int, *names: str) -> None:
    """A one-line error for the first integer flag of ``names`` below ``minimum`` (None:
    not given)."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < minimum:
            p.error(f"--{name} must be >= {minimum}; received {value}")


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return values


DELEGATE_CHOICES = runner.DELEGATE_CHOICES[:-1] + ort.DELEGATES + runner.DELEGATE_CHOICES[-1:]


def _delegate(text: str) -> str:
    if text in runner.BUILTIN_DELEGATES or text in runner.ACCELERATORS or ort.is_ort(text):
        return text
    if text.endswith((".so", ".dylib", ".dll")) or "/" in text:
        return text
    raise argparse.ArgumentTypeError(f"use one of {list(DELEGATE_CHOICES)}, or a .so path")


def _trt_options(args, p) -> list[tuple[str, str]]:
    """--trt_fp16 / --trt_int8 / --trt_engine_cache as TensorRT provider options."""
    wanted = [("trt_fp16_enable", "True")] if args.trt_fp16 else []
    wanted += [("trt_int8_enable", "True")] if args.trt_int8 else []
    if args.trt_engine_cache:
        wanted += [
            ("trt_engine_cache_enable", "True"),
            ("trt_engine_cache_path", args.trt_engine_cache),
        ]
    if wanted and args.delegate != "ort_tensorrt":
        flags = [f for f in ("trt_fp16", "trt_int8", "trt_engine_cache") if getattr(args, f)]
        p.error(f"--{flags[0]} needs --delegate=ort_tensorrt; received --delegate={args.delegate}")
    return wanted


def _models(item: str) -> str:
    """A --models entry; ``default`` is the bundled model's folder (weights/default of a
    checkout, or <prefix>/share/hand3d_tf/weights/default of a pip install)."""
    if item != "default":
        return item
    from hand3d_tf import pipeline

    return str(pipeline.DEFAULT_WEIGHTS_DIR)


def _command(prog: str, argv) -> str:
    return " ".join([prog] + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])


# --- hand3d-benchmark ------------------------------------------------------------------------

BENCHMARK_DOC = """\
hand3d-benchmark: time and score exported .tflite (or .onnx) models and the end-to-end
pipeline on this device, without TensorFlow.

Example:
  hand3d-benchmark --models=export/ --eval_set=eval.npz --threads=1,2,4 \\
      --delegate=xnnpack --runs=100 --warmup=10 --output_dir=results/
  hand3d-benchmark --models=default --runs=20 --output_dir=results/   # the bundled model
  hand3d-benchmark --models=export/ --delegate=ort_tensorrt --trt_fp16 \\
      --trt_engine_cache=trt_cache/ --output_dir=results/   # the .onnx files, ONNX Runtime

Writes <output_dir>/<name>.json, .csv, .md and three PNG plots, prints the markdown table,
and exits with status 1 if any model or pipeline failed (the results are still written).
Reading the results: docs/benchmarking.md; devices: docs/devices.md.
"""


def benchmark_parser() -> argparse.ArgumentParser:
    p = _Parser("hand3d-benchmark", BENCHMARK_DOC)
    add = p.add_argument
    add(
        "--models",
        default="export/",
        help="comma-separated model files and/or folders (.tflite; .onnx with the ort_* "
        "delegates); 'default' is the bundled model's folder (default export/)",
    )
    add(
        "--eval_set",
        default=None,
        help="eval.npz from hand3d-make-eval-set; "
        "without it only latency is measured, on random inputs",
    )
    add("--num_eval", type=int, default=0, help="use the first N eval samples (0 = all)")
    add("--threads", type=_ints, default=[1], help="e.g. 1,2,4 (default 1)")
    add(
        "--delegate",
        type=_delegate,
        default="xnnpack",
        help=f"one of {list(DELEGATE_CHOICES)} or a delegate .so (default xnnpack); "
        "ort_cpu|ort_cuda|ort_tensorrt run the .onnx files on ONNX Runtime with that "
        "execution provider (pip install 'hand3d_tf[onnx]')",
    )
    add(
        "--delegate_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option for an external delegate, or the ONNX Runtime provider's (repeatable)",
    )
    add("--trt_fp16", action="store_true", help="ort_tensorrt: build fp16 engines")
    add(
        "--trt_int8",
        action="store_true",
        help="ort_tensorrt: build int8 engines "
        "(needs a calibration table: --delegate_option=trt_int8_calibration_table_name=...)",
    )
    add(
        "--trt_engine_cache",
        default=None,
        metavar="DIR",
        help="ort_tensorrt: keep the built engines in DIR and reuse them next time",
    )
    add("--runs", type=int, default=100, help="timed runs per model (default 100)")
    add("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    add(
        "--pipeline_runs",
        type=int,
        default=None,
        help="timed frames per pipeline (default: --runs)",
    )
    add("--no_pipeline", action="store_true", help="skip the end-to-end pipeline")
    add("--output_dir", default="results/", help="where results go (default results/)")
    add(
        "--name",
        default=None,
        help="run label and file stem (default <host>_<delegate>_<timestamp>)",
    )
    add(
        "--runtime",
        choices=("ai_edge_litert", "tflite_runtime"),
        default=None,
        help="force a TFLite runtime (default: ai_edge_litert, else tflite_runtime); "
        "the ort_* delegates always run on onnxruntime",
    )
    add("--no_plots", action="store_true", help="skip the PNG plots")
    add("--no_progress", action="store_true", help="no progress bar")
    add("--seed", type=int, default=0, help="seed of random inputs")
    return p  # fmt: skip


def benchmark_main(argv=None) -> int:
    """hand3d-benchmark; returns the exit status (0 ok, 1 a model failed, 2 a user error)."""
    from hand3d_tf.harness import benchmark_run
    from hand3d_tf.lite.evalset import EvalSetError

    p = benchmark_parser()
    args = p.parse_args(argv)
    _at_least(p, args, 1, "runs")
    _at_least(p, args, 0, "warmup", "num_eval", "pipeline_runs", "seed")
    for opt in args.delegate_option:
        if "=" not in opt:
            p.error(f"--delegate_option={opt!r} must be KEY=VALUE")
    if args.runtime and ort.is_ort(args.delegate):
        p.error(
            f"--runtime={args.runtime} is a TFLite runtime; --delegate={args.delegate} runs on onnxruntime"
        )
    options = [tuple(o.split("=", 1)) for o in args.delegate_option] + _trt_options(args, p)
    _output_dir(p, args.output_dir)  # before any model is loaded
    config = benchmark_run.HarnessConfig(
        models=tuple(_models(m) for m in args.models.split(",") if m),
        eval_set=args.eval_set,
        num_eval=args.num_eval,
        threads=tuple(args.threads),
        delegate=args.delegate,
        delegate_options=tuple(options),
        runs=args.runs,
        warmup=args.warmup,
        pipeline_runs=args.pipeline_runs,
        pipelines=not args.no_pipeline,
        output_dir=args.output_dir,
        name=args.name,
        runtime=args.runtime,
        plots=not args.no_plots,
        progress=not args.no_progress,
        seed=args.seed,
        command=_command(p.prog, argv),
    )
    try:
        run = benchmark_run.run_harness(config)
    except (EvalSetError, ImportError, FileNotFoundError) as e:
        return _fail(p.prog, e)
    print(run.table)
    print(f"results: {', '.join(str(path) for path in run.paths)}")
    for line in run.failures:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if run.failures else 0


# --- hand3d-benchmark-compare ----------------------------------------------------------------

COMPARE_DOC = """\
hand3d-benchmark-compare: one table across benchmark runs and devices, precisions side by side.

Example:
  hand3d-benchmark-compare results/*.json --stat=median --output=compare.md

Rows: (run, device, threads, delegate, net); columns: one per precision; a cell is
"latency ms (speed-up over fp32) · headline accuracy". Runs of hand3d-benchmark and
hand3d-benchmark-android mix.
"""


def compare_main(argv=None) -> int:
    from hand3d_tf.atomic import atomic_write
    from hand3d_tf.harness import compare

    p = _Parser("hand3d-benchmark-compare", COMPARE_DOC)
    p.add_argument("results", nargs="+", help="results JSON files (hand3d-benchmark[-android])")
    p.add_argument("--stat", choices=compare.STATS, default="median", help="latency statistic")
    p.add_argument("--output", default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    try:
        text = compare.compare_files(args.results, args.stat)
        if args.output:
            atomic_write(args.output, text)
    except ValueError as e:
        return _fail(p.prog, e)
    except OSError as e:
        return _fail(p.prog, f"--output={args.output}: {e.strerror or e}")
    print(text)
    return 0


# --- hand3d-benchmark-android ----------------------------------------------------------------

ANDROID_DOC = """\
hand3d-benchmark-android: benchmark .tflite models on an Android phone with TFLite's
benchmark_model, through adb.

Example:
  hand3d-benchmark-android --benchmark_binary=PATH/benchmark_model --models=export/ \\
      --threads=1,4 --delegate=xnnpack --runs=50 --output_dir=results/ [--serial=ID]

Pushes the binary and the models to --device_dir, runs benchmark_model per model and
thread count and writes its numbers in hand3d-benchmark's results format (latency only),
so hand3d-benchmark-compare puts phones and boards in one table.
"""


def android_main(argv=None) -> int:
    from hand3d_tf.harness import android

    p = _Parser("hand3d-benchmark-android", ANDROID_DOC)
    add = p.add_argument
    add(
        "--benchmark_binary",
        required=True,
        help="TFLite benchmark_model built for the phone's ABI (pushed to the phone)",
    )
    add("--models", default="export/", help="comma-separated .tflite files/folders")
    add("--adb", default="adb", help="adb executable")
    add("--serial", default=None, help="device serial (adb -s)")
    add("--device_dir", default="/data/local/tmp/hand3d")
    add("--threads", type=_ints, default=[1, 4], help="comma-separated thread counts")
    add(
        "--delegate",
        default="xnnpack",
        help=f"{list(android.DELEGATE_FLAGS)} or a delegate .so path ON THE PHONE",
    )
    add("--runs", type=int, default=50)
    add("--warmup", type=int, default=5)
    add("--op_profiling", action="store_true", help="per-op-type profile")
    add("--extra", action="append", default=[], help="extra benchmark_model flag")
    add("--output_dir", default="results/")
    add("--name", default=None, help="run label / file stem")
    args = p.parse_args(argv)  # fmt: skip
    _at_least(p, args, 1, "runs")
    _at_least(p, args, 0, "warmup")
    _output_dir(p, args.output_dir)
    config = android.AndroidConfig(
        benchmark_binary=args.benchmark_binary,
        models=tuple(m for m in args.models.split(",") if m),
        adb=args.adb,
        serial=args.serial,
        device_dir=args.device_dir,
        threads=tuple(args.threads),
        delegate=args.delegate,
        runs=args.runs,
        warmup=args.warmup,
        op_profiling=args.op_profiling,
        extra=tuple(args.extra),
        output_dir=args.output_dir,
        name=args.name,
        command=_command(p.prog, argv),
    )
    try:
        result, _, failed = android.run_android(config)
    except (FileNotFoundError, android.BenchmarkModelError) as e:
        return _fail(p.prog, e)
    from hand3d_tf.harness import result_files

    print(result_files.markdown(result))
    for r in failed:
        print(f"FAILED: {r['file']} ({r['threads']} threads): {r['error']}", file=sys.stderr)
    return 1 if failed else 0


# --- hand3d-benchmark-trtexec ----------------------------------------------------------------

TRTEXEC_DOC = """\
hand3d-benchmark-trtexec: read TensorRT trtexec logs (one per model and precision) into
hand3d-benchmark's results format.

Example (on a Jetson; the trtexec commands: docs/devices.md):
  trtexec --onnx=export/posenet_fp32.onnx --fp16 --saveEngine=posenet_fp16.engine \\
      | tee logs/posenet_fp16.log
  hand3d-benchmark-trtexec logs/*.log --name=orin_maxn --output_dir=results/

Writes <output_dir>/<name>.json, .csv and .md (host latency per engine, GPU compute time
and engine build time in the JSON), so hand3d-benchmark-compare puts the TensorRT engines
beside the LiteRT and ONNX Runtime runs.
"""


def trtexec_main(argv=None) -> int:
    from hand3d_tf.harness import result_files, trtexec

    p = _Parser("hand3d-benchmark-trtexec", TRTEXEC_DOC)
    p.add_argument("logs", nargs="+", help="trtexec output files")
    p.add_argument("--output_dir", default="results/", help="where results go (default results/)")
    p.add_argument("--name", default="trtexec", help="run label and file stem (default trtexec)")
    args = p.parse_args(argv)
    _output_dir(p, args.output_dir)
    try:
        result = trtexec.results_from_logs(args.logs, args.name, _command(p.prog, argv))
    except trtexec.TrtexecParseError as e:
        return _fail(p.prog, e)
    except OSError as e:
        return _fail(p.prog, f"{e.filename}: {e.strerror or e}")
    from hand3d_tf.atomic import atomic_write

    out = pathlib.Path(args.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        table = result_files.markdown(result)
        result_files.write_json(result, out / f"{args.name}.json")
        result_files.write_csv(result, out / f"{args.name}.csv")
        atomic_write(out / f"{args.name}.md", table)
    except OSError as e:
        return _fail(p.prog, f"--output_dir={args.output_dir}: {e.strerror or e}")
    print(table)
    return 0


# --- console-script entry points (setup.py) ---------------------------------------------------


def _interruptible(main, prog: str) -> int:
    """``main()`` with SIGTERM unwinding like Ctrl-C (hand3d_tf.signals): the partial
    files of atomic writes are removed; one line, exit 128 + the signal."""
    import signal

    from hand3d_tf import signals

    try:
        with signals.sigterm_as_interrupt():
            return main()
    except KeyboardInterrupt as err:
        signum = signal.Signals(signals.signal_number(err))
        print(f"{prog}: interrupted by {signum.name}", file=sys.stderr, flush=True)
        return 128 + signum


def benchmark() -> None:
    sys.exit(_interruptible(benchmark_main, "hand3d-benchmark"))


def compare() -> None:
    sys.exit(_interruptible(compare_main, "hand3d-benchmark-compare"))


def android() -> None:
    sys.exit(_interruptible(android_main, "hand3d-benchmark-android"))


def trtexec() -> None:
    sys.exit(_interruptible(trtexec_main, "hand3d-benchmark-trtexec"))
