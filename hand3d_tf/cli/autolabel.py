"""hand3d-autolabel: a folder of hand photos (or a video) in, an RHD-format dataset out.

Example:
  make teacher      # once: extracts MediaPipe's hand models from the mediapipe wheel
  hand3d-autolabel --input=my_hand_photos/ --output_dir=data/my_hands --split=training
  hand3d-train --net=posenet --data_dir=data/synthetic,data/my_hands --output_dir=runs/pn \\
      --preset=posenet_synthetic_compact --init_weights=weights/default/posenet.npz
  hand3d-autolabel --input=clip.mp4 --video_every=15 --output_dir=data/clip

Labels every photo with the 2D keypoints and handedness of a teacher, MediaPipe's hand
landmark model (run by this project's TF-free runtime on crops from MediaPipe's palm
detector), keeps a hand only when the teacher is confident and agrees with itself (presence
>= --min_presence; the mirrored image and crops turned by +/-12 degrees or enlarged agree
within --max_spread of the hand size; a sure handedness that survives mirroring), and masks
the hand by keying a plain background (trusted: trains HandSegNet) or by grabCut seeded
with the keypoints (untrusted: PoseNet only). No 3D label is made up: the lifting keeps
learning from synthetic data. Writes <output_dir>/<split>/ with color/, mask/,
anno_<split>.pickle, labels.json (what was kept, dropped and why), manifest.json and
preview.png, atomically (docs/autolabel.md). Exit status 2 with one line for a bad flag,
folder or file, before anything is written.
"""

from __future__ import annotations

import dataclasses
import pathlib

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_output_dir, user_errors

FLAGS = flags.FLAGS


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    flags.DEFINE_string("input", None, "folder of photos (searched recursively), one photo, "
                        "or a video", module_name=m)  # fmt: skip
    shared_flags.output_dir(m, help="dataset root to write (<output_dir>/<split>/)")
    shared_flags.split(m, default="training")
    flags.DEFINE_enum("mask", "auto", ["auto", "key", "grabcut", "none"],
                      "hand masks: auto = key a plain background, else grabCut (untrusted); "
                      "key = keyed or none; none = no masks (PoseNet only)", module_name=m)  # fmt: skip
    flags.DEFINE_float("min_presence", 0.9, "teacher's hand-presence score to keep a hand",
                       lower_bound=0.0, upper_bound=1.0, module_name=m)  # fmt: skip
    flags.DEFINE_float("max_spread", 0.08, "largest disagreement of the check passes, as a "
                       "fraction of the hand size", lower_bound=0.001, module_name=m)  # fmt: skip
    flags.DEFINE_float("min_side_margin", 0.3, "|p(right) - 0.5| the handedness needs",
                       lower_bound=0.0, upper_bound=0.5, module_name=m)  # fmt: skip
    flags.DEFINE_integer("max_hands", 2, "hands looked for per photo", lower_bound=1,
                         module_name=m)  # fmt: skip
    flags.DEFINE_integer("video_every", 10, "label every n-th frame of a video", lower_bound=1,
                         module_name=m)  # fmt: skip
    flags.DEFINE_integer("max_images", 0, "stop after this many photos/frames (0 = all)",
                         lower_bound=0, module_name=m)  # fmt: skip
    flags.DEFINE_string("teacher_dir", None, "folder of the teacher's .tflite files (default "
                        "$HAND3D_TEACHER_DIR or .teacher/, filled by `make teacher`)",
                        module_name=m)  # fmt: skip
    shared_flags.overwrite(m)
    flags.DEFINE_bool("progress", True, "show a progress bar", module_name=m)


@dataclasses.dataclass(frozen=True)
class AutolabelCommand:
    input: str | None
    output_dir: str | None
    split: str
    mask: str
    min_presence: float
    max_spread: float
    min_side_margin: float
    max_hands: int
    video_every: int
    max_images: int
    teacher_dir: str | None
    overwrite: bool
    progress: bool

    def __post_init__(self):
        if not self.input:
            raise UserError("--input is required: a folder of photos, a photo or a video")
        if not self.output_dir:
            raise UserError("--output_dir is required, e.g. --output_dir=data/my_hands")

    @classmethod
    def from_flags(cls, values=FLAGS) -> AutolabelCommand:
        return cls(**{f.name: values[f.name].value for f in dataclasses.fields(cls)})

    def config(self):
        from hand3d_tf.autolabel import AutolabelConfig
        from hand3d_tf.teacher import LabelRule

        rule = LabelRule(min_presence=self.min_presence, max_spread=self.max_spread,
                         min_side_margin=self.min_side_margin)  # fmt: skip
        return AutolabelConfig(input=self.input, output_dir=self.output_dir, split=self.split,
                               rule=rule, mask_mode=self.mask, max_hands=self.max_hands,
                               video_every=self.video_every, max_images=self.max_images,
                               overwrite=self.overwrite, teacher_dir=self.teacher_dir)  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    command = AutolabelCommand.from_flags()
    if not pathlib.Path(command.input).exists():
        raise UserError(f"--input={command.input}: no such folder or file")
    check_output_dir(command.output_dir)
    from hand3d_tf import autolabel, images, teacher

    with user_errors(ValueError):
        config = command.config()
    with user_errors(autolabel.AutolabelInputError, teacher.TeacherMissingError,
                     images.ImageTooLargeError):  # fmt: skip
        autolabel.list_inputs(config.input)
        autolabel.check_output(config)
        teacher.model_paths(config.teacher_dir)
        report = autolabel.autolabel(config, progress=command.progress)
    out = pathlib.Path(config.output_dir) / config.split
    print(f"wrote {out}: {report.summary()}")
    print(f"labels drawn: {out / 'preview.png'}; per photo: {out / 'labels.json'}")
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
