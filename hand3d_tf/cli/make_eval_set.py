"""hand3d-make-eval-set: the preprocessed inputs and ground truth the TF-free benchmark needs.

Example:
  hand3d-make-eval-set --dataset=synthetic --num=50 --output=eval.npz
  hand3d-make-eval-set --dataset=rhd --data_dir=RHD_published_v2 --num=500 --output=eval.npz
  hand3d-make-eval-set --dataset=stb --data_dir=STB --num=500 --output=eval_stb.npz

Reads the dataset with this project's readers and its evaluation pipeline (no noise, palm
as keypoint 0, docs/original.md §8.3) and writes ``eval.npz`` in the schema of
``hand3d_tf/lite/evalset.py``: frames resized to ``--input_size`` (default 240x320 as the
demo and eval_full, docs/original.md §5; RHD's 320x320 is squeezed anisotropically like
eval2d, docs/original.md §11.12) with the ground-truth uv scaled alike, the ground-truth hand
crops, the pooled ground-truth score maps (the lifting input), palm-relative xyz and the
bone scale. ``gt_mask`` holds the pixels of BOTH hands (what HandSegNet segments); STB has
no masks (all False, ``meta.has_mask`` false). Samples whose chosen hand has fewer than
``--min_visible`` visible keypoints (no hand in view) are skipped. ``--dataset=synthetic``
without ``--data_dir`` renders fresh samples (seed ``--seed``) first. The library:
hand3d_tf.evaluation.eval_set.

``--output`` is required (a full set is large: 500 samples are about 118 MB). Exit status
2 on a user error, one line naming the flag or folder, checked before any data is read.
"""

from __future__ import annotations

import dataclasses
import pathlib

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_output_file, user_errors
from hand3d_tf.keypoints import NUM_KEYPOINTS

FLAGS = flags.FLAGS


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    shared_flags.dataset(m, default="synthetic")
    shared_flags.data_dir(m, help="dataset root (RHD / synthetic: holds <split>/; STB: holds "
                          "labels/ and images/) or a record file (rhd_<split>.bin, "
                          "stb_eval.bin); synthetic without it renders samples")  # fmt: skip
    shared_flags.split(m)
    flags.DEFINE_integer("num", 100, "number of samples (the first N; 0 = all)", lower_bound=0,
                         module_name=m)  # fmt: skip
    shared_flags.output(m, help="output .npz")
    shared_flags.input_size(m, help="frame size of the set; 240,320 is accepted too")
    shared_flags.seed(m, help="seed of rendered synthetic samples")
    flags.DEFINE_integer("min_visible", 1, "skip samples with fewer visible keypoints (an "
                         "absent hand has none and cannot be scored)", lower_bound=0,
                         upper_bound=NUM_KEYPOINTS,
                         module_name=m)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class MakeEvalSetConfig:
    dataset: str
    data_dir: str | None
    split: str
    num: int
    output: str | None
    input_size: str
    seed: int
    min_visible: int

    def __post_init__(self):
        hw = shared_flags.hw(self.input_size)
        if min(hw) < 32:
            raise UserError(f"--input_size must be HxW with both >= 32; received {self.input_size}")
        if self.num < 0:
            raise UserError(f"--num must be >= 0 (0 = all); received {self.num}")
        if self.min_visible < 0:
            raise UserError(f"--min_visible must be >= 0; received {self.min_visible}")
        if self.dataset != "synthetic" and not self.data_dir:
            raise UserError(f"--dataset={self.dataset} needs --data_dir")
        if not self.output:
            raise UserError("--output is required, e.g. --output=eval.npz (the set can be large)")

    @classmethod
    def from_flags(cls, values=FLAGS) -> MakeEvalSetConfig:
        return cls(**{f.name: values[f.name].value for f in dataclasses.fields(cls)})

    def eval_set(self):
        """The library's EvalSetConfig."""
        from hand3d_tf.evaluation.eval_set import EvalSetConfig

        return EvalSetConfig(dataset=self.dataset, data_dir=self.data_dir, split=self.split,
                             num=self.num, input_hw=shared_flags.hw(self.input_size),
                             seed=self.seed, min_visible=self.min_visible)  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = MakeEvalSetConfig.from_flags()
    # Cheap checks first, each naming its flag: no data is read when one fails.
    out = check_output_file(config.output, "--output")
    if config.data_dir and not pathlib.Path(config.data_dir).exists():
        raise UserError(f"--data_dir={config.data_dir}: no such folder or file")
    with user_errors(ValueError):
        eval_set_config = config.eval_set()
    app.quiet_tensorflow()
    from hand3d_tf.evaluation import eval_set, sources

    prefix = f"--data_dir={config.data_dir}: " if config.data_dir else ""
    with user_errors(sources.InputError, prefix=prefix):
        path, count = eval_set.make_eval_set(eval_set_config, out)
    hw = eval_set_config.input_hw
    print(f"wrote {path}: {count} samples, frames {hw[0]}x{hw[1]}, dataset {config.dataset}")


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
