"""Benchmark exported .tflite models and the end-to-end pipeline on this device.

    python -m benchmarks.run --models=export/ --eval_set=eval.npz --threads=1,2,4 \\
        --delegate=xnnpack --runs=100 --warmup=10 --output_dir=results/

Writes <output_dir>/<name>.json, .csv, .md and three PNG plots, prints the markdown
table, and exits with status 1 if any model or pipeline failed (results are still
written). Runs without TensorFlow: numpy, ai-edge-litert (or tflite-runtime), OpenCV,
and the TF-free part of hand3d_tf (see benchmarks/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shlex
import sys
import time

from benchmarks import bench, latency, plots, report
from hand3d_tf.lite import runner
from hand3d_tf.lite.evalset import EvalSetError, load_eval_set


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return values


def _delegate(text: str) -> str:
    if text in runner.BUILTIN_DELEGATES or text in runner.ACCELERATORS:
        return text
    if text.endswith((".so", ".dylib", ".dll")) or "/" in text:
        return text
    raise argparse.ArgumentTypeError(
        f"--delegate={text!r}: use one of {list(runner.DELEGATE_CHOICES)}"
    )


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--models",
        default="export/",
        help="comma-separated .tflite files and/or folders (default export/)",
    )
    p.add_argument(
        "--eval_set",
        default=None,
        help="eval.npz from hand3d-make-eval-set; "
        "without it only latency is measured, on random inputs",
    )
    p.add_argument(
        "--num_eval",
        type=int,
        default=0,
        help="use the first N eval samples for accuracy (0 = all)",
    )
    p.add_argument("--threads", type=_ints, default=[1], help="e.g. 1,2,4 (default 1)")
    p.add_argument(
        "--delegate",
        type=_delegate,
        default="xnnpack",
        help=f"one of {list(runner.DELEGATE_CHOICES)} (default xnnpack)",
    )
    p.add_argument(
        "--delegate_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option for an external delegate (repeatable)",
    )
    p.add_argument("--runs", type=int, default=100, help="timed runs per model (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    p.add_argument(
        "--pipeline_runs",
        type=int,
        default=None,
        help="timed frames per pipeline (default: --runs)",
    )
    p.add_argument("--no_pipeline", action="store_true", help="skip the end-to-end pipeline")
    p.add_argument("--output_dir", default="results/", help="where results go (default results/)")
    p.add_argument(
        "--name",
        default=None,
        help="run label and file stem (default <host>_<delegate>_<timestamp>)",
    )
    p.add_argument(
        "--runtime",
        choices=("ai_edge_litert", "tflite_runtime"),
        default=None,
        help="force a runtime (default: ai_edge_litert, else tflite_runtime)",
    )
    p.add_argument("--no_plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs")
    args = p.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        p.error(f"--runs must be >= 1 and --warmup >= 0 (got {args.runs}, {args.warmup})")
    for opt in args.delegate_option:
        if "=" not in opt:
            p.error(f"--delegate_option={opt!r} must be KEY=VALUE")
    return args


def _default_name(delegate: str) -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", os.uname().nodename if hasattr(os, "uname") else "host")
    deleg = re.sub(r"[^A-Za-z0-9_.-]", "_", pathlib.Path(delegate).stem)
    return f"{host}_{deleg}_{time.strftime('%Y%m%d-%H%M%S')}"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        eval_set = load_eval_set(args.eval_set) if args.eval_set else None
        rt = runner.load_runtime(args.runtime)
    except (EvalSetError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = bench.BenchConfig(
        models=[m for m in args.models.split(",") if m],
        eval_set=eval_set,
        threads=args.threads,
        delegate=args.delegate,
        delegate_options=dict(o.split("=", 1) for o in args.delegate_option),
        runs=args.runs,
        warmup=args.warmup,
        pipeline_runs=args.pipeline_runs,
        num_eval=args.num_eval,
        pipelines=not args.no_pipeline,
        seed=args.seed,
        runtime=args.runtime,
    )
    name = args.name or _default_name(args.delegate)
    settings = {k: v for k, v in vars(args).items() if k not in ("no_progress",)}
    eval_info = None
    if eval_set is not None:
        eval_info = {
            "path": str(eval_set.path),
            "num_samples": len(eval_set),
            "num_used": len(eval_set.subset(args.num_eval)),
            "input_size": list(eval_set.input_size),
            "meta": eval_set.meta,
        }
    command = "python -m benchmarks.run " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    result = report.new_result(
        name, "litert-python", latency.device_info(rt), settings, command, eval_info
    )
    try:
        bench.run_benchmark(cfg, result, show_progress=not args.no_progress)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report.write_json(result, out / f"{name}.json")
    report.write_csv(result, out / f"{name}.csv")
    table = report.markdown(result)
    (out / f"{name}.md").write_text(table)
    if not args.no_plots:
        plots.write_all(result, out, name)
    print(table)
    print(f"results: {out / name}.{{json,csv,md}}" + ("" if args.no_plots else " + PNG plots"))
    failed = bench.failures(result)
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
