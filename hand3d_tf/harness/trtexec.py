"""Read TensorRT's ``trtexec`` output into hand3d-benchmark's results format.

On a Jetson (or any NVIDIA GPU with TensorRT) ``trtexec`` builds an engine from our
``.onnx`` files and times it (the commands: docs/devices.md). Its log is the record: this
module parses it as ``android.py`` parses ``benchmark_model``'s, so
``hand3d-benchmark-compare`` puts TensorRT engines beside LiteRT and ONNX Runtime runs.

What is read (the layout trtexec prints since TensorRT 8.4, JetPack 5.1 / 6):

    &&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=posenet_fp32.onnx --fp16 ...
    [I] Precision: FP32+FP16                                   (Build Options)
    [I] Selected Device: Orin                                  (Device Information)
    [I] Engine built in 41.2 sec.
    [I] Created engine with size: 9.8 MiB
    [I] === Performance summary ===
    [I] Throughput: 187.2 qps
    [I] Latency: min = 5.1 ms, max = 6.0 ms, mean = 5.3 ms, median = 5.3 ms,
        percentile(90%) = 5.4 ms, percentile(95%) = 5.5 ms, percentile(99%) = 5.8 ms
    [I] Enqueue Time / H2D Latency / GPU Compute Time / D2H Latency: the same fields
    [I] Total Host Walltime: 3.0 s / Total GPU Compute Time: 2.9 s
    &&&& PASSED TensorRT.trtexec [TensorRT v8601] # ...

Each line may start with a ``[date-time]`` stamp and a ``[I]`` level. ``Latency`` is the
host latency (H2D + GPU compute + D2H), the closest to what ``hand3d-benchmark`` times
around ``invoke()``; it is the row's ``latency_ms``, the GPU compute time is kept beside it.
The older summary of TensorRT 7 / 8.0-8.2 (JetPack 4.x, "percentile: X ms at 99%") is
refused with a clear error. TensorFlow-free; parses text only, runs nothing.
"""

from __future__ import annotations

import pathlib
import re

from hand3d_tf.harness import result_files

SOURCE = "trtexec"
# Summary lines with "min = .. ms, max = .., percentile(99%) = .." fields -> result keys.
SUMMARY_LINES = {
    "Latency": "latency_ms",
    "Enqueue Time": "enqueue_ms",
    "H2D Latency": "h2d_ms",
    "GPU Compute Time": "gpu_compute_ms",
    "D2H Latency": "d2h_ms",
}
_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)*")  # "[11/27/2026-16:20:01] [I] " stamps
_FIELD = re.compile(
    r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=\s*([-+0-9.eE]+)\s*ms"
)
_NUMBER = r"([-+0-9.eE]+)"


class TrtexecParseError(ValueError):
    """A trtexec log without the performance summary this module reads."""


def _strip(line: str) -> str:
    return _PREFIX.sub("", line.strip(), count=1)


def _stats(text: str) -> dict:
    """``min = 1 ms, ..., percentile(99%) = 2 ms`` -> {min, max, mean, median, p90, p99, ...}."""
    out = {}
    for key, pct, value in _FIELD.findall(text):
        name = f"p{pct.rstrip('0').rstrip('.') if '.' in pct else pct}" if pct else key
        out[name] = float(value)
    return out


def tensorrt_version(code: str) -> str:
    """trtexec's ``v8601`` / ``v100300`` -> ``8.6.1`` / ``10.3.0`` (the NV_TENSORRT_VERSION
    encoding: major*1000 + minor*100 + patch before TensorRT 10, major*10000 + minor*100 +
    patch from 10 on)."""
    n = int(code.lstrip("v"))
    if n >= 100000:
        return f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return f"{n // 1000}.{n // 100 % 10}.{n % 100}"


def parse_trtexec_output(text: str) -> dict:
    """One trtexec log -> {command, tensorrt_version, passed, device, precision, model,
    engine_build_s, engine_mib, throughput_qps, latency_ms, enqueue_ms, h2d_ms,
    gpu_compute_ms, d2h_ms (each {min, max, mean, median, p90, p95, p99}),
    total_host_walltime_s, total_gpu_compute_s}; absent items are None.

    Raises:
        TrtexecParseError: no "=== Performance summary ===" with a Latency line (a failed
            build, --skipInference, or a TensorRT older than 8.4); the message says which.
    """
    out: dict = {
        "command": None,
        "tensorrt_version": None,
        "passed": None,
        "device": None,
        "precision": None,
        "model": None,
        "engine_build_s": None,
        "engine_mib": None,
        "throughput_qps": None,
        "total_host_walltime_s": None,
        "total_gpu_compute_s": None,
    }
    out.update(dict.fromkeys(SUMMARY_LINES.values()))
    in_summary = False
    old_format = False
    for raw in text.splitlines():
        line = _strip(raw)
        m = re.match(
            r"&&&& (RUNNING|PASSED|FAILED) TensorRT\.trtexec \[TensorRT (v\d+)\] # (.*)", line
        )
        if m:
            out["tensorrt_version"] = tensorrt_version(m.group(2))
            if m.group(1) == "RUNNING":
                out["command"] = m.group(3).strip()
            else:
                out["passed"] = m.group(1) == "PASSED"
            continue
        if line.startswith("=== "):
            in_summary = line.startswith("=== Performance summary")
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Precision" and out["precision"] is None:
            out["precision"] = value
        elif key in ("Selected Device", "Device") and out["device"] is None and value:
            out["device"] = value
        elif key in ("Model", "ONNX", "Load engine") and out["model"] is None and value:
            out["model"] = value
        elif m := re.match(r"Engine built in " + _NUMBER + r" sec", line):
            out["engine_build_s"] = float(m.group(1))
        elif m := re.match(r"Created engine with size: " + _NUMBER + r" MiB", line):
            out["engine_mib"] = float(m.group(1))
        elif in_summary and key == "Throughput":
            out["throughput_qps"] = float(value.split()[0])
        elif in_summary and key in SUMMARY_LINES:
            out[SUMMARY_LINES[key]] = _stats(value) or None
        elif in_summary and key in ("Total Host Walltime", "Total GPU Compute Time"):
            name = "total_host_walltime_s" if "Host" in key else "total_gpu_compute_s"
            out[name] = float(value.split()[0])
        elif key == "percentile" and " at " in value:
            old_format = True
    if out["latency_ms"] is None:
        if old_format:
            why = "it is the summary of TensorRT < 8.4 (percentile: X ms at N%), not read"
        elif out["passed"] is False:
            why = "trtexec FAILED (the build or the run: see its log)"
        else:
            why = "no '=== Performance summary ===' with a Latency line (--skipInference?)"
        raise TrtexecParseError(why)
    return out


def _flag(command: str | None, name: str) -> str | None:
    m = re.search(rf"--{name}=(\S+)", command or "")
    return m.group(1) if m else None


def model_row(parsed: dict, log_path: str) -> dict:
    """A hand3d-benchmark model row (results.py) of one parsed log: ``latency_ms`` is the host
    latency with ``n``/``std`` unknown (None); ``delegate`` is ``tensorrt``, ``mode`` the
    engine's precision (``int8``, ``fp16``, else the file's mode)."""
    model = _flag(parsed["command"], "onnx") or _flag(parsed["command"], "loadEngine")
    model = model or parsed["model"] or log_path
    stem = pathlib.Path(model).stem
    net, _, file_mode = stem.partition("_")
    # The engine's precision, not the file's: an fp32 .onnx built with --fp16 is an fp16
    # engine, and hand3d-benchmark-compare puts modes side by side.
    precision = (parsed["precision"] or "").upper()
    mode = "int8" if "INT8" in precision else "fp16" if "FP16" in precision else file_mode
    lat = dict(parsed["latency_ms"])
    lat.update(std=None, n=None)
    return {
        "model": stem,
        "file": model,
        "net": net if net in ("handsegnet", "posenet", "lifting") else None,
        "mode": mode or None,
        "threads": None,
        "delegate": "tensorrt",
        "status": "ok",
        "error": None,
        "warnings": [],
        "model_bytes": None,
        "init_ms": None if parsed["engine_build_s"] is None else parsed["engine_build_s"] * 1e3,
        "first_inference_ms": None,
        "latency_ms": lat,
        "gpu_compute_ms": parsed["gpu_compute_ms"],
        "throughput_qps": parsed["throughput_qps"],
        "engine_mib": parsed["engine_mib"],
        "peak_rss_mb": None,
        "rss_delta_mb": None,
        "delegated_nodes": None,
        "total_nodes": None,
        "providers": None,
        "input_source": "random",
        "accuracy": None,
        "agreement": None,
        "log": str(log_path),
    }


def results_from_logs(paths, label: str, command: str = "") -> dict:
    """Several trtexec logs (one per model and precision) -> one results dict.

    Raises:
        TrtexecParseError / OSError: naming the log that could not be read.
    """
    rows, versions, devices = [], set(), set()
    for path in paths:
        path = pathlib.Path(path)
        try:
            parsed = parse_trtexec_output(path.read_text(errors="replace"))
        except TrtexecParseError as e:
            raise TrtexecParseError(f"{path}: {e}") from e
        rows.append(model_row(parsed, str(path)))
        versions.add(parsed["tensorrt_version"])
        devices.add(parsed["device"])
    device = {
        "board": ", ".join(sorted(d for d in devices if d)) or None,
        "cpu_model": None,
        "runtime": {"name": "tensorrt", "version": ", ".join(sorted(v for v in versions if v))},
    }
    result = result_files.new_result(
        label, SOURCE, device, {"logs": [str(p) for p in paths]}, command
    )
    result["models"] = rows
    return result
