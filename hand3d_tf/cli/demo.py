"""hand3d-demo: `make demo`, the main job on the bundled default model.

Example:
  make demo                                         # the bundled example image
  hand3d-demo --image=hand.png --output_dir=out     # = python -m hand3d_tf.cli.demo ...

Runs the full RGB -> 3D pipeline (as hand3d-predict does) with ``weights/default`` on an
image, by default the bundled example ``weights/example_hand.png`` (a synthetic render of
this project's RHD-format generator), and writes <name>.json and <name>.png to --output_dir.
It prints the image, the model, whether a hand was found and the files written. The
library: hand3d_tf.predict.run_demo.

--demo_image and --demo_output_dir are the deprecated spellings of --image and --output_dir
(removed in the next release).
"""

from __future__ import annotations

import dataclasses

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors


def define_flags(m: str) -> None:
    from hand3d_tf.predict import EXAMPLE_IMAGE

    shared_flags.image(m, default=str(EXAMPLE_IMAGE), help="image to run the demo on")
    shared_flags.output_dir(m, default="demo_output", help="where the demo writes its results")
    shared_flags.deprecated_alias(m, "demo_image", "image")
    shared_flags.deprecated_alias(m, "demo_output_dir", "output_dir")


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    image: str
    output_dir: str

    def __post_init__(self):
        check_input_file(self.image, "--image")
        check_output_dir(self.output_dir)

    @classmethod
    def from_flags(cls) -> DemoConfig:
        return cls(image=shared_flags.value("image", "demo_image"),
                   output_dir=shared_flags.value("output_dir", "demo_output_dir"))  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = DemoConfig.from_flags()
    from hand3d_tf import predict

    with user_errors(ValueError, FileNotFoundError, prefix="--image: "):
        predict.check_image(config.image)
    predict.run_demo(config.image, config.output_dir)


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=True)


if __name__ == "__main__":
    run()
