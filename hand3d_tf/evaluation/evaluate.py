"""One protocol on one dataset, end to end, or stored predictions: what hand3d-evaluate does.

    from hand3d_tf.evaluation.evaluate import ProtocolRun, evaluate_to_files
    run = ProtocolRun("pose2d_gt_crop", "rhd", "RHD_published_v2",
                      weights=WeightsSpec(weights_dir="weights/default"))
    json_path, png_path = evaluate_to_files(run, "eval_results")

:func:`evaluate_protocol` opens the data (:mod:`sources`), loads the networks the protocol
needs (:mod:`predictors`) or the trivial baseline (:mod:`baselines`), and scores them with
the original's protocol (docs/original.md §7); :func:`evaluate_to_files` also writes
``<output_dir>/<name>.json`` (3-D in mm) and, for keypoints, ``<name>_pck.png``.
:func:`score_predictions` does the same for a stored predictions file. Data, weights or
predictions that cannot be used raise :class:`sources.InputError` naming the file and the
rule, before any sample is scored.

TF-free at import: TensorFlow comes in with the data pipeline and the networks.
"""

from __future__ import annotations

import dataclasses
import pathlib

from hand3d_tf import constants
from hand3d_tf import keypoints as kp
from hand3d_tf.evaluation import baselines, predictors, sources
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.evaluation.sources import _choice

NETWORK, BASELINE = "network", "baseline"
PREDICTORS = (NETWORK, BASELINE)


@dataclasses.dataclass(frozen=True)
class ProtocolRun:
    """One protocol on one dataset (docs/evaluation.md, "hand3d-evaluate").

    data_dir: dataset root or record file (:func:`sources.open_source`); split: rhd /
    synthetic only. root: keypoint 0 of the ground truth (wrist: pose2d_full only).
    predictor: "network" (the nets of ``weights``) or "baseline" (statistics of the training
    split of ``baseline_data_dir``, default ``data_dir``, first ``baseline_max_samples``).
    max_samples: evaluate only the first N samples (hands).
    """

    protocol: str
    dataset: str = "rhd"
    data_dir: str | None = None
    split: str = "evaluation"
    root: str = kp.ROOT_PALM
    predictor: str = NETWORK
    weights: predictors.WeightsSpec = dataclasses.field(default_factory=predictors.WeightsSpec)
    batch_size: int = sources.DEFAULT_BATCH_SIZE
    max_samples: int | None = None
    baseline_data_dir: str | None = None
    baseline_max_samples: int | None = None

    def __post_init__(self):
        _choice("protocol", self.protocol, pr.ALL_PROTOCOLS)
        _choice("dataset", self.dataset, constants.DATASETS)
        _choice("split", self.split, constants.SPLITS)
        _choice("root", self.root, kp.ROOTS)
        _choice("predictor", self.predictor, PREDICTORS)
        if not self.data_dir:
            raise ValueError(f"protocol {self.protocol!r} needs a data directory or record file")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; received {self.batch_size}")

    @property
    def name(self) -> str:
        """The default output stem: <protocol>_<dataset>[_baseline]."""
        suffix = "_baseline" if self.predictor == BASELINE else ""
        return f"{self.protocol}_{self.dataset}{suffix}"

    def baseline_dir(self) -> str:
        """``baseline_data_dir``, else ``data_dir`` when it is a dataset root (its training
        split); ValueError when ``data_dir`` is a record file, which has no training split."""
        if self.baseline_data_dir:
            return self.baseline_data_dir
        if pathlib.Path(self.data_dir).is_file():
            raise ValueError(
                f"the baseline needs an RHD-layout training split: {self.data_dir} is a record "
                "file without one; give the baseline's data directory"
            )
        return self.data_dir


def _predictor_and_meta(run: ProtocolRun, meta: dict):
    if run.predictor == BASELINE:
        stats = baselines.training_stats(run.baseline_dir(), run.baseline_max_samples)
        meta["baseline"] = {"kind": baselines.DESCRIPTIONS[run.protocol], **stats.to_dict()}
        return baselines.make_predictor(run.protocol, stats)
    pipe = predictors.load_pipeline(run.protocol, run.weights)
    meta["weights"] = pipe.source
    return predictors.make_predictor(run.protocol, pipe)


def evaluate_protocol(run: ProtocolRun, progress: bool = True):
    """(result, meta) of ``run``: an EvalSummary (px or m) for the keypoint protocols, the
    MaskIoU dict for segmentation; meta: what the report records about the run.

    InputError (naming the file and the rule) for data or weights that cannot be used:
    a missing path, no samples, no masks for segmentation, a root the protocol or dataset
    refuses, weights that do not fit, a missing pickle.
    """
    meta = {"protocol": run.protocol, "dataset": run.dataset, "root": run.root,
            "split": run.split, "data_dir": str(run.data_dir), "batch_size": run.batch_size,
            "predictor": run.predictor}  # fmt: skip
    with sources.input_errors():
        source = sources.open_source(run.dataset, run.data_dir, run.split)
        source = sources.take(source, run.max_samples)
        if run.protocol == pr.SEGMENTATION and not source.has_masks:
            raise ValueError(
                f"protocol {run.protocol!r} needs hand masks; {run.dataset} data has none"
            )
        if run.protocol != pr.SEGMENTATION:
            sources.data_settings(run.protocol, run.dataset, run.root)
        predict = _predictor_and_meta(run, meta)
    result = sources.evaluate_source(
        run.protocol, run.dataset, source, {run.predictor: predict}, run.root, run.batch_size,
        progress=progress,
    )  # fmt: skip
    if run.protocol in (pr.POSE2D_FULL, pr.FULL3D):
        meta["frame_hw"] = list(constants.EVAL_FRAME_HW)
    return result[run.predictor], meta


def write_protocol_report(result, meta: dict, protocol: str, output_dir, name: str):
    """Print the numbers and write <output_dir>/<name>.json (+ <name>_pck.png for the
    keypoint protocols, with the STB reference curves for full3d on STB); returns the paths."""
    if protocol == pr.SEGMENTATION:
        return (pr.write_segmentation_report(result, name, output_dir, meta),)
    reference = "stb" if (protocol == pr.FULL3D and meta.get("dataset") == "stb") else None
    return pr.write_report(result, pr.KIND[protocol], name, output_dir, meta, reference)


def evaluate_to_files(run: ProtocolRun, output_dir, name: str | None = None) -> tuple:
    """:func:`evaluate_protocol`, then :func:`write_protocol_report` under ``name`` (default
    ``run.name``). Returns the written paths."""
    result, meta = evaluate_protocol(run)
    return write_protocol_report(result, meta, run.protocol, output_dir, name or run.name)


def score_predictions(path, dataset: str, root: str, output_dir, name: str | None = None):
    """Score a stored predictions npz (:func:`protocols.load_predictions`) and write the
    report as <output_dir>/<name>.json + <name>_pck.png (name: the file's stem).

    ``dataset`` gives the default ground-truth keypoint 0 (RHD: wrist, STB: palm); 3-D
    predictions on STB get the STB reference curves. InputError for a file that cannot be
    read, naming it.
    """
    _choice("dataset", dataset, constants.DATASETS)
    _choice("root", root, kp.ROOTS)
    with sources.input_errors():
        data = pr.load_predictions(path)
    summary = pr.evaluate_predictions(data, root, sources.DATASET_GT_INDEX0[dataset])
    meta = {"dataset": dataset, "root": root, "predictions": str(path)}
    stb = dataset == "stb" and data["kind"] != "2d"
    name = name or pathlib.Path(path).stem
    return pr.write_report(summary, data["kind"], name, output_dir, meta, "stb" if stb else None)
