"""`make demo`: the main job on the bundled default model.

Runs the full RGB -> 3D pipeline (`hand3d-predict`) with ``weights/default`` on the bundled
example image ``weights/example_hand.png`` (a synthetic render of this project's RHD-format
generator) and writes the JSON and the figure to ``demo_output/``.

    python -m hand3d_tf.cli.demo [--image=PATH] [--output_dir=demo_output]
"""

from __future__ import annotations

import json
import pathlib
import time

from absl import app, flags

from hand3d_tf import pipeline
from hand3d_tf.cli import predict

EXAMPLE_IMAGE = pipeline.BUNDLED_WEIGHTS_ROOT / "example_hand.png"

flags.DEFINE_string("demo_image", str(EXAMPLE_IMAGE), "image to run the demo on")
flags.DEFINE_string("demo_output_dir", "demo_output", "where the demo writes its results")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    image_path = pathlib.Path(FLAGS.demo_image)
    out_dir = pathlib.Path(FLAGS.demo_output_dir)
    image = predict.read_image(str(image_path))
    print(f"image: {image_path} ({image.shape[1]}x{image.shape[0]})")
    start = time.perf_counter()
    pipe = pipeline.ColorHandPose3D.from_pretrained()
    source = (
        pipe.source.get("weights", pipe.source) if isinstance(pipe.source, dict) else pipe.source
    )
    print(f"model: {source} (loaded in {time.perf_counter() - start:.1f} s)")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    json_path, png_path = predict.predict_image(pipe, str(image_path), "left", out_dir)
    seconds = time.perf_counter() - start
    record = json.loads(json_path.read_text())
    print(f"hand found: {record['hand_found']}; prediction + figure in {seconds:.2f} s")
    print(f"wrote {json_path}")
    print(f"wrote {png_path}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
