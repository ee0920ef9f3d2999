"""hand3d-predict: 2D and 3D hand keypoints for an image or a video.

    hand3d-predict --image=hand.png --output_dir=out            # weights/default
    hand3d-predict --image=hand.png --hand_side=right --weights=DIR --output_dir=out
    hand3d-predict --image=hand.png --handsegnet_pickle=handsegnet-rhd.pickle \\
        --posenet_pickle=posenet3d-rhd-stb-slr-finetuned.pickle --output_dir=out
    hand3d-predict --video=clip.mp4 --output_dir=out           # or --video=0 for a camera

An image gives out/<name>.json and out/<name>.png; a video gives out/<name>.mp4
(annotated) and out/<name>.jsonl (one record per frame).

Exit status: 0 done; 2 a user error, one line on stderr naming the flag or file (the
flags, the image or video, --output_dir and the weights' metadata are checked before any
network is built); 130 / 143 a video interrupted by SIGINT / SIGTERM: the frames done so
far are in a playable .mp4 and the .jsonl, and one line says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import signal
import sys
import time

import cv2
import numpy as np
from absl import flags

import hand3d_tf
from hand3d_tf import keypoints as kp
from hand3d_tf import pipeline
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors
from hand3d_tf.cli.errors import run as run_cli
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
flags.DEFINE_integer("max_frames", None, "stop a video after this many frames (>= 0)", **_OVR)
FLAGS = flags.FLAGS


def _weight_errors():
    """The library's exceptions for weight files that are missing, malformed or unfit."""
    from hand3d_tf import safe_pickle, weights

    return (
        FileNotFoundError, weights.WeightsFileError, weights.WeightMismatchError,
        safe_pickle.UnsafePickleError,
    )  # fmt: skip


def input_size() -> tuple[int, int]:
    with user_errors(ValueError):
        return parse_hw(given("input_size", ["240", "320"]))


def check_weights() -> None:
    """The weight flags, without building a network: files exist, metadata sound."""
    pickles = (FLAGS.handsegnet_pickle, FLAGS.posenet_pickle)
    if any(pickles):
        if not all(pickles):
            raise UserError("--handsegnet_pickle and --posenet_pickle go together")
        check_input_file(FLAGS.handsegnet_pickle, "--handsegnet_pickle")
        check_input_file(FLAGS.posenet_pickle, "--posenet_pickle")
        return
    with user_errors(*_weight_errors(), prefix="--weights: "):
        pipeline.check_weights_dir(given("weights", str(pipeline.DEFAULT_WEIGHTS_DIR)))


def load_pipeline() -> pipeline.ColorHandPose3D:
    size = input_size()
    pickles = (FLAGS.handsegnet_pickle, FLAGS.posenet_pickle)
    if any(pickles) and not all(pickles):
        raise UserError("--handsegnet_pickle and --posenet_pickle go together")
    with user_errors(*_weight_errors()):
        if any(pickles):
            return pipeline.ColorHandPose3D.from_original_weights(*pickles, input_size=size)
        weights = given("weights", str(pipeline.DEFAULT_WEIGHTS_DIR))
        return pipeline.ColorHandPose3D.from_weights_dir(weights, input_size=size)


def _check_size(what: str, height: int, width: int) -> None:
    if min(height, width) < pipeline.MIN_IMAGE_SIDE:
        side = pipeline.MIN_IMAGE_SIDE
        raise UserError(
            f"{what} is {width}x{height} pixels; hand3d-predict needs at least {side}x{side}"
        )


def read_image(path: str) -> np.ndarray:
    """RGB uint8 [H, W, 3]; grayscale is expanded and alpha dropped by cv2.IMREAD_COLOR."""
    image = cv2.imread(path, cv2.IMREAD_COLOR) if pathlib.Path(path).is_file() else None
    if image is None:
        raise UserError(f"cannot read image {path!r} (missing or not an image file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _open_video(source: str):
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise UserError(f"cannot open video {source!r} (missing file or camera)")
    return capture


def check_video(source: str) -> None:
    """Fail on a video that cannot be opened or whose frames are too small, before loading."""
    capture = _open_video(source)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    if width > 0 and height > 0:
        _check_size(f"video {source!r}", height, width)


def _header(pipe, hand_side: str) -> dict:
    return {"hand3d_tf_version": hand3d_tf.__version__, "hand_side": hand_side,
            "model": "ColorHandPose3D", "input_size_hw": list(pipe.input_size or []),
            "weights": pipe.source}  # fmt: skip


def predict_image(pipe, path: str, hand_side: str, out_dir: pathlib.Path):
    from hand3d_tf import figures

    image = read_image(path)
    _check_size(f"image {path!r}", *image.shape[:2])
    result = pipe.predict(image, hand_side=hand_side)
    name = pathlib.Path(path).stem
    record = {"image": str(path), "image_size_hw": list(image.shape[:2])}
    record.update(_header(pipe, hand_side))
    record.update(result.record(0))
    json_path, png_path = out_dir / f"{name}.json", out_dir / f"{name}.png"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False))
    figures.prediction_figure(image, result, 0, title=name).savefig(png_path)
    return json_path, png_path


@dataclasses.dataclass
class VideoOutputs:
    """What predict_video wrote. video: None when no frame was processed (no file)."""

    video: pathlib.Path | None
    jsonl: pathlib.Path
    frames: int
    interrupted_by: int | None = None  # the signal that stopped it early

    def paths(self) -> list[pathlib.Path]:
        return [p for p in (self.video, self.jsonl) if p is not None]


class StopOnSignal:
    """While installed, SIGINT / SIGTERM only set ``signum``: the video loop finishes its
    frame, then stops and finalises the files (a killed cv2 writer leaves an unplayable
    .mp4 without its index). Signals after the first are ignored until it is removed."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None

    def _handle(self, signum, frame):
        self.signum = self.signum or signum

    @contextlib.contextmanager
    def installed(self):
        previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def predict_video(
    pipe, source: str, hand_side: str, out_dir: pathlib.Path, max_frames=None, stop=None
) -> VideoOutputs:
    """Annotated .mp4 + .jsonl of ``source``; ``stop`` (a StopOnSignal) ends it early."""
    from tqdm import tqdm

    from hand3d_tf import figures

    capture = _open_video(source)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    name = f"camera{source}" if source.isdigit() else pathlib.Path(source).stem
    video_path, jsonl_path = out_dir / f"{name}.mp4", out_dir / f"{name}.jsonl"
    writer, frames, start = None, 0, time.perf_counter()
    try:
        with jsonl_path.open("w") as lines, tqdm(total=total, unit="frame") as bar:
            lines.write(json.dumps({"video": str(source), **_header(pipe, hand_side)}) + "\n")
            while max_frames is None or frames < max_frames:
                if stop is not None and stop.signum:
                    break
                ok, frame = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                result = pipe.predict(rgb, hand_side=hand_side)
                if writer is None:
                    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                    size = (rgb.shape[1], rgb.shape[0])
                    writer = cv2.VideoWriter(str(video_path), fourcc, fps, size)
                annotated = figures.annotate_frame(rgb, result, 0)
                writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
                record = {"frame": frames, **result.record(0)}
                lines.write(json.dumps(record, allow_nan=False) + "\n")
                frames += 1
                bar.update(1)
    finally:
        capture.release()
        if writer is not None:
            writer.release()  # writes the .mp4 index: without it no player opens the file
    seconds = time.perf_counter() - start
    print(f"{frames} frames in {seconds:.1f} s: {frames / max(seconds, 1e-9):.2f} frames/s")
    if writer is None:
        print(f"no frame was processed: no video written ({video_path} does not exist)")
    interrupted = stop.signum if stop is not None else None
    return VideoOutputs(video_path if writer is not None else None, jsonl_path, frames, interrupted)


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    if bool(FLAGS.image) == bool(FLAGS.video):
        raise UserError("give exactly one of --image or --video")
    if FLAGS.hand_side not in kp.HAND_SIDES:
        raise UserError(f"--hand_side must be one of {kp.HAND_SIDES}; received {FLAGS.hand_side!r}")
    if FLAGS.max_frames is not None and FLAGS.max_frames < 0:
        raise UserError(f"--max_frames must be >= 0; received {FLAGS.max_frames}")
    # Everything cheap is checked before the networks are built (seconds).
    input_size()
    check_weights()
    if FLAGS.image:
        image = read_image(FLAGS.image)
        _check_size(f"image {FLAGS.image!r}", *image.shape[:2])
    else:
        check_video(FLAGS.video)
    out_dir = check_output_dir(given("output_dir", "predictions"))
    pipe = load_pipeline()
    with user_errors(OSError, prefix="--output_dir: "):
        out_dir.mkdir(parents=True, exist_ok=True)
    if FLAGS.image:
        for path in predict_image(pipe, FLAGS.image, FLAGS.hand_side, out_dir):
            print(path)
        return 0
    stop = StopOnSignal()
    with stop.installed():
        outputs = predict_video(
            pipe, FLAGS.video, FLAGS.hand_side, out_dir, FLAGS.max_frames, stop=stop
        )
    for path in outputs.paths():
        print(path)
    if outputs.interrupted_by:
        written = " and ".join(str(p) for p in outputs.paths())
        print(
            f"hand3d-predict: interrupted by {signal.Signals(outputs.interrupted_by).name} "
            f"after {outputs.frames} frames; wrote {written}",
            file=sys.stderr,
        )
        return 128 + outputs.interrupted_by
    return 0


def run():
    run_cli(main, "hand3d-predict")


if __name__ == "__main__":
    run()
