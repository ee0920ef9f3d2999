"""hand3d-make-synthetic: synthetic hands written in RHD's exact on-disk layout (docs/data.md).

Example:
  hand3d-make-synthetic --output_dir=data/synthetic --num_train=20000 --num_eval=1000 \\
      --seed=0 --workers=4 --preview=data/synthetic/preview.png
  hand3d-make-synthetic --output_dir=data/sequences --num_train=50 --num_eval=10 \\
      --sequence_length=60    # video: 50 + 10 sequences of 60 frames

Writes <output_dir>/training/ and <output_dir>/evaluation/, each with color/, mask/, depth/
(%05d.png) and anno_<split>.pickle, as RHD does (docs/original.md §8.1), plus a
manifest.json (generator version, seed, counts, config). Training and evaluation use
different sample streams derived from --seed. Each split is written into a temporary folder
and renamed into place when complete; a split folder that holds another dataset is refused
unless --overwrite is given. With --sequence_length=N > 0, --num_train and --num_eval count
sequences of N frames (one scene each, the hands moving), written as consecutive sample ids
with a <split>/sequences.json index (docs/data.md, "Sequences"). Exit status 2 with one
line for a bad flag or path, before any sample is generated.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, user_errors
from hand3d_tf.constants import MAX_SEQUENCE_LENGTH

FLAGS = flags.FLAGS


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    shared_flags.output_dir(m, help="dataset root to write")
    shared_flags.seed(m, help="base seed; both splits derive their streams from it")
    flags.DEFINE_integer("num_train", 1000, "training samples", lower_bound=0, module_name=m)
    flags.DEFINE_integer("num_eval", 100, "evaluation samples", lower_bound=0, module_name=m)
    flags.DEFINE_string("backgrounds", None, "optional folder of background photos "
                        "(jpg/png/bmp/webp, searched recursively)", module_name=m)  # fmt: skip
    flags.DEFINE_integer("workers", 1, "processes generating samples", lower_bound=1,
                         module_name=m)  # fmt: skip
    flags.DEFINE_string("preview", None, "optional PNG contact sheet of 16 training samples "
                        "and histograms of the view distribution", module_name=m)  # fmt: skip
    flags.DEFINE_integer("preview_views", 1000, "scenes the preview's histograms count",
                         lower_bound=1, module_name=m)  # fmt: skip
    shared_flags.overwrite(m, help="replace split folders that hold another dataset")
    flags.DEFINE_enum("generator_version", "2", ["1", "2"],
                      "1: the first generator (uniform orientations, capsule hands), kept "
                      "reproducible; 2: hands held up in front of a person facing the camera",
                      module_name=m)  # fmt: skip
    flags.DEFINE_integer("sequence_length", 0, "frames per sequence; 0 writes single images. "
                         "N > 0: --num_train/--num_eval count sequences of N frames, each "
                         "written frame by frame", lower_bound=0,
                         upper_bound=MAX_SEQUENCE_LENGTH, module_name=m)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class MakeSyntheticConfig:
    output_dir: str
    num_train: int
    num_eval: int
    seed: int
    backgrounds: str | None
    workers: int
    preview: str | None
    preview_views: int
    overwrite: bool
    generator_version: int
    sequence_length: int = 0

    def __post_init__(self):
        if not self.output_dir:
            raise UserError("--output_dir is required")
        if self.seed < 0:
            raise UserError(f"--seed must be non-negative; received {self.seed}")
        if self.sequence_length < 0:
            raise UserError(f"--sequence_length must be >= 0; received {self.sequence_length}")
        if self.sequence_length and self.generator_version != 2:
            raise UserError(
                f"--sequence_length={self.sequence_length} needs --generator_version=2; "
                f"received --generator_version={self.generator_version}"
            )

    @classmethod
    def from_flags(cls, values=FLAGS) -> MakeSyntheticConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs = {name: values[name].value for name in names}
        return cls(**dict(kwargs, generator_version=int(kwargs["generator_version"])))


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = MakeSyntheticConfig.from_flags()
    from hand3d_tf.data.synthetic import SyntheticConfig, make

    # Cheap checks first, each naming its flag: nothing is generated when one fails.
    if config.preview:
        with user_errors(ValueError, prefix="--preview: "):
            make.check_preview_path(config.preview)
    with user_errors(ValueError, prefix="--backgrounds: "):  # every photo's header is read
        backgrounds = make.background_files(config.backgrounds)
        synthetic = SyntheticConfig(generator_version=config.generator_version,
                                    background_files=backgrounds)  # fmt: skip
    with user_errors(ValueError, prefix="--output_dir: "):
        make.check_output_dir(config.output_dir)
    with user_errors(ValueError, make.DatasetExistsError):
        make.make_dataset(
            config.output_dir, config.num_train, config.num_eval, config.seed, synthetic,
            workers=config.workers, overwrite=config.overwrite, preview=config.preview,
            preview_views=config.preview_views, sequence_length=config.sequence_length,
        )  # fmt: skip


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
