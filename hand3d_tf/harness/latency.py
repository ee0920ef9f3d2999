"""Latency statistics, the timing loop, peak memory and the device description.

Timing follows the usual device-benchmark recipe: the first ``invoke()`` is timed on its
own (it pays lazy allocation, XNNPACK weight packing, GPU shader compilation), then
``warmup`` untimed runs, then ``runs`` timed runs with ``time.perf_counter`` around
``invoke()`` only. TensorFlow-free (numpy + the standard library).
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Sequence
from typing import Callable

import numpy as np

STAT_KEYS = ("median", "p90", "p99", "mean", "std", "min", "max", "n")


def latency_stats(times_ms: Sequence[float]) -> dict:
    """{median, p90, p99, mean, std, min, max, n} of timings in milliseconds.

    Percentiles use NumPy's default linear interpolation; std is the population std.
    """
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("latency_stats needs at least one timing")
    return {
        "median": float(np.median(t)),
        "p90": float(np.percentile(t, 90)),
        "p99": float(np.percentile(t, 99)),
        "mean": float(t.mean()),
        "std": float(t.std()),
        "min": float(t.min()),
        "max": float(t.max()),
        "n": int(t.size),
    }


def time_model(
    model,
    inputs: Sequence[np.ndarray],
    warmup: int,
    runs: int,
    tick: Callable[[], None] | None = None,
) -> dict:
    """Time ``model.invoke()`` on fixed inputs (``runner.Model``).

    Returns {"first_inference_ms", "latency_ms": latency_stats, "times_ms": [...]}.
    ``tick`` is called after every run (progress bar).
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0; received runs={runs}, warmup={warmup}")
    model.set_inputs(inputs)
    first = model.timed_invoke()
    for _ in range(warmup):
        model.invoke()
        if tick:
            tick()
    times = []
    for _ in range(runs):
        times.append(model.timed_invoke())
        if tick:
            tick()
    return {"first_inference_ms": first, "latency_ms": latency_stats(times), "times_ms": times}


# --- memory ------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if unsupported.

    Writing 5 to /proc/self/clear_refs (Linux >= 4.0) resets it, so the peak measured after
    a model ran belongs to that model, not to an earlier bigger one.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process in MiB (VmHWM, else ru_maxrss)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        try:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if platform.system() == "Darwin":  # bytes there, kB on Linux
                kb //= 1024
        except (ImportError, OSError):
            return None
    return kb / 1024.0


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024.0


# --- device ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown"
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _jetson_model() -> str | None:
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            with open(path, "rb") as f:
                return f.read().rstrip(b"\x00").decode(errors="replace")
        except OSError:
            continue
    return None


def device_info(runtime) -> dict:
    """Platform, CPU model, core count, memory and the runtime (name + version)."""
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "board": _jetson_model(),
        "cpu_count": os.cpu_count(),
        "memory_mb": None if mem_kb is None else round(mem_kb / 1024),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtime": {"name": runtime.name, "version": runtime.version},
    }
