"""One table across benchmark runs and devices, precisions side by side.

    hand3d-benchmark-compare results/*.json [--stat=median] [--output=compare.md]

The library of that command (hand3d_tf/cli/benchmark_compare.py). Rows: (run, device,
threads, delegate, net or third-party model); columns: one per precision present (fp32,
fp16, dynamic, int8, ...). A cell is "latency ms (speed-up vs
fp32 of the same row) · headline accuracy", so quantised and float read side by side.
Runs from ``hand3d-benchmark-android`` mix in unchanged. TensorFlow-free.
"""

from __future__ import annotations

from hand3d_tf.harness import result_files
from hand3d_tf.lite.sidecar import MODES

NET_ORDER = ("pipeline", "handsegnet", "posenet", "lifting")
STATS = ("median", "mean", "p90", "p99", "min")


def _device(result: dict) -> str:
    dev = result.get("device", {})
    name = dev.get("board") or dev.get("model") or dev.get("cpu_model") or "?"
    return name.replace("|", "/")


def collect(results: list[dict], stat: str = "median") -> tuple[list[str], dict]:
    """{row key: {mode: (latency ms, accuracy name, accuracy)}} and the modes used."""
    rows: dict = {}
    modes = set()
    for res in results:
        base = (res.get("label", "?"), _device(res))
        for r in res.get("models", []):
            if r.get("status") != "ok" or not r.get("latency_ms"):
                continue
            net = r.get("net") or f"{r.get('model')} (3rd party)"
            mode = r.get("mode") or "no sidecar"
            name, value = result_files.headline(r.get("net"), r.get("accuracy"))
            key = base + (r.get("threads"), r.get("delegate"), net)
            rows.setdefault(key, {})[mode] = (r["latency_ms"].get(stat), name, value)
            modes.add(mode)
        for r in res.get("pipelines", []):
            if r.get("status") != "ok" or not r.get("total_ms"):
                continue
            name, value = result_files.headline("pipeline", r.get("accuracy"))
            key = base + (r.get("threads"), r.get("delegate"), "pipeline")
            rows.setdefault(key, {})[r["mode"]] = (r["total_ms"].get(stat), name, value)
            modes.add(r["mode"])
    ordered = [m for m in MODES if m in modes] + sorted(m for m in modes if m not in MODES)
    return ordered, rows


def _row_order(key):
    label, device, threads, delegate, net = key
    n = NET_ORDER.index(net) if net in NET_ORDER else len(NET_ORDER)
    return (n, net, device, label, threads or 0, str(delegate))


def table(results: list[dict], stat: str = "median") -> str:
    modes, rows = collect(results, stat)
    if not rows:
        return "no successful measurements in these files\n"
    lines = [
        "| net | run | device | thr | delegate | " + " | ".join(modes) + " |",
        "|---|---|---|---|---|" + "---|" * len(modes),
    ]
    for key in sorted(rows, key=_row_order):
        label, device, threads, delegate, net = key
        cells = []
        base = rows[key].get("fp32")
        for mode in modes:
            if mode not in rows[key]:
                cells.append("")
                continue
            ms, name, value = rows[key][mode]
            cell = f"{result_files.fmt_ms(ms)} ms"
            if base and base[0] and ms and mode != "fp32":
                cell += f" ({base[0] / ms:.2f}x)"
            if value is not None:
                cell += f" · {value:.3f}"
            cells.append(cell)
        lines.append(
            f"| {net} | {label} | {device} | {threads} | {delegate} | " + " | ".join(cells) + " |"
        )
    names = sorted({v[1] for r in rows.values() for v in r.values() if v[1]})
    foot = (
        f"\n{stat} latency; (Nx) = speed-up over fp32 in the same row; "
        f"accuracy after '·': {', '.join(names) or 'none measured'}.\n"
    )
    return "\n".join(lines) + "\n" + foot


def compare_files(paths, stat: str = "median") -> str:
    """The table of the results JSON files ``paths``.

    Raises:
        ValueError: a file is not a benchmark result (its message names the file).
    """
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}; received {stat!r}")
    return table([result_files.load_result(path) for path in paths], stat)
