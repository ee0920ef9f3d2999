"""hand3d-model-card: the model card's numbers, every evaluation next to a trivial baseline.

Example (or ``python -m hand3d_tf.cli.model_card`` with the same flags):
  hand3d-model-card --weights=weights/default --data_dir=HELDOUT_DIR \\
      --baseline_data_dir=TRAIN_DIR --output=model_card.json [--max_samples=N]

Runs the five evaluations (segmentation, pose2d_gt_crop, pose2d_full, lifting3d, full3d)
on the held-out split (--split, default evaluation) of --data_dir, once for the networks in
--weights and once for the baselines of hand3d_tf.evaluation.baselines, whose statistics
come from the TRAINING split of --baseline_data_dir (default --data_dir). Both see the same
batches (one data pass per protocol). Writes one JSON and prints a markdown table (measure,
model, baseline, target), the parameter count of each net, the sha256 of each weights file
and the end-to-end Keras pipeline time per 240x320 frame (median of --timing_runs). The
library: hand3d_tf.evaluation.model_card.

After retraining the bundled model, one command refreshes everything that depends on it:

  python -m hand3d_tf.cli.model_card --weights=weights/default --data_dir=HELDOUT_DIR \\
      --baseline_data_dir=TRAIN_DIR --output=weights/model_card_results.json \\
      --card=weights/README.md --expected_example=weights/example_hand.png

--card rewrites the results table and the checksum table between the card's
``<!-- results:begin/end -->`` and ``<!-- files:begin/end -->`` markers (nothing else);
--expected_example writes ``<weights>/expected_example.json``, the prediction on that image
that tests/test_default_model.py holds the shipped model to. Exit status 2 on a user
error, one line naming the flag or file; the paths and the card's markers are checked
before any evaluation runs.
"""

from __future__ import annotations

import dataclasses
import pathlib

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import (
    UserError,
    check_input_dir,
    check_output_file,
    user_errors,
)

FLAGS = flags.FLAGS


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    shared_flags.weights(m, help="weights folder (handsegnet/posenet/lifting .npz + .json)")
    shared_flags.data_dir(m, help="held-out RHD-layout dataset root (hand3d-make-synthetic)")
    shared_flags.split(m)
    shared_flags.baseline_data(m)
    shared_flags.max_samples(m, help="evaluate the first N held-out samples")
    shared_flags.batch_size(m, help="samples per network call")
    flags.DEFINE_integer("timing_runs", 10, "timed pipeline runs on one 240x320 frame",
                         lower_bound=1, module_name=m)  # fmt: skip
    shared_flags.output(m, default="model_card.json", help="where the JSON goes")
    flags.DEFINE_string("card", None, "markdown model card whose results/files sections to "
                        "rewrite", module_name=m)  # fmt: skip
    flags.DEFINE_string("expected_example", None, "image whose prediction becomes "
                        "<weights>/expected_example.json (hand side left)",
                        module_name=m)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ModelCardToolConfig:
    weights: str | None
    data_dir: str | None
    split: str = "evaluation"
    baseline_data_dir: str | None = None
    max_samples: int | None = None
    baseline_max_samples: int | None = None
    batch_size: int = 8
    timing_runs: int = 10
    output: str = "model_card.json"
    card: str | None = None
    expected_example: str | None = None

    def __post_init__(self):
        if not self.weights or not self.data_dir:
            raise UserError("give --weights=DIR and --data_dir=HELDOUT_DIR")

    @classmethod
    def from_flags(cls, values=FLAGS) -> ModelCardToolConfig:
        return cls(**{f.name: values[f.name].value for f in dataclasses.fields(cls)})

    def model_card(self):
        """The library's ModelCardConfig (hand3d_tf.evaluation.model_card)."""
        from hand3d_tf.evaluation.model_card import ModelCardConfig

        return ModelCardConfig(
            weights_dir=self.weights, data_dir=self.data_dir,
            baseline_data_dir=self.baseline_data_dir, split=self.split,
            max_samples=self.max_samples, baseline_max_samples=self.baseline_max_samples,
            batch_size=self.batch_size, timing_runs=self.timing_runs,
        )  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = ModelCardToolConfig.from_flags()
    from hand3d_tf.evaluation import model_card, sources

    # Cheap checks, each naming its flag: nothing is evaluated (or written) when one fails.
    check_input_dir(config.weights, "--weights")
    for flag, path in (("--data_dir", config.data_dir),
                       ("--baseline_data_dir", config.baseline_data_dir)):  # fmt: skip
        if path and not pathlib.Path(path).exists():
            raise UserError(f"{flag}={path}: no such folder")
    output = check_output_file(config.output, "--output")
    if config.card:
        with user_errors(OSError, ValueError, prefix="--card: "):
            model_card.check_card(config.card)
    if config.expected_example:
        from hand3d_tf.predict import read_image

        with user_errors(FileNotFoundError, ValueError, prefix="--expected_example: "):
            read_image(config.expected_example)
    with user_errors(ValueError):
        card_config = config.model_card()
    app.quiet_tensorflow()
    with user_errors(sources.InputError):
        model_card.write_model_card(card_config, output, config.card, config.expected_example)
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
