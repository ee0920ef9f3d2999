"""Image and video prediction with ColorHandPose3D: what hand3d-predict and `make demo` do.

    from hand3d_tf import predict
    pipe = predict.load_pipeline(weights="weights/default")       # or the released pickles
    pipe = predict.load_pipeline(backend="keras")                 # auto | tflite | keras
    json_path, png_path = predict.predict_image(pipe, "hand.png", "left", "out")
    outputs = predict.predict_video(pipe, "clip.mp4", "left", "out", max_frames=100)
    outputs = predict.predict_video(pipe, "clip.mp4", "left", "out",           # docs/tracking.md
                                    tracking=TrackingConfig(), smoothing=SmoothingConfig())

An image gives ``<output_dir>/<name>.json`` (the result's record, the image size, the hand
side, the model and its weights; strict JSON, missing values are null) and ``<name>.png``
(hand3d_tf.drawing.prediction_figure). A video gives ``<name>.mp4`` (mask tint + skeleton)
and ``<name>.jsonl`` (a header line, then one record per frame with "tracked": whether
HandSegNet was skipped on it, hand3d_tf/tracking.py).

The cheap checks (``check_weights``, ``check_image``, ``check_video``) read metadata only and
build no network, so a caller can refuse bad input before the seconds a load takes. Errors
are ordinary exceptions naming the file or value: FileNotFoundError, ValueError and the
weights module's WeightsFileError / WeightMismatchError and the TFLite backend's
TfliteBackendError / SidecarError (``weight_errors()``). No TensorFlow is imported here;
loading Keras networks imports it, the TFLite backend never does (hand3d_tf.pipeline).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import sys
import time

import cv2
import numpy as np

from hand3d_tf import images, pipeline, runtime
from hand3d_tf.constants import DEFAULT_INPUT_SIZE
from hand3d_tf.version import __version__

EXAMPLE_IMAGE = pipeline.BUNDLED_WEIGHTS_ROOT / "example_hand.png"  # `make demo`'s image


def weight_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of weight files that are missing, malformed or do not fit the nets."""
    from hand3d_tf import safe_pickle, weights
    from hand3d_tf.lite import backend, sidecar

    return (
        FileNotFoundError, weights.WeightsFileError, weights.WeightMismatchError,
        safe_pickle.UnsafePickleError, backend.TfliteBackendError, sidecar.SidecarError,
    )  # fmt: skip


# --- weights -----------------------------------------------------------------------------


def check_source(
    weights=None, handsegnet_pickle=None, posenet_pickle=None, backend="auto", mode="fp32",
    input_size=DEFAULT_INPUT_SIZE,
) -> runtime.loader.Checked:  # fmt: skip
    """``hand3d_tf.runtime.check`` of the pickles, or of the weights folder (default: the
    bundled ``weights/default``): builds no network; ``load_pipeline(checked=...)`` then
    loads from it without reading a file of its metadata again."""
    if _given_pickles(handsegnet_pickle, posenet_pickle):
        weights = None
    else:
        weights = weights or pipeline.DEFAULT_WEIGHTS_DIR
    return runtime.check(weights, backend, mode, input_size, handsegnet_pickle, posenet_pickle)


def check_weights(
    weights=None, handsegnet_pickle=None, posenet_pickle=None, backend="auto", mode="fp32",
    input_size=DEFAULT_INPUT_SIZE,
) -> str:  # fmt: skip
    """Without building a network: the pickles exist, or the weights folder (default: the
    bundled ``weights/default``) holds what the backend needs, with sound metadata.

    Returns the backend that will run ("tflite" or "keras"; ``pipeline.resolve_backend``
    for "auto"). ``check_source`` returns the whole check.
    """
    return check_source(weights, handsegnet_pickle, posenet_pickle, backend, mode,
                        input_size).backend  # fmt: skip


def _given_pickles(handsegnet_pickle, posenet_pickle) -> bool:
    return bool(handsegnet_pickle or posenet_pickle)


def load_pipeline(
    weights=None, handsegnet_pickle=None, posenet_pickle=None,
    input_size=DEFAULT_INPUT_SIZE, backend="auto", mode="fp32", checked=None,
) -> pipeline.ColorHandPose3D:  # fmt: skip
    """ColorHandPose3D from the released pickles (both; Keras) or a weights folder
    (default: the bundled ``weights/default``) with ``backend`` "tflite" (``<net>_<mode>
    .tflite``, no TensorFlow), "keras" (``<net>.npz``, imports TensorFlow) or "auto"
    (``pipeline.resolve_backend``). ``pipe.source["backend"]`` names the one chosen.

    A thin wrapper: with ``checked`` (``check_source``'s result; the other arguments are
    then ignored) it is ``hand3d_tf.runtime.load(checked)``; without, the pickles go to
    ``ColorHandPose3D.from_original_weights`` and a folder to ``ColorHandPose3D.from_dir``,
    both of which are that same loader.
    """
    cls = pipeline.ColorHandPose3D
    if checked is not None:
        return cls.from_loaded(runtime.load(checked))
    if _given_pickles(handsegnet_pickle, posenet_pickle):
        if not (handsegnet_pickle and posenet_pickle):
            raise ValueError("handsegnet_pickle and posenet_pickle go together; give both")
        if backend == "tflite":
            raise ValueError("the TFLite backend reads a weights folder, not the released pickles")
        return cls.from_original_weights(handsegnet_pickle, posenet_pickle, input_size)
    return cls.from_dir(weights or pipeline.DEFAULT_WEIGHTS_DIR, input_size, backend, mode)


# --- inputs ------------------------------------------------------------------------------


def check_size(what: str, height: int, width: int) -> None:
    """ValueError naming ``what`` if a side is under pipeline.MIN_IMAGE_SIDE pixels."""
    if min(height, width) < pipeline.MIN_IMAGE_SIDE:
        side = pipeline.MIN_IMAGE_SIDE
        raise ValueError(
            f"{what} is {width}x{height} pixels; prediction needs at least {side}x{side}"
        )


def read_image(path) -> np.ndarray:
    """RGB uint8 [H, W, 3]; grayscale is expanded and alpha dropped by cv2.IMREAD_COLOR.

    FileNotFoundError / ValueError naming ``path`` when it is missing or not an image, or
    declares more pixels than hand3d_tf.images.max_pixels() (checked before decoding).
    """
    path = str(path)
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"cannot read image {path!r} (missing or not an image file)")
    return images.read_image(path)  # ImageError (a ValueError): not an image, too large


def check_image(path) -> np.ndarray:
    """``read_image(path)`` if it is large enough to predict on (else ValueError)."""
    image = read_image(path)
    check_size(f"image {str(path)!r}", *image.shape[:2])
    return image


def open_video(source: str):
    """An opened cv2.VideoCapture of a file, or of camera N for the source ``"N"``."""
    source = str(source)
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise ValueError(f"cannot open video {source!r} (missing file or camera)")
    return capture


def check_video(source: str) -> None:
    """ValueError for a video that cannot be opened or whose frames are too small."""
    capture = open_video(source)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    if width > 0 and height > 0:
        check_size(f"video {str(source)!r}", height, width)


WINDOW = "hand3d-predict"  # the --show window's title


def check_display() -> None:
    """ValueError unless a cv2 window can open: OpenCV built with a GUI and, on Linux, a
    display named by $DISPLAY or $WAYLAND_DISPLAY (checked first: some GUI back-ends abort
    the process without one)."""
    gui = [line for line in cv2.getBuildInformation().splitlines() if "GUI:" in line]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        raise ValueError(
            f"--show needs an OpenCV with a GUI; this one ({cv2.__version__}) has none "
            "(opencv-python-headless). Install opencv-python, or leave out --show: the "
            "annotated .mp4 is written either way"
        )
    linux = sys.platform.startswith("linux")
    if linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ValueError(
            "--show needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set (a "
            "remote or headless session); leave out --show: the annotated .mp4 is written "
            "either way"
        )


def _header(pipe, hand_side: str) -> dict:
    return {"hand3d_tf_version": __version__, "hand_side": hand_side,
            "model": "ColorHandPose3D", "input_size_hw": list(pipe.input_size or []),
            "weights": pipe.source}  # fmt: skip


# --- image -------------------------------------------------------------------------------


def predict_image(
    pipe, image, hand_side: str, output_dir, name: str | None = None, on_result=None
) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``<output_dir>/<name>.json`` and ``<name>.png`` for one image; return both paths.

    Args:
      pipe: a ColorHandPose3D (or anything with its ``predict``, ``input_size``, ``source``).
      image: an image file, or an RGB uint8 array [H, W, 3] (then ``name`` is required).
      hand_side: "left" or "right" (hand3d_tf.keypoints.HAND_SIDES).
      output_dir: created if needed.
      name: the outputs' stem; default the image file's stem.
      on_result: called with the HandPoseResult as soon as it exists (before any file is
        written; the demo times it).
    """
    from hand3d_tf import drawing

    if isinstance(image, (str, os.PathLike)):
        source = str(image)
        name = name or pathlib.Path(image).stem
        image = check_image(image)
    elif name is None:
        raise ValueError("predict_image: give a name for the outputs of an array image")
    else:
        source = name
        check_size(f"image {name!r}", *np.shape(image)[:2])
    result = pipe.predict(image, hand_side=hand_side)
    if on_result is not None:
        on_result(result)
    record = {"image": source, "image_size_hw": list(image.shape[:2])}
    record.update(_header(pipe, hand_side))
    record.update(result.record(0))
    out_dir = pathlib.Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{name}.json", out_dir / f"{name}.png"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False))
    drawing.prediction_figure(image, result, 0, title=name).savefig(png_path)
    return json_path, png_path


# --- video -------------------------------------------------------------------------------


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
    pipe, source: str, hand_side: str, output_dir, max_frames: int | None = None, stop=None,
    tracking=None, smoothing=None, show: bool = False,
) -> VideoOutputs:  # fmt: skip
    """Annotated ``<name>.mp4`` + ``<name>.jsonl`` of a video file or camera ``"N"``.

    ``max_frames`` ends it after that many frames; ``stop`` (a StopOnSignal, installed by
    the caller) ends it after the current frame. The .mp4 is finalised either way, so the
    frames done are playable. Prints a progress bar and the frames per second.
    ``tracking`` (hand3d_tf.tracking.TrackingConfig) skips HandSegNet while the hand is
    tracked; ``smoothing`` (SmoothingConfig) filters the keypoints over time (docs/tracking.md).
    Neither (the default) runs ``pipe.predict`` on every frame. ``show`` also draws each
    annotated frame in a window (``check_display`` first); q or Esc there stops the video.
    """
    from tqdm import tqdm

    from hand3d_tf import drawing
    from hand3d_tf.tracking import HandTracker

    source = str(source)
    if show:
        check_display()
    capture = open_video(source)
    camera = source.isdigit()
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    name = f"camera{source}" if camera else pathlib.Path(source).stem
    out_dir = pathlib.Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, jsonl_path = out_dir / f"{name}.mp4", out_dir / f"{name}.jsonl"
    tracker = HandTracker(pipe, tracking, smoothing, fps)
    header = {"video": source, **_header(pipe, hand_side),
              "tracking": _config_dict(tracker.tracking), "smoothing": _config_dict(tracker.smoothing)}  # fmt: skip
    writer, frames, start = None, 0, time.perf_counter()
    try:
        with jsonl_path.open("w") as lines, tqdm(total=total, unit="frame") as bar:
            lines.write(json.dumps(header) + "\n")
            while max_frames is None or frames < max_frames:
                if stop is not None and stop.signum:
                    break
                ok, frame = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                # A camera's frames come when they come; a file's are 1/fps apart.
                timestamp = time.perf_counter() - start if camera else frames / fps
                out = tracker.step(rgb, hand_side, timestamp)
                result = out.result
                if writer is None:
                    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                    size = (rgb.shape[1], rgb.shape[0])
                    writer = cv2.VideoWriter(str(video_path), fourcc, fps, size)
                annotated = cv2.cvtColor(drawing.annotate_frame(rgb, result, 0), cv2.COLOR_RGB2BGR)
                writer.write(annotated)
                record = {"frame": frames, **out.record()}
                lines.write(json.dumps(record, allow_nan=False) + "\n")
                frames += 1
                bar.update(1)
                if show:
                    cv2.imshow(WINDOW, annotated)
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
    finally:
        capture.release()
        if writer is not None:
            writer.release()  # writes the .mp4 index: without it no player opens the file
        if show:
            cv2.destroyWindow(WINDOW)
    seconds = time.perf_counter() - start
    print(f"{frames} frames in {seconds:.1f} s: {frames / max(seconds, 1e-9):.2f} frames/s")
    if writer is None:
        print(f"no frame was processed: no video written ({video_path} does not exist)")
    interrupted = stop.signum if stop is not None else None
    return VideoOutputs(video_path if writer is not None else None, jsonl_path, frames, interrupted)


def _config_dict(config) -> dict | None:
    """A tracking/smoothing config for the .jsonl header; None when it is off."""
    return dataclasses.asdict(config) if config.enabled else None


# --- the demo ----------------------------------------------------------------------------


def seconds_since_process_start() -> float | None:
    """Wall seconds since this process started (Linux /proc, 10 ms ticks); None elsewhere."""
    try:
        fields = pathlib.Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(pathlib.Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_demo(
    image=EXAMPLE_IMAGE, output_dir="demo_output", hand_side: str = "left", backend="auto",
    weights=None, checked=None,
) -> tuple:  # fmt: skip
    """`make demo`: a model (``weights``: a weights folder; default the bundled default
    model) on ``image``; prints what it does (image, model and backend, hand found, when the
    result existed after the process started, the files written) and returns
    predict_image's two paths. backend: "auto" (TFLite when the folder holds the files),
    "tflite" or "keras". checked: ``check_source``'s result, loaded as it is (each sidecar
    read and each file hashed once; ``weights`` and ``backend`` are then ignored)."""
    image_path = pathlib.Path(image)
    rgb = check_image(image_path)
    print(f"image: {image_path} ({rgb.shape[1]}x{rgb.shape[0]})")
    start = time.perf_counter()
    if checked is not None:
        pipe = load_pipeline(checked=checked)
    elif weights is None:
        pipe = pipeline.ColorHandPose3D.from_pretrained(backend=backend)
    else:
        pipe = pipeline.ColorHandPose3D.from_dir(weights, backend=backend)
    source = pipe.source.get("weights", pipe.source)
    chosen = pipe.source.get("backend", "keras")
    if chosen == "tflite":
        chosen = f"tflite {pipe.source['mode']}, {pipe.source['runtime']}"
    print(f"model: {source} ({chosen} backend; loaded in {time.perf_counter() - start:.2f} s)")
    start, result_at = time.perf_counter(), []

    def note_time(_result):
        result_at.append(seconds_since_process_start())

    json_path, png_path = predict_image(pipe, image_path, hand_side, output_dir, None, note_time)
    seconds = time.perf_counter() - start
    record = json.loads(json_path.read_text())
    after = "" if result_at[0] is None else f"; result {result_at[0]:.2f} s after start-up"
    print(f"hand found: {record['hand_found']}{after}; prediction + figure in {seconds:.2f} s")
    print(f"wrote {json_path}")
    print(f"wrote {png_path}")
    return json_path, png_path
