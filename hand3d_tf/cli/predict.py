"""hand3d-predict: 2D and 3D hand keypoints for an image or a video.

Example:
  hand3d-predict --image=hand.png --output_dir=out            # weights/default, TFLite
  hand3d-predict --image=hand.png --backend=keras --output_dir=out   # the same in tf_keras
  hand3d-predict --image=hand.png --hand_side=right --weights=DIR --output_dir=out
  hand3d-predict --image=hand.png --handsegnet_pickle=handsegnet-rhd.pickle \\
      --posenet_pickle=posenet3d-rhd-stb-slr-finetuned.pickle --output_dir=out
  hand3d-predict --video=clip.mp4 --output_dir=out           # or --video=0 for a camera
  hand3d-predict --video=0 --track --smooth --show            # tracked, smoothed, live window

An image gives out/<name>.json and out/<name>.png; a video gives out/<name>.mp4
(annotated) and out/<name>.jsonl (one record per frame). --track skips HandSegNet while the
hand is tracked from the last frame's keypoints, --smooth filters the keypoints over time
(One-Euro), --show opens a window (docs/tracking.md). The library: hand3d_tf.predict.

--backend=auto (default) runs the TFLite models <net>_<tflite_mode>.tflite of the weights
folder when it holds them for --input_size (the bundled default does, at 240x320) and a
TFLite runtime is installed, else the Keras nets <net>.npz; the released pickles always run
in Keras. The TFLite backend
needs no TensorFlow. The JSON's "weights" names the backend that ran.

Exit status: 0 done; 2 a user error, one line on stderr naming the flag or file (the
flags, the image or video, --output_dir and the weights' metadata are checked before any
network is built); 130 / 143 a video interrupted by SIGINT / SIGTERM: the frames done so
far are in a playable .mp4 and the .jsonl, and one line says so.
"""

from __future__ import annotations

import dataclasses
import signal
import sys

from absl import flags

from hand3d_tf import keypoints as kp
from hand3d_tf.cli import app, shared_flags
from hand3d_tf.cli.errors import UserError, check_input_file, check_output_dir, user_errors
from hand3d_tf.lite.sidecar import MODES as TFLITE_MODES

FLAGS = flags.FLAGS
PROG = "hand3d-predict"


def define_flags(m: str) -> None:
    shared_flags.max_image_pixels(m)
    shared_flags.image(m)
    flags.DEFINE_string("video", None, "input video file, or a camera index such as 0",
                        module_name=m)  # fmt: skip
    flags.DEFINE_string("hand_side", "left", f"one of {kp.HAND_SIDES}", module_name=m)
    shared_flags.weights(m)
    shared_flags.released_pickles(m, nets=("handsegnet", "posenet"))
    shared_flags.backend(m)
    flags.DEFINE_enum("tflite_mode", "fp32", TFLITE_MODES, "precision of the TFLite backend",
                      module_name=m)  # fmt: skip
    shared_flags.output_dir(m, default="predictions")
    shared_flags.input_size(m)
    flags.DEFINE_integer("max_frames", None, "stop a video after this many frames (>= 0)",
                         module_name=m)  # fmt: skip
    flags.DEFINE_bool(
        "track",
        False,
        "video: crop from the last frame's keypoints and skip "
        "HandSegNet while the hand is tracked (docs/tracking.md)",
        module_name=m,
    )
    flags.DEFINE_bool(
        "smooth", False, "video: One-Euro smoothing of the 2D and 3D keypoints", module_name=m
    )
    flags.DEFINE_bool("show", False, "video: show the annotated frames in a window (q quits)",
                      module_name=m)  # fmt: skip


VIDEO_ONLY = {
    "track": "tracking follows the hand from one frame to the next",
    "smooth": "smoothing filters keypoints over time",
    "show": "a single image's figure is the .png",
}


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    image: str | None
    video: str | None
    hand_side: str
    weights: str | None  # None: the bundled weights/default
    handsegnet_pickle: str | None
    posenet_pickle: str | None
    output_dir: str
    input_size: tuple[int, int]
    max_frames: int | None
    backend: str = "auto"
    tflite_mode: str = "fp32"
    track: bool = False
    smooth: bool = False
    show: bool = False

    def __post_init__(self):
        if bool(self.image) == bool(self.video):
            raise UserError("give exactly one of --image or --video")
        if self.hand_side not in kp.HAND_SIDES:
            raise UserError(f"--hand_side must be one of {kp.HAND_SIDES}; "
                            f"received {self.hand_side!r}")  # fmt: skip
        for name in ("track", "smooth", "show"):
            if self.image and getattr(self, name):
                raise UserError(f"--{name} needs a --video: {VIDEO_ONLY[name]}")
        if self.max_frames is not None and self.max_frames < 0:
            raise UserError(f"--max_frames must be >= 0; received {self.max_frames}")
        if bool(self.handsegnet_pickle) != bool(self.posenet_pickle):
            raise UserError("--handsegnet_pickle and --posenet_pickle go together")
        if self.backend == "tflite" and self.handsegnet_pickle:
            raise UserError("--backend=tflite reads a --weights folder, not the released "
                            "pickles; use --backend=keras with them")  # fmt: skip

    @property
    def pickles(self) -> bool:
        return bool(self.handsegnet_pickle)

    @classmethod
    def from_flags(cls, values=FLAGS) -> PredictConfig:
        names = [f.name for f in dataclasses.fields(cls) if f.name != "input_size"]
        kwargs = {name: values[name].value for name in names}
        return cls(**kwargs, input_size=shared_flags.hw(values["input_size"].value))


def check(config: PredictConfig):
    """The cheap checks, each naming its flag or file: no network is built. Returns the
    output folder and the check of the weights (``predict.check_source``: its ``backend``
    is the one that will run, "tflite" or "keras"; the load reuses it)."""
    from hand3d_tf import predict

    if config.pickles:
        check_input_file(config.handsegnet_pickle, "--handsegnet_pickle")
        check_input_file(config.posenet_pickle, "--posenet_pickle")
        with user_errors(ValueError, FileNotFoundError):
            checked = predict.check_source(None, config.handsegnet_pickle, config.posenet_pickle,
                                           "keras", input_size=config.input_size)  # fmt: skip
    else:
        prefix = f"--backend={config.backend} --weights: "
        with user_errors(*predict.weight_errors(), prefix=prefix):
            checked = predict.check_source(config.weights, backend=config.backend,
                                           mode=config.tflite_mode,
                                           input_size=config.input_size)  # fmt: skip
    with user_errors(ValueError, FileNotFoundError):
        if config.image:
            predict.check_image(config.image)
        else:
            predict.check_video(config.video)
        if config.show:
            predict.check_display()
    return check_output_dir(config.output_dir), checked


def main(argv):
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {argv[1:]}")
    config = PredictConfig.from_flags()
    out_dir, checked = check(config)
    backend = checked.backend
    if backend == "keras":
        app.quiet_tensorflow()  # only now: the user errors above cost no TensorFlow start
    from hand3d_tf import predict

    # A missing TFLite runtime is the user's install: one line naming the wheels to get.
    runtime_missing = (ImportError,) if backend == "tflite" else ()
    with user_errors(*predict.weight_errors(), *runtime_missing):
        pipe = predict.load_pipeline(checked=checked)
    with user_errors(OSError, prefix="--output_dir: "):
        out_dir.mkdir(parents=True, exist_ok=True)
    if config.image:
        for path in predict.predict_image(pipe, config.image, config.hand_side, out_dir):
            print(path)
        return 0
    from hand3d_tf import tracking

    stop = predict.StopOnSignal()
    with stop.installed():
        outputs = predict.predict_video(
            pipe, config.video, config.hand_side, out_dir, config.max_frames, stop=stop,
            tracking=tracking.TrackingConfig() if config.track else None,
            smoothing=tracking.SmoothingConfig() if config.smooth else None, show=config.show,
        )  # fmt: skip
    for path in outputs.paths():
        print(path)
    if outputs.interrupted_by:
        written = " and ".join(str(p) for p in outputs.paths())
        name = signal.Signals(outputs.interrupted_by).name
        print(f"{PROG}: interrupted by {name} after {outputs.frames} frames; wrote {written}",
              file=sys.stderr)  # fmt: skip
        return 128 + outputs.interrupted_by
    return 0


def run():
    app.run(__name__, main, define_flags, needs_tensorflow=False)


if __name__ == "__main__":
    run()
