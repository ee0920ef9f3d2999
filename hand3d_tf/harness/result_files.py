"""Benchmark results: the JSON schema, and the markdown table and CSV made from it.

One run (``hand3d-benchmark`` or ``hand3d-benchmark-android``) writes one JSON file:

    {"format": "hand3d_tf.benchmark/1",
     "source": "litert-python" | "onnxruntime-python" | "android-benchmark_model" | "trtexec",
     "label", "created", "command", "device": {...}, "settings": {...}, "eval_set": {...} | null,
     "models": [model row], "pipelines": [pipeline row]}

A model row: model, file, net, mode (null for third-party models), threads, delegate,
status ("ok" | "failed"), error, warnings, model_bytes, init_ms, first_inference_ms,
latency_ms {median, p90, p99, mean, std, min, max, n}, peak_rss_mb, rss_delta_mb,
delegated_nodes, total_nodes, providers (ONNX Runtime's, else null), input_source
("eval_set" | "random"), accuracy, agreement.
A pipeline row: mode, threads, delegate, status, error, models {net: file}, total_ms (stats),
stages_ms {stage: stats}, glue_share, io_share, fps, accuracy.
TensorFlow-free.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import pathlib

from hand3d_tf.atomic import atomic_write

FORMAT = "hand3d_tf.benchmark/1"  # the file format's name: stored results carry it, so it outlives the package's old name


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_result(
    label: str,
    source: str,
    device: dict,
    settings: dict,
    command: str,
    eval_set: dict | None = None,
) -> dict:
    return {
        "format": FORMAT,
        "source": source,
        "label": label,
        "created": now_iso(),
        "command": command,
        "device": device,
        "settings": settings,
        "eval_set": eval_set,
        "models": [],
        "pipelines": [],
    }


def load_result(path) -> dict:
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable results JSON: {e}") from e
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}")
    return data


def _clean(value):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result: dict, path) -> pathlib.Path:
    return atomic_write(path, json.dumps(_clean(result), indent=1) + "\n")


# --- headline numbers --------------------------------------------------------------------


def headline(net: str | None, accuracy: dict | None) -> tuple[str | None, float | None]:
    """The one accuracy number per net that tables and plots show (higher is better)."""
    if not accuracy:
        return None, None
    if net == "handsegnet":
        return "mask IoU", accuracy.get("mask_iou")
    if net == "posenet":
        return "2D AUC 0-30px", accuracy.get("2d", {}).get("auc")
    if net == "lifting":
        return "3D AUC 0-50mm", accuracy.get("3d", {}).get("auc")
    if net == "pipeline":
        return "3D AUC 0-50mm", accuracy.get("3d", {}).get("auc")
    return None, None


def accuracy_text(net: str | None, accuracy: dict | None) -> str:
    if not accuracy:
        return ""
    if net == "handsegnet":
        return f"IoU {_f(accuracy.get('mask_iou'), 3)}"
    parts = []
    if "2d" in accuracy:
        d = accuracy["2d"]
        parts.append(f"2D AUC {_f(d.get('auc'), 3)} EPE med {_f(d.get('epe_median'), 2)} px")
    if "3d" in accuracy:
        d = accuracy["3d"]
        parts.append(f"3D AUC {_f(d.get('auc'), 3)} EPE mean {_f(d.get('epe_mean'), 1)} mm")
    return "; ".join(parts)


def agreement_text(agreement: dict | None) -> str:
    if not agreement:
        return ""
    text = f"max abs diff {_f(agreement.get('max_abs_diff'), 3, 'g')}"
    if "argmax_agreement" in agreement:
        text += f", argmax {100 * agreement['argmax_agreement']:.1f}%"
    if "keypoint_diff_mm_mean" in agreement:
        text += f", {_f(agreement['keypoint_diff_mm_mean'], 2)} mm"
    if agreement.get("warning"):
        text += f" ({agreement['warning']})"
    return text


def fmt_ms(value) -> str:
    """Milliseconds with ~3 significant digits (0.0123, 1.23, 12.3, 123)."""
    if value is None:
        return "-"
    for limit, digits in ((0.1, 4), (1, 3), (10, 2), (100, 1)):
        if abs(value) < limit:
            return f"{value:.{digits}f}"
    return f"{value:.0f}"


def _f(value, digits: int = 1, kind: str = "f") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}{kind}}"


def _lat(row: dict, key: str) -> str:
    lat = row.get("latency_ms") or {}
    return fmt_ms(lat.get(key))


# --- markdown ----------------------------------------------------------------------------


def markdown(result: dict) -> str:
    """Markdown tables: one for the models, one for the end-to-end pipelines."""
    dev = result.get("device", {})
    runtime = dev.get("runtime", {})
    out = io.StringIO()
    out.write(f"### {result.get('label', '')}\n\n")
    out.write(
        f"Device: {dev.get('cpu_model', '?')} ({dev.get('cpu_count', '?')} cores, "
        f"{dev.get('platform', '?')}); runtime {runtime.get('name', '?')} "
        f"{runtime.get('version', '?')}; created {result.get('created', '?')}\n\n"
    )
    if result.get("command"):
        out.write(f"Command: `{result['command']}`\n\n")
    out.write(
        "| model | mode | thr | delegate | MB | init ms | first ms | median ms | p90 | "
        "p99 | mean ± std | peak RSS MB | delegated | accuracy | vs fp32 |\n"
    )
    out.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for row in result.get("models", []):
        if row.get("status") != "ok":
            out.write(
                f"| {row.get('model')} | {row.get('mode') or '-'} | {row.get('threads')} | "
                f"{row.get('delegate')} | FAILED: {_one_line(row.get('error'))} "
                "| | | | | | | | | | |\n"
            )
            continue
        lat = row.get("latency_ms") or {}
        nodes = "-"
        if row.get("total_nodes") is not None:
            nodes = f"{row.get('delegated_nodes')}/{row.get('total_nodes')}"
        mb = (row.get("model_bytes") or 0) / 2**20
        out.write(
            f"| {row.get('model')} | {row.get('mode') or '-'} | {row.get('threads')} | "
            f"{row.get('delegate')} | {mb:.3g} | {fmt_ms(row.get('init_ms'))} | "
            f"{fmt_ms(row.get('first_inference_ms'))} | {_lat(row, 'median')} | "
            f"{_lat(row, 'p90')} | {_lat(row, 'p99')} | {fmt_ms(lat.get('mean'))} ± "
            f"{fmt_ms(lat.get('std'))} | {_f(row.get('peak_rss_mb'), 0)} | {nodes} | "
            f"{accuracy_text(row.get('net'), row.get('accuracy'))} | "
            f"{agreement_text(row.get('agreement'))} |\n"
        )
    pipes = result.get("pipelines", [])
    if pipes:
        out.write(
            "\nEnd-to-end (frame -> HandSegNet -> glue -> PoseNet -> glue -> lifting), "
            "median ms per stage:\n\n"
        )
        out.write(
            "| mode | thr | total ms | p90 | fps | handsegnet | glue seg | posenet | "
            "glue kp | lifting | io | glue share | accuracy |\n"
        )
        out.write("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for row in pipes:
            if row.get("status") != "ok":
                out.write(
                    f"| {row.get('mode')} | {row.get('threads')} | FAILED: "
                    f"{_one_line(row.get('error'))} | | | | | | | | | | |\n"
                )
                continue
            st = row.get("stages_ms", {})
            med = [
                fmt_ms(st.get(s, {}).get("median"))
                for s in (
                    "handsegnet",
                    "glue_segment",
                    "posenet",
                    "glue_keypoints",
                    "lifting",
                    "io",
                )
            ]
            out.write(
                f"| {row.get('mode')} | {row.get('threads')} | "
                f"{fmt_ms(row['total_ms']['median'])} | {fmt_ms(row['total_ms']['p90'])} | "
                f"{_f(row.get('fps'), 2)} | "
                + " | ".join(med)
                + f" | {_f(100 * row.get('glue_share', 0), 1)}% | "
                f"{accuracy_text('pipeline', row.get('accuracy'))} |\n"
            )
    return out.getvalue()


def _one_line(text: str | None, limit: int = 160) -> str:
    text = (text or "").replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- CSV ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "kind",
    "label",
    "model",
    "net",
    "mode",
    "threads",
    "delegate",
    "status",
    "error",
    "model_bytes",
    "init_ms",
    "first_inference_ms",
    "median_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "peak_rss_mb",
    "delegated_nodes",
    "total_nodes",
    "glue_share",
    "fps",
    "accuracy_name",
    "accuracy",
    "epe_2d_median_px",
    "auc_2d",
    "epe_3d_mean_mm",
    "auc_3d",
    "agreement_max_abs_diff",
    "agreement_argmax",
)


def csv_rows(result: dict) -> list[dict]:
    rows = []
    for kind, items in (
        ("model", result.get("models", [])),
        ("pipeline", result.get("pipelines", [])),
    ):
        for r in items:
            lat = r.get("latency_ms") or r.get("total_ms") or {}
            net = r.get("net") if kind == "model" else "pipeline"
            name, value = headline(net, r.get("accuracy"))
            a = r.get("accuracy") or {}
            g = r.get("agreement") or {}
            rows.append(
                {
                    "kind": kind,
                    "label": result.get("label"),
                    "model": r.get("model", ""),
                    "net": net,
                    "mode": r.get("mode"),
                    "threads": r.get("threads"),
                    "delegate": r.get("delegate"),
                    "status": r.get("status"),
                    "error": _one_line(r.get("error"), 400),
                    "model_bytes": r.get("model_bytes"),
                    "init_ms": r.get("init_ms"),
                    "first_inference_ms": r.get("first_inference_ms"),
                    "median_ms": lat.get("median"),
                    "p90_ms": lat.get("p90"),
                    "p99_ms": lat.get("p99"),
                    "mean_ms": lat.get("mean"),
                    "std_ms": lat.get("std"),
                    "peak_rss_mb": r.get("peak_rss_mb"),
                    "delegated_nodes": r.get("delegated_nodes"),
                    "total_nodes": r.get("total_nodes"),
                    "glue_share": r.get("glue_share"),
                    "fps": r.get("fps"),
                    "accuracy_name": name,
                    "accuracy": value,
                    "epe_2d_median_px": a.get("2d", {}).get("epe_median"),
                    "auc_2d": a.get("2d", {}).get("auc"),
                    "epe_3d_mean_mm": a.get("3d", {}).get("epe_mean"),
                    "auc_3d": a.get("3d", {}).get("auc"),
                    "agreement_max_abs_diff": g.get("max_abs_diff"),
                    "agreement_argmax": g.get("argmax_agreement"),
                }
            )
    return rows


def write_csv(result: dict, path) -> pathlib.Path:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in csv_rows(result):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return atomic_write(path, text.getvalue())
