"""The model card's numbers: every evaluation next to a trivial baseline, plus cost facts.

    from hand3d_tf.evaluation.model_card import ModelCardConfig, write_model_card
    card = write_model_card(ModelCardConfig("weights/default", HELDOUT_DIR, TRAIN_DIR),
                            "weights/model_card_results.json", card="weights/README.md")

Runs the five evaluations (:data:`PROTOCOL_ORDER`) on the held-out split of ``data_dir``,
once for the networks in ``weights_dir`` and once for the baselines of
:mod:`hand3d_tf.evaluation.baselines`, whose statistics come from the TRAINING split of
``baseline_data_dir``; both see the same batches (one data pass per protocol). The JSON
holds the table (:data:`ROWS`), the numbers per protocol, the parameter count of each net,
the sha256 of each weights file and TFLite export, the Keras pipeline time per 240x320
frame and the lifting diagnosis. Optionally rewrites the results and checksum sections of the markdown card
(between ``<!-- results:begin/end -->`` and ``<!-- files:begin/end -->``) and the
regression prediction ``<weights>/expected_example.json`` (tests/test_default_model.py).

TF-free at import: TensorFlow comes in with the data pipeline and the networks.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import statistics
import time

import numpy as np

from hand3d_tf.atomic import atomic_write
from hand3d_tf.constants import DEFAULT_INPUT_SIZE, NETS
from hand3d_tf.evaluation import baselines, predictors, sources
from hand3d_tf.evaluation import lifting_diagnosis as ld
from hand3d_tf.evaluation import metrics as ev
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.files import sha256_file

# The held-out and training data are RHD-layout folders (RHD or hand3d-make-synthetic).
READER = "synthetic"
PROTOCOL_ORDER = (pr.SEGMENTATION, pr.POSE2D_GT_CROP, pr.POSE2D_FULL, pr.LIFTING3D, pr.FULL3D)
TIMING_FRAME_HW = DEFAULT_INPUT_SIZE  # the released demo's input size (docs/original.md §5)
SECTIONS = ("results", "files")  # the card's rewritten sections
# (measure, protocol, field, target): targets of the project's model card (docs/evaluation.md);
# the full-pipeline 2D target is the paper's HandSegNet + PoseNet RHD number (0.663).
ROWS = (
    ("Mask IoU, total (320x320)", pr.SEGMENTATION, "iou_total", 0.85),
    ("Mask IoU, mean per image", pr.SEGMENTATION, "iou_mean_per_image", None),
    ("PoseNet 2D AUC 0-30 px (GT crop)", pr.POSE2D_GT_CROP, "auc", 0.75),
    ("PoseNet 2D EPE mean px (GT crop)", pr.POSE2D_GT_CROP, "epe_mean", None),
    ("PoseNet 2D EPE median px (GT crop)", pr.POSE2D_GT_CROP, "epe_median", None),
    ("Full pipeline 2D AUC 0-30 px", pr.POSE2D_FULL, "auc", 0.663),
    ("Full pipeline 2D EPE mean px", pr.POSE2D_FULL, "epe_mean", None),
    ("Full pipeline 2D EPE median px", pr.POSE2D_FULL, "epe_median", None),
    ("Lifting 3D AUC 20-50 mm (GT score maps)", pr.LIFTING3D, "auc_20_50", 0.80),
    ("Lifting 3D AUC 0-50 mm (GT score maps)", pr.LIFTING3D, "auc", None),
    ("Lifting 3D EPE mean mm", pr.LIFTING3D, "epe_mean", None),
    ("Lifting 3D EPE median mm", pr.LIFTING3D, "epe_median", None),
    ("Full pipeline 3D AUC 20-50 mm", pr.FULL3D, "auc_20_50", None),
    ("Full pipeline 3D AUC 0-50 mm", pr.FULL3D, "auc", None),
    ("Full pipeline 3D EPE median mm", pr.FULL3D, "epe_median", None),
)


@dataclasses.dataclass(frozen=True)
class ModelCardConfig:
    """What the card evaluates: the nets of ``weights_dir`` on the held-out ``split`` of
    ``data_dir`` (first ``max_samples``), baselines from the training split of
    ``baseline_data_dir`` (default ``data_dir``; first ``baseline_max_samples``)."""

    weights_dir: str
    data_dir: str
    baseline_data_dir: str | None = None
    split: str = "evaluation"
    max_samples: int | None = None
    baseline_max_samples: int | None = None
    batch_size: int = sources.DEFAULT_BATCH_SIZE
    timing_runs: int = 10

    def __post_init__(self):
        if not self.weights_dir or not self.data_dir:
            raise ValueError("the model card needs a weights folder and a held-out data folder")
        if self.batch_size < 1 or self.timing_runs < 1:
            raise ValueError(f"batch_size and timing_runs must be >= 1; received "
                             f"{self.batch_size}, {self.timing_runs}")  # fmt: skip

    @property
    def baseline_dir(self) -> str:
        return self.baseline_data_dir or self.data_dir


# --- numbers ----------------------------------------------------------------------------------


def keypoint_numbers(summary: ev.EvalSummary, kind: str) -> dict:
    """JSON numbers of an EvalSummary: px for 2-D, mm for 3-D (plus the 21.05-50 mm AUC)."""
    shown = summary.in_units(ev.METRES_TO_MM) if kind == "3d" else summary
    d = shown.to_dict()
    out = {k: d[k] for k in ("epe_mean", "epe_median", "auc", "num_samples", "num_invalid")}
    out.update(unit="mm" if kind == "3d" else "px", pck_curve=d["pck_curve"])
    out["thresholds"] = d["thresholds"]
    # eval_full's "20-50 mm" sub-range, from threshold index 8 (docs/original.md §7)
    if kind == "3d":
        out["auc_20_50"] = shown.auc_between(ev.STB_SUBRANGE_START)
    return out


def run_evaluations(pipe, stats, dataset, source, batch_size) -> dict:
    """{protocol: {"model": numbers, "baseline": numbers}} on one data pass per protocol."""
    results = {}
    for protocol in PROTOCOL_ORDER:
        by_name = {
            "model": predictors.make_predictor(protocol, pipe),
            "baseline": baselines.make_predictor(protocol, stats),
        }
        out = sources.evaluate_source(protocol, dataset, source, by_name, batch_size=batch_size)
        if protocol != pr.SEGMENTATION:
            out = {name: keypoint_numbers(s, pr.KIND[protocol]) for name, s in out.items()}
        results[protocol] = {**out, "baseline_kind": baselines.DESCRIPTIONS[protocol]}
    return results


def diagnose_lifting(pipe, dataset, source, batch_size) -> dict | None:
    """:class:`lifting_diagnosis.LiftingDiagnosis` numbers (None for a lifting without a
    separate rotation, i.e. not the proposed variant)."""
    probe = pipe.lift(np.zeros((1, 32, 32, 21), np.float32), "left")
    if "rotation" not in probe:
        return None
    diag = ld.LiftingDiagnosis(pipe)
    out = sources.evaluate_source(
        pr.LIFTING3D, dataset, source, diag.predictors, batch_size=batch_size
    )
    return diag.summary(out)


def table_rows(results: dict) -> list[dict]:
    rows = []
    for measure, protocol, field, target in ROWS:
        model = results[protocol]["model"].get(field)
        base = results[protocol]["baseline"].get(field)
        met = None if target is None or model is None else bool(model >= target)
        rows.append(dict(measure=measure, protocol=protocol, field=field, model=model,
                         baseline=base, target=target, target_met=met))  # fmt: skip
    return rows


def markdown_table(rows: list[dict]) -> str:
    def num(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = ["| measure | default model | baseline | target |", "|---|---|---|---|"]
    for r in rows:
        target = "" if r["target"] is None else f">= {r['target']:g}"
        if r["target_met"] is not None:
            target += " (met)" if r["target_met"] else " (not met)"
        lines.append(f"| {r['measure']} | {num(r['model'])} | {num(r['baseline'])} | {target} |")
    return "\n".join(lines)


def file_hashes(weights_dir) -> dict:
    """{file name: sha256} of the .npz and .json of each net in ``weights_dir`` and of the
    TFLite exports beside them (``<net>_<mode>.tflite`` + sidecar ``.json``, any mode)."""
    directory = pathlib.Path(weights_dir)
    paths = [directory / f"{stem}{ext}" for stem in NETS for ext in (".npz", ".json")]
    for stem in NETS:
        for model in sorted(directory.glob(f"{stem}_*.tflite")):
            paths += [model, model.with_suffix(".json")]
    return {path.name: sha256_file(path) for path in paths}


def first_frame(source) -> np.ndarray:
    """The first sample's image, uint8 RGB [H, W, 3]."""
    if source.image_paths is not None:
        from hand3d_tf.data.samples import read_png

        return read_png(source.image_paths[0], int(source.ids[0]))
    from hand3d_tf.data import records

    return records.read_rhd_records(source.records_path).pixels(0)[0]


def time_pipeline(pipe, frame: np.ndarray, runs: int) -> dict:
    """Median wall time of ColorHandPose3D.predict on ``frame`` resized to 240x320.

    One untimed warm-up call first (graph tracing, allocations); batch 1; Keras on the
    machine's default device; includes the NumPy glue.
    """
    import cv2

    from hand3d_tf.pipeline import ColorHandPose3D

    frame = cv2.resize(frame, TIMING_FRAME_HW[::-1], interpolation=cv2.INTER_LINEAR)
    timed = ColorHandPose3D(input_size=TIMING_FRAME_HW, backend=pipe.backend)
    timed.predict(frame)
    times = []
    for _ in range(max(1, int(runs))):
        start = time.perf_counter()
        timed.predict(frame)
        times.append(time.perf_counter() - start)
    return {"frame_hw": list(TIMING_FRAME_HW), "runs": len(times),
            "median_ms": 1000 * statistics.median(times), "all_ms": [1000 * t for t in times]}  # fmt: skip


# --- the markdown card and the regression prediction ----------------------------------------


def replace_section(text: str, name: str, body: str, where: str = "card") -> str:
    """``text`` with what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->``
    replaced by ``body``; ValueError naming ``where`` unless there is exactly one such pair."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{where} needs exactly one '{begin}' ... '{end}' pair")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def check_card(path) -> None:
    """OSError / ValueError (naming the file) unless the card at ``path`` can be read and
    holds exactly one pair of markers per section: run before the long evaluations."""
    text = pathlib.Path(path).read_text()
    for section in SECTIONS:
        replace_section(text, section, "", str(path))


def files_table(weights_dir, hashes: dict) -> str:
    """Markdown checksum table; files are named ``<weights folder name>/<file>``."""
    folder = pathlib.Path(weights_dir).name
    lines = ["| file | sha256 |", "|---|---|"]
    lines += [f"| `{folder}/{name}` | `{digest}` |" for name, digest in sorted(hashes.items())]
    return "\n".join(lines)


def update_card(path, rows: list[dict], weights_dir, hashes: dict) -> None:
    """Rewrite the results and files sections of the markdown card at ``path`` atomically."""
    path = pathlib.Path(path)
    text = path.read_text()
    text = replace_section(text, "results", markdown_table(rows), str(path))
    text = replace_section(text, "files", files_table(weights_dir, hashes), str(path))
    atomic_write(path, text)


def update_checksums(card, weights_dir) -> None:
    """Rewrite only the files section of the markdown ``card`` from the files now in
    ``weights_dir`` (tools/export_default.sh, after shipping new TFLite exports)."""
    path = pathlib.Path(card)
    text = replace_section(path.read_text(), "files", files_table(weights_dir,
                           file_hashes(weights_dir)), str(path))  # fmt: skip
    atomic_write(path, text)


def write_expected_example(pipe, image_path, weights_dir) -> pathlib.Path:
    """``<weights_dir>/expected_example.json``: the pipeline's record on ``image_path``."""
    from hand3d_tf.pipeline import ColorHandPose3D
    from hand3d_tf.predict import read_image

    image_path = pathlib.Path(image_path)
    full = ColorHandPose3D(backend=pipe.backend)
    record = full.predict(read_image(image_path), hand_side="left").record(0)
    keys = ("hand_found", "center_xy", "scale", "keypoints_uv", "keypoints_xyz", "keypoint_scores")
    expected = {k: record[k] for k in keys}
    expected["note"] = (
        f"prediction of {pathlib.Path(weights_dir).as_posix()} on {image_path.as_posix()} "
        "(hand_side=left); tests/test_default_model.py"
    )
    out = pathlib.Path(weights_dir) / "expected_example.json"
    return atomic_write(out, json.dumps(expected, indent=1))


# --- the whole card ---------------------------------------------------------------------------


def make_model_card(config: ModelCardConfig) -> tuple[dict, object]:
    """(card, pipeline): every number of the card's JSON, and the loaded full pipeline.

    InputError (naming the path) for a held-out or training folder or weights folder that
    cannot be used, or held-out data without hand masks.
    """
    with sources.input_errors():
        source = sources.take(
            sources.open_source(READER, config.data_dir, config.split), config.max_samples
        )
        stats = baselines.training_stats(config.baseline_dir, config.baseline_max_samples)
        spec = predictors.WeightsSpec(weights_dir=config.weights_dir)
        pipe = predictors.load_pipeline(pr.FULL3D, spec)
        hashes = file_hashes(config.weights_dir)
        if not source.has_masks:
            raise ValueError(
                f"{config.data_dir} has no hand masks (the segmentation row needs them)"
            )
    results = run_evaluations(pipe, stats, READER, source, config.batch_size)
    rows = table_rows(results)
    lifting = diagnose_lifting(pipe, READER, source, config.batch_size)
    params = {n: int(getattr(pipe, n).count_params()) for n in NETS}
    params["total"] = sum(params.values())
    timing = time_pipeline(pipe, first_frame(source), config.timing_runs)
    card = {
        "weights": str(config.weights_dir), "data_dir": str(config.data_dir),
        "split": config.split, "baseline_data_dir": str(config.baseline_dir),
        "num_samples": len(source), "max_samples": config.max_samples,
        "batch_size": config.batch_size, "nets": pipe.source, "parameters": params,
        "weights_sha256": hashes, "timing": timing, "baseline_stats": stats.to_dict(),
        "table": rows, "results": results, "lifting_diagnosis": lifting,
    }  # fmt: skip
    return card, pipe


def report_text(card: dict) -> str:
    """What the tool prints: sample counts, the table, the diagnosis, parameters, hashes,
    timing."""
    stats, lifting, timing = card["baseline_stats"], card["lifting_diagnosis"], card["timing"]
    lines = [
        f"\n{card['num_samples']} held-out samples ({card['split']}) of {card['data_dir']}; "
        f"baselines from {stats['num_samples']} training samples of "
        f"{card['baseline_data_dir']}\n",
        markdown_table(card["table"]),
    ]
    if lifting:
        lines.append(
            f"\nlifting diagnosis (GT score maps): viewpoint error median "
            f"{lifting['rotation_error_deg']['median']:.1f} deg; EPE median "
            + ", ".join(f"{k} {lifting[k]['epe_median_mm']:.1f} mm"
                        for k in ("model", "gt_rotation", "gt_canonical"))
        )  # fmt: skip
    lines.append("\nparameters: " + ", ".join(f"{k} {v:,}" for k, v in card["parameters"].items()))
    lines += [f"sha256 {digest}  {name}" for name, digest in card["weights_sha256"].items()]
    lines.append(f"Keras pipeline, 240x320 frame, batch 1: median {timing['median_ms']:.1f} ms "
                 f"over {timing['runs']} runs")  # fmt: skip
    return "\n".join(lines)


def write_model_card(config: ModelCardConfig, output, card=None, expected_example=None) -> dict:
    """Compute the card (:func:`make_model_card`), write it as JSON to ``output`` atomically
    and print :func:`report_text`; then, if given, rewrite the sections of the markdown
    ``card`` and write ``<weights>/expected_example.json`` from the image
    ``expected_example``. Returns the card. Check ``card`` with :func:`check_card` first."""
    result, pipe = make_model_card(config)
    out = pathlib.Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(result, indent=2))
    print(f"{report_text(result)}\nwrote {out}")
    if card:
        update_card(card, result["table"], config.weights_dir, result["weights_sha256"])
        print(f"updated the results and files sections of {card}")
    if expected_example:
        print(f"wrote {write_expected_example(pipe, expected_example, config.weights_dir)}")
    return result
