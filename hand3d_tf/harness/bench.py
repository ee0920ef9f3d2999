"""The benchmark itself: every model at every thread count, then the end-to-end pipelines.

``run_benchmark(BenchConfig)`` returns the results dict of ``hand3d_tf/harness/result_files.py``.
Each model and each pipeline is measured inside its own try/except: a model that fails (bad
sidecar, delegate that does not load, eval set for another input size) is recorded with
``status: "failed"`` and the reason, and the others still run. The delegate picks the model
format: ``.tflite`` files on LiteRT, or with ``ort_cpu|ort_cuda|ort_tensorrt`` the ``.onnx``
files on ONNX Runtime (``hand3d_tf/lite/ort.py``); the roles, glue, stage timing and
accuracy are the same code for both. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import gc
import traceback
from collections.abc import Sequence

import numpy as np

from hand3d_tf.evaluation import tflite_accuracy as acc
from hand3d_tf.harness import latency, result_files
from hand3d_tf.lite import nets, ort
from hand3d_tf.lite.evalset import EvalSet
from hand3d_tf.lite.sidecar import REFERENCE_MODE
from hand3d_tf.pipeline import ColorHandPose3D
from hand3d_tf.runtime.backends import ModelFileBackend
from hand3d_tf.runtime.stages import GLUE_STAGES, STAGES, StageTimer


@dataclasses.dataclass
class BenchConfig:
    """What to run. ``threads`` are CPU thread counts; ``num_eval`` caps the eval samples
    used for accuracy (0 = all); ``pipeline_runs`` defaults to ``runs``."""

    models: Sequence[str] = ("export",)
    eval_set: EvalSet | None = None
    threads: Sequence[int] = (1,)
    delegate: str = "xnnpack"
    delegate_options: dict = dataclasses.field(default_factory=dict)
    runs: int = 100
    warmup: int = 10
    pipeline_runs: int | None = None
    num_eval: int = 0
    pipelines: bool = True
    seed: int = 0
    runtime: str | None = None


class Progress:
    """A tqdm bar over models and runs when tqdm is installed (it is optional)."""

    def __init__(self, total: int, enabled: bool = True):
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, unit="run", dynamic_ncols=True)
            except ImportError:
                pass

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description(text[:48])

    def tick(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _model_row(entry: nets.ModelEntry, threads: int, cfg: BenchConfig) -> dict:
    return {
        "model": entry.label,
        "file": str(entry.path),
        "net": entry.net,
        "mode": entry.mode,
        "threads": threads,
        "delegate": cfg.delegate,
        "status": "failed",
        "error": None,
        "warnings": [],
        "model_bytes": entry.path.stat().st_size,
        "init_ms": None,
        "first_inference_ms": None,
        "latency_ms": None,
        "peak_rss_mb": None,
        "rss_delta_mb": None,
        "delegated_nodes": None,
        "total_nodes": None,
        "providers": None,  # ONNX Runtime: the session's execution providers, in order
        "input_source": None,
        "accuracy": None,
        "agreement": None,
    }


def _load(entry, rt, threads, cfg):
    # A .tflite on LiteRT, a .onnx on ONNX Runtime (the ort_* delegates): nets.load_model.
    model = nets.load_model(
        entry.path,
        rt,
        threads=threads,
        delegate=cfg.delegate,
        delegate_options=cfg.delegate_options,
    )
    return model, (nets.NetModel(entry, model) if entry.sidecar is not None else None)


def benchmark_model(entry, rt, threads, cfg, progress, reference: dict, first_pass: bool) -> dict:
    """Latency (and on the first thread count, accuracy + agreement) of one model."""
    row = _model_row(entry, threads, cfg)
    if entry.error:
        row["error"] = entry.error
        return row
    data = cfg.eval_set.subset(cfg.num_eval) if cfg.eval_set is not None else None
    try:
        latency.reset_peak_rss()
        rss0 = latency.rss_mb()
        model, net = _load(entry, rt, threads, cfg)
        row.update(
            init_ms=model.init_ms,
            delegated_nodes=model.delegated_nodes,
            total_nodes=model.total_nodes,
            warnings=list(model.warnings),
            providers=getattr(model, "providers", None),
        )
        if net is not None and entry.net == "handsegnet" and data is not None:
            data.check_input_size(net.sidecar.input_size, entry.path)
        if net is not None and data is not None:
            feeds = {
                k: v[:1].repeat(net.batch, axis=0)
                for k, v in acc.net_feeds(entry.net, data).items()
            }
            inputs, row["input_source"] = net.prepare(**feeds), "eval_set"
        else:
            inputs, row["input_source"] = model.random_inputs(cfg.seed), "random"
        timing = latency.time_model(model, inputs, cfg.warmup, cfg.runs, progress.tick)
        row.update(first_inference_ms=timing["first_inference_ms"], latency_ms=timing["latency_ms"])
        if first_pass and net is not None and data is not None:
            progress.describe(f"accuracy {entry.label}")
            outputs = acc.run_over(net, acc.net_feeds(entry.net, data))
            stride = net.sidecar.output_stride
            row["accuracy"] = acc.accuracy(entry.net, outputs, data, stride)
            if entry.mode == REFERENCE_MODE:
                reference[entry.net] = outputs
                reference[entry.net + ":weights"] = entry.sidecar.raw.get("weights_sha256")
            elif entry.net in reference:
                row["agreement"] = acc.agreement(
                    entry.net, outputs, reference[entry.net], data, stride
                )
                ours = entry.sidecar.raw.get("weights_sha256")
                theirs = reference.get(entry.net + ":weights")
                if row["agreement"] is not None and ours and theirs and ours != theirs:
                    # Different weights files: the difference is not the quantisation's.
                    row["agreement"]["warning"] = "fp32 model was exported from other weights"
                    row["warnings"].append(f"{entry.label}: {row['agreement']['warning']}")
        row["peak_rss_mb"] = latency.peak_rss_mb()
        if rss0 is not None and row["peak_rss_mb"] is not None:
            row["rss_delta_mb"] = row["peak_rss_mb"] - rss0
        row["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded, the other models go on
        row["error"] = _error(e)
        row["traceback"] = traceback.format_exc(limit=4)
    finally:
        gc.collect()
    return row


def _pipeline_sets(entries) -> dict:
    """{mode: {net: entry}} for modes that have all three nets with a valid sidecar."""
    by_mode: dict = {}
    for e in entries:
        if e.sidecar is not None:
            by_mode.setdefault(e.mode, {})[e.net] = e
    return {m: v for m, v in by_mode.items() if len(v) == 3}


def timed_pipeline(handsegnet, posenet, lifting, backend: str = "tflite") -> ColorHandPose3D:
    """ColorHandPose3D on three loaded ``nets.NetModel`` (batch 1) with a ``StageTimer``:
    the one stage sequence (hand3d_tf/runtime/stages.py), timed per stage in
    ``pipe.timer.times`` after each call. Frames of another size than the models' are
    resized (the harness feeds the models' size)."""
    nets_ = ModelFileBackend(handsegnet, posenet, lifting, backend)
    source = {"backend": backend, "files": {n: str(m.entry.path) for n, m in nets_.models.items()}}
    return ColorHandPose3D(input_size=nets_.input_size, source=source, backend=nets_,
                           timer=StageTimer())  # fmt: skip


def benchmark_pipeline(mode, trio, rt, threads, cfg, progress, first_pass) -> dict:
    """End-to-end latency per stage (and on the first thread count, pipeline accuracy)."""
    row = {
        "mode": mode,
        "threads": threads,
        "delegate": cfg.delegate,
        "status": "failed",
        "error": None,
        "models": {n: str(e.path) for n, e in trio.items()},
        "total_ms": None,
        "stages_ms": None,
        "glue_share": None,
        "io_share": None,
        "fps": None,
        "accuracy": None,
        "frame_source": None,
    }
    data = cfg.eval_set
    try:
        loaded = {n: _load(e, rt, threads, cfg)[1] for n, e in trio.items()}
        pipe = timed_pipeline(loaded["handsegnet"], loaded["posenet"], loaded["lifting"],
                              "onnx" if ort.is_ort(cfg.delegate) else "tflite")  # fmt: skip
        if data is not None:
            data.check_input_size(pipe.input_size, trio["handsegnet"].path)
            frames, sides, row["frame_source"] = data["images"], data["hand_side"], "eval_set"
        else:
            rng = np.random.default_rng(cfg.seed)
            frames = rng.integers(0, 256, (4, *pipe.input_size, 3), dtype=np.uint8)
            sides = np.tile(np.float32([1, 0]), (4, 1))
            row["frame_source"] = "random"
        runs = cfg.pipeline_runs or cfg.runs
        times = []
        for i in range(cfg.warmup + runs):
            pipe.predict(frames[i % len(frames)], sides[i % len(frames)])
            if i >= cfg.warmup:
                times.append(dict(pipe.timer.times))
            progress.tick()
        total = latency.latency_stats([t["total"] for t in times])
        stages = {s: latency.latency_stats([t[s] for t in times]) for s in STAGES}
        row.update(total_ms=total, stages_ms=stages, fps=1000.0 / total["median"])
        mean_total = float(np.mean([t["total"] for t in times]))
        glue_mean = sum(float(np.mean([t[s] for t in times])) for s in GLUE_STAGES)
        row["glue_share"] = glue_mean / mean_total
        row["io_share"] = float(np.mean([t["io"] for t in times])) / mean_total
        if first_pass and data is not None:
            progress.describe(f"accuracy pipeline {mode}")
            sub = data.subset(cfg.num_eval)
            results = [pipe.predict(sub["images"][i], sub["hand_side"][i]) for i in range(len(sub))]
            row["accuracy"] = acc.pipeline_accuracy(results, sub)
        row["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded, the other pipelines go on
        row["error"] = _error(e)
        row["traceback"] = traceback.format_exc(limit=4)
    finally:
        gc.collect()
    return row


def run_benchmark(cfg: BenchConfig, result: dict, show_progress: bool = True) -> dict:
    """Fill ``result["models"]`` and ``result["pipelines"]``; returns ``result``."""
    rt = nets.load_runtime(cfg.delegate, cfg.runtime)
    entries = nets.discover(cfg.models, nets.model_suffix(cfg.delegate))
    trios = _pipeline_sets(entries) if cfg.pipelines else {}
    per_thread = len(entries) * (cfg.warmup + cfg.runs)
    per_thread += len(trios) * (cfg.warmup + (cfg.pipeline_runs or cfg.runs))
    progress = Progress(per_thread * len(cfg.threads), show_progress)
    try:
        for i, threads in enumerate(cfg.threads):
            reference: dict = {}
            for entry in entries:
                progress.describe(f"{entry.label} {threads}t")
                result["models"].append(
                    benchmark_model(entry, rt, threads, cfg, progress, reference, i == 0)
                )
            for mode, trio in trios.items():
                progress.describe(f"pipeline {mode} {threads}t")
                result["pipelines"].append(
                    benchmark_pipeline(mode, trio, rt, threads, cfg, progress, i == 0)
                )
    finally:
        progress.close()
    # Accuracy is measured once (first thread count): copy it to the other rows.
    for rows, key in ((result["models"], "file"), (result["pipelines"], "mode")):
        first = {r[key]: r for r in rows if r["threads"] == cfg.threads[0]}
        for r in rows:
            src = first.get(r[key])
            if src is not None and r is not src and r["status"] == "ok":
                r["accuracy"] = r["accuracy"] or src.get("accuracy")
                if "agreement" in src:
                    r["agreement"] = r.get("agreement") or src.get("agreement")
    return result


def failures(result: dict) -> list[str]:
    out = []
    for r in result.get("models", []):
        if r.get("status") != "ok":
            out.append(f"{r.get('file')} ({r.get('threads')} threads): {r.get('error')}")
    for r in result.get("pipelines", []):
        if r.get("status") != "ok":
            out.append(f"pipeline {r.get('mode')} ({r.get('threads')} threads): {r.get('error')}")
    return out


__all__ = ["BenchConfig", "run_benchmark", "failures", "result_files"]
