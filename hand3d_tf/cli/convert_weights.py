"""hand3d-convert-weights: the paper's released pickles -> our npz + json weight files.

Example:
  hand3d-convert-weights --handsegnet_pickle=weights/handsegnet-rhd.pickle \\
      --posenet_pickle=weights/posenet3d-rhd-stb-slr-finetuned.pickle \\
      --output_dir=weights/released
  hand3d-convert-weights --lifting_pickle=weights/lifting-bottleneck.pickle \\
      --output_dir=weights/bottleneck

Writes handsegnet.npz/json, posenet.npz/json and (when the posenet pickle carries the
PosePrior / ViewpointNet tensors, or --lifting_pickle is given) lifting.npz/json, and
prints the max abs difference between each pickle and its re-read file (0 when faithful);
docs/original.md §4 lists the keys. All or nothing: every pickle is read and assigned
before anything is written, and a failed or killed conversion leaves --output_dir as it
was (docs/weights.md). The old spellings --handsegnet, --posenet and --lifting still work
for one release. Exit status 2 with one line naming the flag or file on a user error.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors

FLAGS = flags.FLAGS
PICKLES = ("handsegnet", "posenet", "lifting")  # --<net>_pickle, formerly --<net>


def define_flags(m: str) -> None:
    shared_flags.released_pickles(m)
    for net in PICKLES:
        shared_flags.deprecated_alias(m, net, f"{net}_pickle")
    shared_flags.lifting_variant(
        m, help="lifting variant (docs/original.md §3); default: from a "
        "lifting-<variant>.pickle name, else from the keys")  # fmt: skip
    shared_flags.output_dir(m, help="folder for the .npz + .json files")


@dataclasses.dataclass(frozen=True)
class ConvertWeightsConfig:
    output_dir: str
    handsegnet_pickle: str | None
    posenet_pickle: str | None
    lifting_pickle: str | None
    lifting_variant: str | None

    def __post_init__(self):
        if not self.output_dir:
            raise UserError("--output_dir is required")
        if not any(getattr(self, f"{net}_pickle") for net in PICKLES):
            raise UserError(
                "give at least one of --handsegnet_pickle, --posenet_pickle, --lifting_pickle"
            )

    @classmethod
    def from_flags(cls) -> ConvertWeightsConfig:
        pickles = {f"{net}_pickle": shared_flags.value(f"{net}_pickle", net) for net in PICKLES}
        return cls(output_dir=FLAGS.output_dir, lifting_variant=FLAGS.lifting_variant, **pickles)


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = ConvertWeightsConfig.from_flags()
    # Cheap checks first, each naming its flag: no pickle is read when one fails.
    check_output_dir(config.output_dir)
    for net in PICKLES:
        path = getattr(config, f"{net}_pickle")
        if path:
            check_input_file(path, f"--{net}_pickle")
    app.quiet_tensorflow()  # only now: a cheap error above costs no TensorFlow start
    from hand3d_tf import convert, safe_pickle
    from hand3d_tf import weights as W

    try:
        with user_errors(
            FileNotFoundError, safe_pickle.UnsafePickleError, W.WeightsFileError,
            W.WeightMismatchError,
        ):  # fmt: skip
            convert.convert_released_weights(
                config.output_dir, config.handsegnet_pickle, config.posenet_pickle,
                config.lifting_pickle, config.lifting_variant,
            )  # fmt: skip
    except convert.LiftingVariantError as err:
        raise UserError(f"{err} (--lifting_variant)") from err
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
