"""hand3d-predict: 2D and 3D hand keypoints for an image or a video.

    hand3d-predict --image=hand.png --output_dir=out            # weights/default
    hand3d-predict --image=hand.png --hand_side=right --weights=DIR --output_dir=out
    hand3d-predict --image=hand.png --handsegnet_pickle=handsegnet-rhd.pickle \\
        --posenet_pickle=posenet3d-rhd-stb-slr-finetuned.pickle --output_dir=out
    hand3d-predict --video=clip.mp4 --output_dir=out           # or --video=0 for a camera

An image gives out/<name>.json and out/<name>.png; a video gives out/<name>.mp4
(annotated) and out/<name>.jsonl (one record per frame).
"""

from __future__ import annotations

import json
import pathlib
import time

import cv2
import numpy as np
from absl import app, flags

import hand3d_tf
from hand3d_tf import keypoints as kp
from hand3d_tf import pipeline
from hand3d_tf.cli.flag_values import given, parse_hw

# allow_override: other CLI modules define flags of the same names (pytest imports several).
_OVR = {"allow_override": True}
flags.DEFINE_string("image", None, "input image file (PNG, JPEG, ...)", **_OVR)
flags.DEFINE_string("video", None, "input video file, or a camera index such as 0", **_OVR)
flags.DEFINE_string("hand_side", "left", f"one of {kp.HAND_SIDES}", **_OVR)
flags.DEFINE_string(
    "weights", str(pipeline.DEFAULT_WEIGHTS_DIR), "weights directory (own format)", **_OVR
)
flags.DEFINE_string(
    "handsegnet_pickle", None, "released HandSegNet pickle (with --posenet_pickle)", **_OVR
)
flags.DEFINE_string(
    "posenet_pickle", None, "released PoseNet+lifting pickle (with --handsegnet_pickle)", **_OVR
)
flags.DEFINE_string("output_dir", "predictions", "where the outputs go", **_OVR)
flags.DEFINE_list("input_size", ["240", "320"], "network input height,width", **_OVR)
flags.DEFINE_integer("max_frames", None, "stop a video after this many frames", **_OVR)
FLAGS = flags.FLAGS


def load_pipeline() -> pipeline.ColorHandPose3D:
    try:
        size = parse_hw(given("input_size", ["240", "320"]))
    except ValueError as err:
        raise app.UsageError(str(err)) from None
    pickles = (FLAGS.handsegnet_pickle, FLAGS.posenet_pickle)
    try:
        if any(pickles):
            if not all(pickles):
                raise app.UsageError("--handsegnet_pickle and --posenet_pickle go together")
            return pipeline.ColorHandPose3D.from_original_weights(*pickles, input_size=size)
        weights = given("weights", str(pipeline.DEFAULT_WEIGHTS_DIR))
        return pipeline.ColorHandPose3D.from_weights_dir(weights, input_size=size)
    except FileNotFoundError as err:
        raise app.UsageError(str(err)) from None


def read_image(path: str) -> np.ndarray:
    """RGB uint8 [H, W, 3]; grayscale is expanded and alpha dropped by cv2.IMREAD_COLOR."""
    image = cv2.imread(path, cv2.IMREAD_COLOR) if pathlib.Path(path).is_file() else None
    if image is None:
        raise app.UsageError(f"cannot read image {path!r} (missing or not an image file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _header(pipe, hand_side: str) -> dict:
    return {"hand3d_tf_version": hand3d_tf.__version__, "hand_side": hand_side,
            "model": "ColorHandPose3D", "input_size_hw": list(pipe.input_size or []),
            "weights": pipe.source}  # fmt: skip


def predict_image(pipe, path: str, hand_side: str, out_dir: pathlib.Path):
    from hand3d_tf import figures

    image = read_image(path)
    result = pipe.predict(image, hand_side=hand_side)
    name = pathlib.Path(path).stem
    record = {"image": str(path), "image_size_hw": list(image.shape[:2])}
    record.update(_header(pipe, hand_side))
    record.update(result.record(0))
    json_path, png_path = out_dir / f"{name}.json", out_dir / f"{name}.png"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False))
    figures.prediction_figure(image, result, 0, title=name).savefig(png_path)
    return json_path, png_path


def predict_video(pipe, source: str, hand_side: str, out_dir: pathlib.Path, max_frames=None):
    from tqdm import tqdm

    from hand3d_tf import figures

    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise app.UsageError(f"cannot open video {source!r} (missing file or camera)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    name = f"camera{source}" if source.isdigit() else pathlib.Path(source).stem
    video_path, jsonl_path = out_dir / f"{name}.mp4", out_dir / f"{name}.jsonl"
    writer, frames, start = None, 0, time.perf_counter()
    with jsonl_path.open("w") as lines, tqdm(total=total, unit="frame") as bar:
        lines.write(json.dumps({"video": str(source), **_header(pipe, hand_side)}) + "\n")
        while max_frames is None or frames < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            result = pipe.predict(rgb, hand_side=hand_side)
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                writer = cv2.VideoWriter(str(video_path), fourcc, fps, (rgb.shape[1], rgb.shape[0]))
            annotated = figures.annotate_frame(rgb, result, 0)
            writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
            lines.write(json.dumps({"frame": frames, **result.record(0)}, allow_nan=False) + "\n")
            frames += 1
            bar.update(1)
    capture.release()
    if writer is not None:
        writer.release()
    seconds = time.perf_counter() - start
    print(f"{frames} frames in {seconds:.1f} s: {frames / max(seconds, 1e-9):.2f} frames/s")
    return video_path, jsonl_path


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if bool(FLAGS.image) == bool(FLAGS.video):
        raise app.UsageError("give exactly one of --image or --video")
    if FLAGS.hand_side not in kp.HAND_SIDES:
        raise app.UsageError(
            f"--hand_side must be one of {kp.HAND_SIDES}; received {FLAGS.hand_side!r}"
        )
    if FLAGS.image:
        read_image(FLAGS.image)  # fail on a bad path before loading the networks
    out_dir = pathlib.Path(given("output_dir", "predictions"))
    pipe = load_pipeline()
    out_dir.mkdir(parents=True, exist_ok=True)
    if FLAGS.image:
        paths = predict_image(pipe, FLAGS.image, FLAGS.hand_side, out_dir)
    else:
        paths = predict_video(pipe, FLAGS.video, FLAGS.hand_side, out_dir, FLAGS.max_frames)
    for path in paths:
        print(path)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
