"""hand3d-evaluate: the paper's evaluation protocols (docs/original.md §7), or stored predictions.

    hand3d-evaluate --protocol=pose2d_gt_crop --dataset=rhd --data_dir=RHD_published_v2 \\
        --weights=weights/default --output_dir=eval_results
    hand3d-evaluate --protocol=full3d --dataset=stb --data_dir=STB \\
        --handsegnet_pickle=handsegnet-rhd.pickle --posenet_pickle=posenet3d-rhd-stb.pickle
    hand3d-evaluate --predictions=preds.npz --dataset=stb --output_dir=eval_results

    hand3d-evaluate --protocol=segmentation --dataset=synthetic --data_dir=heldout \
        --predictor=baseline --baseline_data_dir=train

Protocols: pose2d_gt_crop (Table 1 row 1), pose2d_full (Table 1 row 3; --root=wrist as the
paper), lifting3d (Table 2; --lifting_variant), full3d (eval_full on STB), segmentation
(HandSegNet mask IoU on the frames at their own size). Writes <output_dir>/<name>.json
(numbers; 3-D in mm) and, for keypoints, <output_dir>/<name>_pck.png, name =
<protocol>_<dataset>[_baseline] (or the predictions file's stem). --predictor=baseline
scores the trivial baseline of hand3d_tf.evaluation.baselines instead of the networks.

Exit status 2 on a user error: one line naming the flag or file (--output_dir, the
predictions file and the flag values are checked before any data or network is loaded).
"""

from __future__ import annotations

import pathlib

from absl import flags

from hand3d_tf import constants
from hand3d_tf import keypoints as kp
from hand3d_tf.cli.errors import UserError, check_output_dir, user_errors
from hand3d_tf.cli.errors import run as run_cli
from hand3d_tf.cli.flag_values import given
from hand3d_tf.evaluation import baselines, predictors, sources
from hand3d_tf.evaluation import protocols as pr

# allow_override: other CLI modules define flags of the same names (--weights, --output_dir,
# ...); without it importing two of them in one process (pytest) would fail.
_OVR = {"allow_override": True}
PREDICTORS = ("network", "baseline")
flags.DEFINE_string("protocol", None, f"one of {pr.ALL_PROTOCOLS}", **_OVR)
flags.DEFINE_string("dataset", "rhd", f"one of {constants.DATASETS}", **_OVR)
flags.DEFINE_string("data_dir", None, "dataset root or record file (.bin)", **_OVR)
flags.DEFINE_string(
    "split", "evaluation", f"rhd / synthetic split, one of {constants.SPLITS}", **_OVR
)
flags.DEFINE_string("weights", None, "weights folder (own format; default weights/default)", **_OVR)
flags.DEFINE_string("handsegnet_pickle", None, "released HandSegNet pickle", **_OVR)
flags.DEFINE_string("posenet_pickle", None, "released PoseNet (+ lifting) pickle", **_OVR)
flags.DEFINE_string("lifting_pickle", None, "released lifting-<variant>.pickle", **_OVR)
# An enum as in hand3d-convert-weights, which defines the same flag.
flags.DEFINE_enum("lifting_variant", None, constants.LIFTING_VARIANTS, "lifting variant", **_OVR)
flags.DEFINE_integer("batch_size", sources.DEFAULT_BATCH_SIZE, "samples per network call", **_OVR)
flags.DEFINE_string("output_dir", "eval_results", "where the .json and .png go", **_OVR)
flags.DEFINE_string("root", kp.ROOT_PALM, f"ground-truth keypoint 0 as one of {kp.ROOTS}", **_OVR)
flags.DEFINE_string(
    "predictions", None, "npz with gt, vis, pred and kind (2d | 3d | 3d_normed)", **_OVR
)
flags.DEFINE_string("name", None, "output file stem", **_OVR)
flags.DEFINE_integer("max_samples", None, "stop after this many samples (hands)", **_OVR)
flags.DEFINE_string("predictor", "network", f"one of {PREDICTORS}", **_OVR)
flags.DEFINE_string(
    "baseline_data_dir", None, "RHD-layout dataset whose training split gives the baseline "
    "statistics (default: --data_dir)", **_OVR
)  # fmt: skip
flags.DEFINE_integer(
    "baseline_max_samples", None, "baseline statistics from the first N training samples", **_OVR
)
FLAGS = flags.FLAGS


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise UserError(f"--{name} must be one of {tuple(choices)}; received {value!r}")
    return value


def baseline_data_dir() -> str:
    """--baseline_data_dir, else --data_dir when it is a dataset root (its training split)."""
    if FLAGS.baseline_data_dir:
        return FLAGS.baseline_data_dir
    if FLAGS.data_dir and pathlib.Path(FLAGS.data_dir).is_file():
        raise UserError(
            f"--predictor=baseline needs --baseline_data_dir (an RHD-layout training split): "
            f"--data_dir={FLAGS.data_dir} is a record file without a training split"
        )
    return FLAGS.data_dir


def evaluate_protocol(protocol: str, dataset: str, root: str, predictor: str = "network"):
    """(summary, meta) of --protocol on --dataset with the networks of the weight flags or,
    predictor "baseline", the trivial baseline (summary: EvalSummary or MaskIoU dict)."""
    if not FLAGS.data_dir:
        raise UserError(f"--protocol={protocol} needs --data_dir (dataset root or .bin)")
    batch_size = FLAGS.batch_size or sources.DEFAULT_BATCH_SIZE
    meta = {"protocol": protocol, "dataset": dataset, "root": root, "split": FLAGS.split}
    meta.update(data_dir=str(FLAGS.data_dir), batch_size=batch_size, predictor=predictor)
    try:  # user errors (paths, empty data, mismatching weights) name the file and the rule
        source = sources.take(
            sources.open_source(dataset, FLAGS.data_dir, FLAGS.split), FLAGS.max_samples
        )
        if protocol == pr.SEGMENTATION and not source.has_masks:
            raise ValueError(f"protocol {protocol!r} needs hand masks; {dataset} data has none")
        if protocol != pr.SEGMENTATION:
            sources.data_settings(protocol, dataset, root)
        if predictor == "baseline":
            stats = baselines.training_stats(baseline_data_dir(), FLAGS.baseline_max_samples)
            predict = baselines.make_predictor(protocol, stats)
            meta["baseline"] = {"kind": baselines.DESCRIPTIONS[protocol], **stats.to_dict()}
        else:
            spec = predictors.WeightsSpec(
                weights_dir=given("weights", None),
                handsegnet_pickle=given("handsegnet_pickle", None),
                posenet_pickle=given("posenet_pickle", None),
                lifting_pickle=given("lifting_pickle", None),
                lifting_variant=given("lifting_variant", None),
            )
            pipe = predictors.load_pipeline(protocol, spec)
            predict = predictors.make_predictor(protocol, pipe)
            meta["weights"] = pipe.source
    except (FileNotFoundError, ValueError) as err:
        raise UserError(str(err)) from err
    summary = sources.evaluate_source(
        protocol, dataset, source, {predictor: predict}, root, batch_size
    )
    if protocol in (pr.POSE2D_FULL, pr.FULL3D):
        meta["frame_hw"] = list(constants.EVAL_FRAME_HW)
    return summary[predictor], meta


def main(argv):
    if not FLAGS.is_parsed():  # called in-process with flags in argv
        argv = FLAGS(argv)
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    dataset = _choice("dataset", FLAGS.dataset, constants.DATASETS)
    root = _choice("root", FLAGS.root, kp.ROOTS)
    # given(): in one process with other CLIs, another definition may own the default.
    output_dir = check_output_dir(given("output_dir", "eval_results"))
    if FLAGS.predictions:
        with user_errors(FileNotFoundError, ValueError, prefix="--predictions: "):
            data = pr.load_predictions(FLAGS.predictions)
        summary = pr.evaluate_predictions(data, root, sources.DATASET_GT_INDEX0[dataset])
        name = FLAGS.name or pathlib.Path(FLAGS.predictions).stem
        meta = {"dataset": dataset, "root": root, "predictions": str(FLAGS.predictions)}
        stb = dataset == "stb" and data["kind"] != "2d"
        pr.write_report(summary, data["kind"], name, output_dir, meta, "stb" if stb else None)
        return 0
    if FLAGS.protocol is None:
        raise UserError(f"give --predictions=FILE.npz or --protocol (one of {pr.PROTOCOLS})")
    protocol = _choice("protocol", FLAGS.protocol, pr.ALL_PROTOCOLS)
    _choice("split", FLAGS.split, constants.SPLITS)
    predictor = _choice("predictor", FLAGS.predictor, PREDICTORS)
    summary, meta = evaluate_protocol(protocol, dataset, root, predictor)
    suffix = "_baseline" if predictor == "baseline" else ""
    name = FLAGS.name or f"{protocol}_{dataset}{suffix}"
    if protocol == pr.SEGMENTATION:
        pr.write_segmentation_report(summary, name, output_dir, meta)
        return 0
    reference = "stb" if (protocol == pr.FULL3D and dataset == "stb") else None
    pr.write_report(summary, pr.KIND[protocol], name, output_dir, meta, reference)
    return 0


def run():
    run_cli(main, "hand3d-evaluate")


if __name__ == "__main__":
    run()
