"""Benchmark the exported models on an Android phone with TFLite's ``benchmark_model``.

The library of ``hand3d-benchmark-android`` (hand3d_tf/cli/benchmark_android.py):
``run_android(AndroidConfig)`` pushes the binary and the models to ``device_dir`` with adb,
runs ``benchmark_model`` once per model and thread count, and parses its log into the
results JSON of ``hand3d_tf/harness/result_files.py`` (latency, init, first inference, memory
footprint, delegated nodes, and the per-op-type profile with ``op_profiling``), so
``hand3d-benchmark-compare`` puts phones and the Python harness in one table. Latency only:
accuracy does not change with the device for the same .tflite on CPU; measure it with
``hand3d-benchmark``. Needs only the standard library (adb via subprocess).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import re
import shlex
import subprocess

from hand3d_tf.atomic import atomic_write
from hand3d_tf.harness import result_files
from hand3d_tf.lite.sidecar import SidecarError, load_sidecar, sidecar_path

DELEGATE_FLAGS = {
    "xnnpack": ["--use_xnnpack=true"],
    "none": ["--use_xnnpack=false"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


class BenchmarkModelError(RuntimeError):
    """benchmark_model failed, or its delegate did not take the graph."""


# --- parsing ------------------------------------------------------------------------------


def _count_line_stats(line: str) -> dict:
    """``count=50 first=.. curr=.. min=.. max=.. avg=.. std=.. [p5=.. median=.. p95=..]`` (us)."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=" + _NUM, line)}


def parse_benchmark_output(text: str) -> dict:
    """Parse a ``benchmark_model`` log into numbers (times in ms, memory in MB).

    Returns a dict with: init_ms, first_inference_ms, warmup_avg_ms, latency_ms
    ({median, p90, p99, mean, std, min, max, n}; median and percentiles only where the
    log prints them, else None), memory_init_mb, memory_overall_mb, peak_memory_mb,
    model_size_mb, threads, delegate ("gpu", "xnnpack", ... or None), fully_delegated
    (bool or None), delegated_nodes, total_nodes, partitions, op_profile
    ([{node_type, count, avg_ms, avg_percent}] from the last "Summary by node type"),
    errors (ERROR lines).

    Raises:
        BenchmarkModelError: the log has no "Inference timings" line (the run failed).
    """
    out: dict = {"errors": [], "op_profile": []}
    m = re.search(
        r"Inference timings in us: Init: "
        + _NUM
        + r", First inference: "
        + _NUM
        + r", Warmup \(avg\): "
        + _NUM
        + r", Inference \(avg\): "
        + _NUM,
        text,
    )
    if m is None:
        tail = " | ".join(text.strip().splitlines()[-5:])
        raise BenchmarkModelError(f"no 'Inference timings' line in benchmark_model output: {tail}")
    init, first, warm, avg = (float(v) / 1e3 for v in m.groups())
    out.update(init_ms=init, first_inference_ms=first, warmup_avg_ms=warm)
    # The steady-state block is the last "count=" line before the summary; the op profile
    # appends its own "Timings (microseconds): count=..." lines after it.
    counts = [ln for ln in text[: m.start()].splitlines() if re.search(r"\bcount=\d+", ln)]
    stats = _count_line_stats(counts[-1]) if counts else {}

    def ms(key):
        return stats[key] / 1e3 if key in stats else None

    out["latency_ms"] = {
        "median": ms("median") if "median" in stats else ms("p50"),
        "p90": ms("p90"),
        "p99": ms("p99"),
        "mean": ms("avg") if "avg" in stats else avg,
        "std": ms("std"),
        "min": ms("min"),
        "max": ms("max"),
        "n": int(stats["count"]) if "count" in stats else None,
    }
    for key, pattern in (
        ("memory_init_mb", r"Memory footprint delta.*?init=" + _NUM),
        ("memory_overall_mb", r"Memory footprint delta.*?overall=" + _NUM),
        ("peak_memory_mb", r"[Pp]eak memory footprint \(MB\)[^:]*:\s*" + _NUM),
        ("model_size_mb", r"input model file size \(MB\):\s*" + _NUM),
        ("threads", r"#threads used for CPU inference: \[" + _NUM),
    ):
        found = re.search(pattern, text)
        out[key] = float(found.group(1)) if found else None
    if out["threads"] is not None:
        out["threads"] = int(out["threads"])
    out["delegate"] = out["fully_delegated"] = None
    applied = re.search(
        r"Explicitly applied (\w+) delegate, and the model graph will be "
        r"(completely|partially) executed",
        text,
    )
    if applied:
        out["delegate"] = applied.group(1).lower()
        out["fully_delegated"] = applied.group(2) == "completely"
    replaced = re.findall(
        r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, "
        r"yielding (\d+) partitions",
        text,
    )
    out["delegated_nodes"] = out["total_nodes"] = out["partitions"] = None
    if replaced:
        taken, total, _name, parts = replaced[-1]
        out.update(delegated_nodes=int(taken), total_nodes=int(total), partitions=int(parts))
    out["errors"] = [
        ln.strip() for ln in text.splitlines() if re.match(r"\s*(ERROR\b|E\d{4} )", ln)
    ]
    out["op_profile"] = _op_profile(text)
    return out


def _op_profile(text: str) -> list[dict]:
    blocks = text.split("Summary by node type")
    if len(blocks) < 2:
        return []
    rows = []
    for line in blocks[-1].splitlines()[1:]:
        if line.strip().startswith("[") or not line.strip():
            if rows:
                break
            continue
        parts = line.split()
        if len(parts) < 4 or "=" in line:
            break
        try:
            rows.append(
                {
                    "node_type": parts[0],
                    "count": int(parts[1]),
                    "avg_ms": float(parts[2]),
                    "avg_percent": float(parts[3].rstrip("%")),
                }
            )
        except ValueError:
            break
    return rows


def check_delegate(parsed: dict, requested: str, log_name: str) -> None:
    """Fail loudly when a requested GPU/NNAPI delegate took nothing (a silent CPU run)."""
    if requested in ("none", "xnnpack"):
        return
    if parsed["delegated_nodes"] == 0 or (
        parsed["delegate"] is None and parsed["delegated_nodes"] is None
    ):
        errors = "; ".join(parsed["errors"][-3:]) or "no 'Explicitly applied' line in the log"
        raise BenchmarkModelError(f"{log_name}: --delegate={requested} was not applied: {errors}")


# --- adb ----------------------------------------------------------------------------------


class Adb:
    """Thin adb wrapper: ``adb [-s SERIAL] ...``; raises with adb's stderr on failure."""

    def __init__(self, adb: str = "adb", serial: str | None = None, timeout: float = 900):
        self.base = [adb] + (["-s", serial] if serial else [])
        self.timeout = timeout

    def __call__(self, *args: str) -> str:
        cmd = self.base + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as e:
            raise BenchmarkModelError(f"adb not found at {self.base[0]!r} (--adb=PATH)") from e
        if proc.returncode != 0:
            raise BenchmarkModelError(
                f"{' '.join(map(shlex.quote, cmd))} failed "
                f"({proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
        return proc.stdout + proc.stderr

    def shell(self, command: str) -> str:
        return self("shell", command)


def device_info(adb: Adb) -> dict:
    def prop(name):
        try:
            return adb.shell(f"getprop {name}").strip() or None
        except BenchmarkModelError:
            return None

    cpu = None
    try:
        for line in adb.shell("cat /proc/cpuinfo").splitlines():
            if line.split(":")[0].strip() in ("Hardware", "model name"):
                cpu = line.split(":", 1)[1].strip()
    except BenchmarkModelError:
        pass
    return {
        "platform": f"Android {prop('ro.build.version.release')}",
        "model": f"{prop('ro.product.manufacturer')} {prop('ro.product.model')}",
        "board": prop("ro.soc.model") or prop("ro.board.platform"),
        "cpu_model": cpu or prop("ro.board.platform"),
        "machine": prop("ro.product.cpu.abi"),
    }


def _model_row(path: pathlib.Path, threads: int, delegate: str) -> dict:
    net = mode = None
    side = sidecar_path(path)
    if side.exists():
        try:
            car = load_sidecar(side)
            net, mode = car.net, car.mode
        except SidecarError:
            pass
    return {
        "model": path.stem,
        "file": str(path),
        "net": net,
        "mode": mode,
        "threads": threads,
        "delegate": delegate,
        "status": "failed",
        "error": None,
        "warnings": [],
        "model_bytes": path.stat().st_size,
        "input_source": "random",
        "accuracy": None,
        "agreement": None,
    }


def benchmark_models(
    adb: Adb,
    binary: str,
    models: list[pathlib.Path],
    threads_list,
    delegate,
    runs: int,
    warmup: int,
    device_dir: str,
    op_profiling: bool,
    extra: list[str],
) -> list[dict]:
    rows = []
    for path in models:
        remote = f"{device_dir}/{path.name}"
        adb("push", str(path), remote)
        for threads in threads_list:
            row = _model_row(path, threads, delegate)
            args = [
                binary,
                f"--graph={remote}",
                f"--num_threads={threads}",
                f"--num_runs={runs}",
                f"--warmup_runs={warmup}",
            ]
            args += DELEGATE_FLAGS.get(delegate, [f"--external_delegate_path={delegate}"])
            args += (["--enable_op_profiling=true"] if op_profiling else []) + list(extra)
            try:
                text = adb.shell(" ".join(shlex.quote(a) for a in args))
                parsed = parse_benchmark_output(text)
                check_delegate(parsed, delegate, path.name)
                row.update(
                    status="ok",
                    init_ms=parsed["init_ms"],
                    first_inference_ms=parsed["first_inference_ms"],
                    latency_ms=parsed["latency_ms"],
                    peak_rss_mb=parsed["peak_memory_mb"] or parsed["memory_overall_mb"],
                    delegated_nodes=parsed["delegated_nodes"],
                    total_nodes=parsed["total_nodes"],
                    op_profile=parsed["op_profile"],
                    benchmark_model=parsed,
                )
            except BenchmarkModelError as e:
                row["error"] = str(e)
            rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class AndroidConfig:
    """One phone run (the flags of hand3d-benchmark-android)."""

    benchmark_binary: str
    models: tuple[str, ...] = ("export/",)  # .tflite files and/or folders on this machine
    adb: str = "adb"
    serial: str | None = None
    device_dir: str = "/data/local/tmp/hand3d"
    threads: tuple[int, ...] = (1, 4)
    delegate: str = "xnnpack"  # DELEGATE_FLAGS or a delegate .so path on the phone
    runs: int = 50
    warmup: int = 5
    op_profiling: bool = False
    extra: tuple[str, ...] = ()  # more benchmark_model flags
    output_dir: str = "results/"
    name: str | None = None
    command: str = ""  # recorded in the results


def model_files(models) -> list[pathlib.Path]:
    """The .tflite files named by ``models`` (files, or folders: every .tflite in them).

    Raises:
        FileNotFoundError: a file does not exist, or nothing was named.
    """
    files: list[pathlib.Path] = []
    for item in models:
        path = pathlib.Path(item)
        files += sorted(path.glob("*.tflite")) if path.is_dir() else [path]
    missing = [str(m) for m in files if not m.is_file()]
    if missing or not files:
        raise FileNotFoundError(f"no such .tflite: {', '.join(missing or map(str, models))}")
    return files


def run_android(config: AndroidConfig, adb: Adb | None = None):
    """Push the binary and models, run ``benchmark_model`` per model and thread count,
    write <output_dir>/<name>.json/.csv/.md. Returns (result, paths, failed rows).

    Raises:
        FileNotFoundError: a model or the binary does not exist.
        BenchmarkModelError: adb could not reach the phone or push the binary.
    """
    models = model_files(config.models)
    binary = pathlib.Path(config.benchmark_binary)
    if not binary.is_file():
        raise FileNotFoundError(f"--benchmark_binary={binary} does not exist")
    adb = adb or Adb(config.adb, config.serial)
    adb.shell(f"mkdir -p {shlex.quote(config.device_dir)}")
    remote_bin = f"{config.device_dir}/benchmark_model"
    adb("push", str(binary), remote_bin)
    adb.shell(f"chmod +x {shlex.quote(remote_bin)}")
    device = device_info(adb)
    device["runtime"] = {
        "name": "benchmark_model",
        "version": hashlib.sha256(binary.read_bytes()).hexdigest()[:12],
    }
    phone = (device.get("model") or "phone").replace(" ", "_")
    name = config.name or f"android_{phone}_{config.delegate}"
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "command"}
    result = result_files.new_result(
        name, "android-benchmark_model", device, settings, config.command
    )
    result["models"] = benchmark_models(
        adb, remote_bin, models, list(config.threads), config.delegate, config.runs,
        config.warmup, config.device_dir, config.op_profiling, list(config.extra),
    )  # fmt: skip
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (
        result_files.write_json(result, out / f"{name}.json"),
        result_files.write_csv(result, out / f"{name}.csv"),
        atomic_write(out / f"{name}.md", result_files.markdown(result)),
    )
    failed = [r for r in result["models"] if r["status"] != "ok"]
    return result, paths, failed
