"""One benchmark run on this device, from models to result files. TensorFlow-free.

    from hand3d_tf.harness import benchmark_run
    run = benchmark_run.run_harness(benchmark_run.HarnessConfig(models=("export/",), eval_set="eval.npz"))
    run.paths, run.failures      # <output_dir>/<name>.json/.csv/.md (+ PNG plots), failed rows

The command is ``hand3d-benchmark`` (hand3d_tf/cli/benchmark.py); the result schema is
``hand3d_tf/harness/result_files.py``'s.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import time

from hand3d_tf.atomic import atomic_write
from hand3d_tf.harness import bench, figures, latency, result_files
from hand3d_tf.lite import nets
from hand3d_tf.lite.evalset import load_eval_set

# The results' "source" (hand3d_tf/harness/result_files.py) by runtime.
SOURCES = {"onnxruntime": "onnxruntime-python"}


@dataclasses.dataclass(frozen=True)
class HarnessConfig:
    """What to measure and where the results go (the flags of hand3d-benchmark)."""

    models: tuple[str, ...] = ("export/",)  # .tflite (.onnx for ort_*) files and/or folders
    eval_set: str | None = None  # eval.npz; None: latency only, on random inputs
    num_eval: int = 0  # the first N eval samples (0 = all)
    threads: tuple[int, ...] = (1,)
    delegate: str = "xnnpack"
    delegate_options: tuple[tuple[str, str], ...] = ()
    runs: int = 100
    warmup: int = 10
    pipeline_runs: int | None = None  # None: runs
    pipelines: bool = True
    output_dir: str = "results/"
    name: str | None = None  # None: <host>_<delegate>_<timestamp>
    runtime: str | None = None  # None: ai_edge_litert, else tflite_runtime
    plots: bool = True
    progress: bool = True
    seed: int = 0
    command: str = ""  # recorded in the results

    def settings(self) -> dict:
        """The settings recorded in the results (the flags' names and values)."""
        values = dataclasses.asdict(self)
        values.pop("command")
        values.pop("progress")
        values["delegate_option"] = [f"{k}={v}" for k, v in self.delegate_options]
        values.pop("delegate_options")
        return values


@dataclasses.dataclass(frozen=True)
class HarnessRun:
    result: dict
    paths: tuple[pathlib.Path, ...]  # the files written: .json, .csv, .md, plots
    table: str  # the markdown table
    failures: tuple[str, ...]  # one line per failed model or pipeline


def default_name(delegate: str) -> str:
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", os.uname().nodename if hasattr(os, "uname") else "host")
    deleg = re.sub(r"[^A-Za-z0-9_.-]", "_", pathlib.Path(delegate).stem)
    return f"{host}_{deleg}_{time.strftime('%Y%m%d-%H%M%S')}"


def run_harness(config: HarnessConfig) -> HarnessRun:
    """Benchmark every model and pipeline of ``config`` and write the results.

    Raises:
        EvalSetError: the eval set cannot be read.
        ImportError: no TFLite runtime (or not the one ``config.runtime`` names), or no
            onnxruntime for an ``ort_*`` delegate (the message names the extra).
        FileNotFoundError: a --models entry is neither a .tflite file nor a folder.
    A model or pipeline that fails is a failed row in the results, not an exception.
    """
    eval_set = load_eval_set(config.eval_set) if config.eval_set else None
    rt = nets.load_runtime(config.delegate, config.runtime)
    cfg = bench.BenchConfig(
        models=list(config.models),
        eval_set=eval_set,
        threads=list(config.threads),
        delegate=config.delegate,
        delegate_options=dict(config.delegate_options),
        runs=config.runs,
        warmup=config.warmup,
        pipeline_runs=config.pipeline_runs,
        num_eval=config.num_eval,
        pipelines=config.pipelines,
        seed=config.seed,
        runtime=config.runtime,
    )
    name = config.name or default_name(config.delegate)
    eval_info = None
    if eval_set is not None:
        eval_info = {
            "path": str(eval_set.path),
            "num_samples": len(eval_set),
            "num_used": len(eval_set.subset(config.num_eval)),
            "input_size": list(eval_set.input_size),
            "meta": eval_set.meta,
        }
    result = result_files.new_result(
        name, SOURCES.get(rt.name, "litert-python"), latency.device_info(rt), config.settings(),
        config.command,
        eval_info,
    )  # fmt: skip
    bench.run_benchmark(cfg, result, show_progress=config.progress)
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = result_files.markdown(result)
    paths = [
        result_files.write_json(result, out / f"{name}.json"),
        result_files.write_csv(result, out / f"{name}.csv"),
        atomic_write(out / f"{name}.md", table),
    ]
    if config.plots:
        paths += figures.write_all(result, out, name)
    return HarnessRun(result, tuple(paths), table, tuple(bench.failures(result)))
