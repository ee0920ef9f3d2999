"""The model card's numbers: every evaluation next to a trivial baseline, plus cost facts.

    python -m hand3d_tf.cli.model_card --weights=weights/default --data_dir=HELDOUT_DIR \\
        --baseline_data_dir=TRAIN_DIR --output=model_card.json [--max_samples=N]

Runs the five evaluations (segmentation, pose2d_gt_crop, pose2d_full, lifting3d, full3d)
on the held-out split (--split, default evaluation) of --data_dir, once for the networks in
--weights and once for the baselines of :mod:`hand3d_tf.evaluation.baselines`, whose statistics come
from the TRAINING split of --baseline_data_dir (default --data_dir). Both see the same
batches (one data pass per protocol). Writes one JSON and prints a markdown table (measure,
model, baseline, target), the parameter count of each net, the sha256 of each weights file
and the end-to-end Keras pipeline time per 240x320 frame (median of --timing_runs).

After retraining the bundled model, one command refreshes everything that depends on it:

    python -m hand3d_tf.cli.model_card --weights=weights/default --data_dir=HELDOUT_DIR \
        --baseline_data_dir=TRAIN_DIR --output=weights/model_card_results.json \
        --card=weights/README.md --expected_example=weights/example_hand.png

--card rewrites the results table and the checksum table between the card's
``<!-- results:begin/end -->`` and ``<!-- files:begin/end -->`` markers (nothing else);
--expected_example writes ``<weights>/expected_example.json``, the prediction on that image
that tests/test_default_model.py holds the shipped model to.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import time

import numpy as np
from absl import app, flags

from hand3d_tf.atomic import atomic_write
from hand3d_tf.cli.flag_values import given
from hand3d_tf.evaluation import baselines, predictors, sources
from hand3d_tf.evaluation import lifting_diagnosis as ld
from hand3d_tf.evaluation import metrics as ev
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.files import sha256_file
from hand3d_tf.pipeline import WEIGHT_STEMS, ColorHandPose3D

FLAGS = flags.FLAGS
DEFAULT_OUTPUT = "model_card.json"
# (type, name, default, help). Several names are shared with other CLI modules; a flag that
# is already defined (pytest imports them all into one process) is left alone, and main()
# reads only values given on the command line (given()), so other modules' defaults never
# leak in.
_FLAGS = (
    ("string", "weights", None, "weights folder (handsegnet/posenet/lifting .npz + .json)"),
    ("string", "data_dir", None, "held-out RHD-layout dataset root (hand3d-make-synthetic)"),
    ("string", "split", "evaluation", "the held-out split of --data_dir"),
    ("string", "baseline_data_dir", None, "dataset whose TRAINING split gives the baseline "
     "statistics (default --data_dir)"),
    ("integer", "max_samples", None, "evaluate the first N held-out samples"),
    ("integer", "baseline_max_samples", None, "baseline statistics from N training samples"),
    ("integer", "batch_size", sources.DEFAULT_BATCH_SIZE, "samples per network call"),
    ("integer", "timing_runs", 10, "timed pipeline runs on one 240x320 frame"),
    ("string", "output", DEFAULT_OUTPUT, "where the JSON goes"),
    ("string", "card", None, "markdown model card whose results/files sections to rewrite"),
    ("string", "expected_example", None, "image whose prediction becomes "
     "<weights>/expected_example.json (hand side left)"),
)  # fmt: skip
for _kind, _name, _default, _help in _FLAGS:
    if _name not in FLAGS:
        getattr(flags, f"DEFINE_{_kind}")(_name, _default, _help)


# The held-out and training data are RHD-layout folders (RHD or hand3d-make-synthetic).
READER = "synthetic"
PROTOCOL_ORDER = (pr.SEGMENTATION, pr.POSE2D_GT_CROP, pr.POSE2D_FULL, pr.LIFTING3D, pr.FULL3D)
TIMING_FRAME_HW = (240, 320)  # the released demo's input size (docs/original.md §5)
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
    """{file name: sha256} of the .npz and .json of each net in ``weights_dir``."""
    out = {}
    for stem in WEIGHT_STEMS:
        for ext in (".npz", ".json"):
            path = pathlib.Path(weights_dir) / f"{stem}{ext}"
            out[path.name] = sha256_file(path)
    return out


def replace_section(text: str, name: str, body: str, where: str = "card") -> str:
    """``text`` with what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->``
    replaced by ``body``; ValueError naming ``where`` unless there is exactly one such pair."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{where} needs exactly one '{begin}' ... '{end}' pair")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


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


def write_expected_example(pipe, image_path, weights_dir) -> pathlib.Path:
    """``<weights_dir>/expected_example.json``: the pipeline's record on ``image_path``."""
    from hand3d_tf.cli.predict import read_image

    image_path = pathlib.Path(image_path)
    full = ColorHandPose3D(pipe.handsegnet, pipe.posenet, pipe.lifting)
    record = full.predict(read_image(str(image_path)), hand_side="left").record(0)
    keys = ("hand_found", "center_xy", "scale", "keypoints_uv", "keypoints_xyz", "keypoint_scores")
    expected = {k: record[k] for k in keys}
    expected["note"] = (
        f"prediction of {pathlib.Path(weights_dir).as_posix()} on {image_path.as_posix()} "
        "(hand_side=left); tests/test_default_model.py"
    )
    out = pathlib.Path(weights_dir) / "expected_example.json"
    return atomic_write(out, json.dumps(expected, indent=1))


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

    frame = cv2.resize(frame, TIMING_FRAME_HW[::-1], interpolation=cv2.INTER_LINEAR)
    timed = ColorHandPose3D(pipe.handsegnet, pipe.posenet, pipe.lifting, TIMING_FRAME_HW)
    timed.predict(frame)
    times = []
    for _ in range(max(1, int(runs))):
        start = time.perf_counter()
        timed.predict(frame)
        times.append(time.perf_counter() - start)
    return {"frame_hw": list(TIMING_FRAME_HW), "runs": len(times),
            "median_ms": 1000 * statistics.median(times), "all_ms": [1000 * t for t in times]}  # fmt: skip


def main(argv):
    if not FLAGS.is_parsed():  # called in-process with flags in argv
        argv = FLAGS(argv)
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    weights_dir, data_dir = given("weights", None), given("data_dir", None)
    if not weights_dir or not data_dir:
        raise app.UsageError("give --weights=DIR and --data_dir=HELDOUT_DIR")
    split = given("split", "evaluation")
    baseline_dir = given("baseline_data_dir", None) or data_dir
    batch_size = given("batch_size", None) or sources.DEFAULT_BATCH_SIZE
    try:
        source = sources.take(
            sources.open_source(READER, data_dir, split), given("max_samples", None)
        )
        stats = baselines.training_stats(baseline_dir, given("baseline_max_samples", None))
        pipe = predictors.load_pipeline(pr.FULL3D, predictors.WeightsSpec(weights_dir=weights_dir))
        hashes = file_hashes(weights_dir)
    except (FileNotFoundError, ValueError) as err:
        raise app.UsageError(str(err)) from None
    card_path = given("card", None)
    if card_path:  # fail before the long evaluations, not after them
        try:
            text = pathlib.Path(card_path).read_text()
            for section in ("results", "files"):
                replace_section(text, section, "", card_path)
        except (OSError, ValueError) as err:
            raise app.UsageError(f"--card: {err}") from None
    if not source.has_masks:
        raise app.UsageError(f"{data_dir} has no hand masks (the segmentation row needs them)")
    results = run_evaluations(pipe, stats, READER, source, batch_size)
    rows = table_rows(results)
    lifting = diagnose_lifting(pipe, READER, source, batch_size)
    params = {n: int(getattr(pipe, n).count_params()) for n in ("handsegnet", "posenet", "lifting")}
    params["total"] = sum(params.values())
    timing = time_pipeline(pipe, first_frame(source), given("timing_runs", 10))
    card = {
        "weights": str(weights_dir), "data_dir": str(data_dir), "split": split,
        "baseline_data_dir": str(baseline_dir), "num_samples": len(source),
        "max_samples": given("max_samples", None), "batch_size": batch_size,
        "nets": pipe.source, "parameters": params, "weights_sha256": hashes, "timing": timing,
        "baseline_stats": stats.to_dict(), "table": rows, "results": results,
        "lifting_diagnosis": lifting,
    }  # fmt: skip
    out = pathlib.Path(given("output", DEFAULT_OUTPUT))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(card, indent=2))
    print(f"\n{len(source)} held-out samples ({split}) of {data_dir}; baselines from "
          f"{stats.num_samples} training samples of {baseline_dir}\n")  # fmt: skip
    print(markdown_table(rows))
    if lifting:
        print(f"\nlifting diagnosis (GT score maps): viewpoint error median "
              f"{lifting['rotation_error_deg']['median']:.1f} deg; EPE median "
              + ", ".join(f"{k} {lifting[k]['epe_median_mm']:.1f} mm"
                          for k in ("model", "gt_rotation", "gt_canonical")))  # fmt: skip
    print("\nparameters: " + ", ".join(f"{k} {v:,}" for k, v in params.items()))
    for name, digest in hashes.items():
        print(f"sha256 {digest}  {name}")
    print(f"Keras pipeline, 240x320 frame, batch 1: median {timing['median_ms']:.1f} ms "
          f"over {timing['runs']} runs\nwrote {out}")  # fmt: skip
    if given("card", None):
        update_card(given("card", None), rows, weights_dir, hashes)
        print(f"updated the results and files sections of {given('card', None)}")
    if given("expected_example", None):
        print(f"wrote {write_expected_example(pipe, given('expected_example', None), weights_dir)}")
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
