"""hand3d-demo: `make demo`, the main job on the bundled default model.

Example:
  make demo                                         # the bundled example image
  hand3d-demo --image=hand.png --output_dir=out     # = python -m hand3d_tf.cli.demo ...
  hand3d-demo --backend=keras                       # the same model in tf_keras
  hand3d-demo --weights=runs/pn/weights             # another weights folder

Runs the full RGB -> 3D pipeline (as hand3d-predict does) with ``weights/default`` (or the
folder --weights names) on an image, by default the bundled example
``weights/example_hand.png`` (a synthetic render of this project's RHD-format generator),
and writes <name>.json and <name>.png to --output_dir. It prints the image, the model and
the backend that ran (TFLite when the folder holds the .tflite files and a TFLite runtime
is installed: no TensorFlow is started), whether a
hand was found, the seconds since start-up and the files written. The library:
hand3d_tf.predict.run_demo.

--demo_image and --demo_output_dir are the deprecated spellings of --image and --output_dir
(removed in the next release).
"""

from __future__ import annotations

import dataclasses

from absl import flags

from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    from hand3d_tf.predict import EXAMPLE_IMAGE

    shared_flags.image(m, default=str(EXAMPLE_IMAGE), help="image to run the demo on")
    shared_flags.output_dir(m, default="demo_output", help="where the demo writes its results")
    shared_flags.weights(m, help="weights folder, as hand3d-predict's --weights (<net>.npz + "
                         ".json, and/or <net>_fp32.tflite + sidecars); default: the bundled "
                         "weights/default")  # fmt: skip
    shared_flags.backend(m, help="tflite: weights/default's <net>_fp32.tflite (no TensorFlow); "
                         "keras: its <net>.npz; auto: tflite when they are there")  # fmt: skip
    shared_flags.deprecated_alias(m, "demo_image", "image")
    shared_flags.deprecated_alias(m, "demo_output_dir", "output_dir")


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    image: str
    output_dir: str
    backend: str = "auto"
    weights: str | None = None  # None: the bundled weights/default

    def __post_init__(self):
        check_input_file(self.image, "--image")
        check_output_dir(self.output_dir)

    @classmethod
    def from_flags(cls) -> DemoConfig:
        return cls(image=shared_flags.value("image", "demo_image"),
                   output_dir=shared_flags.value("output_dir", "demo_output_dir"),
                   backend=flags.FLAGS.backend, weights=flags.FLAGS.weights)  # fmt: skip


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = DemoConfig.from_flags()
    from hand3d_tf import predict
    from hand3d_tf.lite import backend as lite_backend

    with user_errors(ValueError, FileNotFoundError, prefix="--image: "):
        predict.check_image(config.image)
    prefix = f"--backend={config.backend}" + (" --weights" if config.weights else "") + ": "
    with user_errors(*predict.weight_errors(), prefix=prefix):
        checked = predict.check_source(config.weights, backend=config.backend)
    backend = checked.backend
    if backend == "tflite" and not lite_backend.runtime_installed():
        raise UserError("--backend=tflite: no TFLite runtime installed; pip install "
                        "ai-edge-litert (or tflite-runtime)")  # fmt: skip
    if backend == "keras":
        app.quiet_tensorflow()
    predict.run_demo(config.image, config.output_dir, checked=checked)


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
