"""hand3d-evaluate: the paper's evaluation protocols (docs/original.md §7), or stored predictions.

Example:
  hand3d-evaluate --protocol=pose2d_gt_crop --dataset=rhd --data_dir=RHD_published_v2 \\
      --weights=weights/default --output_dir=eval_results
  hand3d-evaluate --protocol=full3d --dataset=stb --data_dir=STB \\
      --handsegnet_pickle=handsegnet-rhd.pickle --posenet_pickle=posenet3d-rhd-stb.pickle
  hand3d-evaluate --predictions=preds.npz --dataset=stb --output_dir=eval_results
  hand3d-evaluate --protocol=segmentation --dataset=synthetic --data_dir=heldout \\
      --predictor=baseline --baseline_data_dir=train

Protocols: pose2d_gt_crop (Table 1 row 1), pose2d_full (Table 1 row 3; --root=wrist as the
paper), lifting3d (Table 2; --lifting_variant), full3d (eval_full on STB), segmentation
(HandSegNet mask IoU on the frames at their own size). Writes <output_dir>/<name>.json
(numbers; 3-D in mm) and, for keypoints, <output_dir>/<name>_pck.png, name =
<protocol>_<dataset>[_baseline] (or the predictions file's stem). --predictor=baseline
scores the trivial baseline of hand3d_tf.evaluation.baselines instead of the networks.
The library: hand3d_tf.evaluation.evaluate.

Exit status 2 on a user error: one line naming the flag or file (--output_dir, the
predictions file and the flag values are checked before any data or network is loaded).
"""

from __future__ import annotations

import dataclasses
import pathlib

from absl import flags

from hand3d_tf import keypoints as kp
from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_output_dir, user_errors
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.evaluation.evaluate import PREDICTORS

FLAGS = flags.FLAGS
PICKLES = ("handsegnet_pickle", "posenet_pickle", "lifting_pickle")


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    flags.DEFINE_enum("protocol", None, pr.ALL_PROTOCOLS, "evaluation protocol",
                      module_name=m)  # fmt: skip
    shared_flags.dataset(m)
    shared_flags.data_dir(m)
    shared_flags.split(m)
    shared_flags.weights(m)
    shared_flags.released_pickles(m)
    shared_flags.lifting_variant(m)
    shared_flags.batch_size(m, help="samples per network call")
    shared_flags.max_samples(m, help="stop after this many samples (hands)")
    shared_flags.output_dir(m, default="eval_results", help="where the .json and .png go")
    flags.DEFINE_enum("root", kp.ROOT_PALM, kp.ROOTS, "ground-truth keypoint 0",
                      module_name=m)  # fmt: skip
    flags.DEFINE_string("predictions", None, "npz with gt, vis, pred and kind (2d | 3d | "
                        "3d_normed): score it instead of running a protocol",
                        module_name=m)  # fmt: skip
    flags.DEFINE_string("name", None, "output file stem", module_name=m)
    flags.DEFINE_enum("predictor", "network", PREDICTORS, "network: the nets of the weight "
                      "flags; baseline: the protocol's trivial baseline", module_name=m)  # fmt: skip
    shared_flags.baseline_data(m)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    protocol: str | None = None
    dataset: str = "rhd"
    data_dir: str | None = None
    split: str = "evaluation"
    weights: str | None = None
    handsegnet_pickle: str | None = None
    posenet_pickle: str | None = None
    lifting_pickle: str | None = None
    lifting_variant: str | None = None
    batch_size: int = 8
    max_samples: int | None = None
    output_dir: str = "eval_results"
    root: str = kp.ROOT_PALM
    predictions: str | None = None
    name: str | None = None
    predictor: str = "network"
    baseline_data_dir: str | None = None
    baseline_max_samples: int | None = None

    def __post_init__(self):
        if self.predictions:
            return
        if self.protocol is None:
            raise UserError(f"give --predictions=FILE.npz or --protocol (one of {pr.PROTOCOLS})")
        if not self.data_dir:
            raise UserError(f"--protocol={self.protocol} needs --data_dir (dataset root or .bin)")
        if self.weights and any(getattr(self, p) for p in PICKLES):
            raise UserError("give either --weights or the released pickles (--*_pickle), not both")
        if (self.predictor == "baseline" and not self.baseline_data_dir
                and pathlib.Path(self.data_dir).is_file()):  # fmt: skip
            raise UserError(
                f"--predictor=baseline needs --baseline_data_dir (an RHD-layout training split): "
                f"--data_dir={self.data_dir} is a record file without a training split"
            )

    @classmethod
    def from_flags(cls, values=FLAGS) -> EvaluateConfig:
        return cls(**{f.name: values[f.name].value for f in dataclasses.fields(cls)})

    def protocol_run(self):
        """The library's ProtocolRun (hand3d_tf.evaluation.evaluate)."""
        from hand3d_tf.evaluation.evaluate import ProtocolRun
        from hand3d_tf.evaluation.predictors import WeightsSpec

        spec = WeightsSpec(weights_dir=self.weights, lifting_variant=self.lifting_variant,
                           **{p: getattr(self, p) for p in PICKLES})  # fmt: skip
        return ProtocolRun(
            protocol=self.protocol, dataset=self.dataset, data_dir=self.data_dir,
            split=self.split, root=self.root, predictor=self.predictor, weights=spec,
            batch_size=self.batch_size, max_samples=self.max_samples,
            baseline_data_dir=self.baseline_data_dir,
            baseline_max_samples=self.baseline_max_samples,
        )  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = EvaluateConfig.from_flags()
    output_dir = check_output_dir(config.output_dir)  # before any data or network is read
    from hand3d_tf.evaluation import evaluate, sources

    if config.predictions:
        with user_errors(sources.InputError, prefix="--predictions: "):
            evaluate.score_predictions(
                config.predictions, config.dataset, config.root, output_dir, config.name
            )
        return 0
    with user_errors(ValueError):
        protocol_run = config.protocol_run()
    app.quiet_tensorflow()
    with user_errors(sources.InputError):
        evaluate.evaluate_to_files(protocol_run, output_dir, config.name)
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
