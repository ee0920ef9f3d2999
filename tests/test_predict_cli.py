"""Image and video prediction (hand3d_tf/predict.py) and its CLIs, hand3d-predict and the demo.

The library is called directly on tiny random-weight networks; each CLI runs once in a
subprocess for a success and a user error (tests/test_faults.py holds predict's other
one-line user errors and the signal tests).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hand3d_tf import pipeline, predict
from hand3d_tf.cli.errors import UserError
from tests.helpers import run_cli

CONFIGS = {
    "handsegnet": {"width": 0.125, "upsample": True},
    "posenet": {"width": 0.125},
    "lifting": {"width": 0.125, "variant": "proposed"},
}


@pytest.fixture(scope="module")
def weights_dir(tiny_weights):
    return tiny_weights(CONFIGS)


@pytest.fixture(scope="module")
def tiny_pipe(weights_dir):
    return predict.load_pipeline(weights_dir)


def _image(hw=(120, 160)) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (hw[0] // 8, hw[1] // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (hw[1], hw[0])), 0, 255).astype(np.uint8)


def _write_image(path: pathlib.Path) -> pathlib.Path:
    cv2.imwrite(str(path), _image())  # BGR on disk: the file's RGB is _image()[..., ::-1]
    return path


def test_load_pipeline_reads_the_weights_folder_at_the_input_size(weights_dir, tiny_pipe):
    assert tiny_pipe.input_size == (240, 320)
    assert tiny_pipe.source["weights"] == str(weights_dir)
    assert tiny_pipe.source["configs"]["handsegnet"]["upsample"] is True
    assert predict.load_pipeline(weights_dir, input_size=(120, 160)).input_size == (120, 160)


def test_image_writes_json_and_png(tiny_pipe, tmp_path):
    image_path = _write_image(tmp_path / "hand.png")
    out = tmp_path / "out"
    json_path, png_path = predict.predict_image(tiny_pipe, image_path, "right", out)
    assert (json_path, png_path) == (out / "hand.json", out / "hand.png")
    text = json_path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    record = json.loads(text)
    assert record["image"] == str(image_path)
    assert record["hand_side"] == "right" and record["image_size_hw"] == [120, 160]
    assert record["input_size_hw"] == [240, 320] and record["model"] == "ColorHandPose3D"
    assert np.asarray(record["keypoints_uv"]).shape == (21, 2)
    assert np.asarray(record["keypoints_xyz"]).shape == (21, 3)
    assert len(record["keypoint_scores"]) == 21 and len(record["keypoint_names"]) == 21
    assert record["weights"]["configs"]["posenet"]["width"] == 0.125
    assert isinstance(record["hand_found"], bool)
    png = cv2.imread(str(png_path))
    assert png is not None and png.shape[0] > 300 and png.std() > 5
    # The values are the library's for the same image (RGB: the file holds BGR), weights
    # and hand side.
    want = tiny_pipe.predict(_image()[..., ::-1], hand_side="right").record(0)
    assert want["keypoints_uv"] != want["keypoints_xyz"]  # not a trivially equal pair
    for key, value in want.items():
        np.testing.assert_array_equal(record[key], value, err_msg=key)


def test_array_image_needs_a_name_and_gives_the_same_record(tiny_pipe, tmp_path):
    rgb = _image()[..., ::-1]
    with pytest.raises(ValueError, match="name"):
        predict.predict_image(tiny_pipe, rgb, "left", tmp_path)
    json_path, _ = predict.predict_image(tiny_pipe, rgb, "left", tmp_path / "a", name="frame")
    from_file = predict.predict_image(tiny_pipe, _write_image(tmp_path / "frame.png"), "left",
                                      tmp_path / "b")[0]  # fmt: skip
    record, want = json.loads(json_path.read_text()), json.loads(from_file.read_text())
    assert record.pop("image") == "frame" and want.pop("image") == str(tmp_path / "frame.png")
    assert record == want


def test_default_model_on_the_example_writes_the_stored_prediction(
    default_pipeline, tmp_path, monkeypatch
):
    from tests.test_default_model import assert_stored_prediction

    # No weights given: the bundled weights/default at 240x320, as the stored prediction was
    # made; the session's default model stands in for the load (built and checked once).
    built = []

    def from_weights_dir(path, input_size=pipeline.DEFAULT_INPUT_SIZE):
        built.append((pathlib.Path(path), tuple(input_size)))
        return default_pipeline

    monkeypatch.setattr(pipeline.ColorHandPose3D, "from_weights_dir", from_weights_dir)
    pipe = predict.load_pipeline(backend="keras")
    assert built == [(pipeline.DEFAULT_WEIGHTS_DIR, tuple(default_pipeline.input_size))]
    json_path, _ = predict.predict_image(pipe, predict.EXAMPLE_IMAGE, "left", tmp_path)
    record = json.loads(json_path.read_text())
    assert json_path == tmp_path / "example_hand.json"
    assert record["hand_side"] == "left" and record["image_size_hw"] == [240, 320]
    assert_stored_prediction(record)


def test_demo_prints_image_model_hand_found_and_files(default_pipeline, tmp_path, monkeypatch,
                                                      capsys):  # fmt: skip
    asked = []
    monkeypatch.setattr(pipeline.ColorHandPose3D, "from_pretrained",
                        lambda backend: asked.append(backend) or default_pipeline)  # fmt: skip
    json_path, png_path = predict.run_demo(output_dir=tmp_path / "demo", backend="keras")
    lines = capsys.readouterr().out.splitlines()
    assert asked == ["keras"]
    assert lines[0] == f"image: {predict.EXAMPLE_IMAGE} (320x240)"
    weights = default_pipeline.source["weights"]
    assert lines[1].startswith(f"model: {weights} (keras backend; loaded in ")
    assert re.fullmatch(r"hand found: True; result \d+\.\d\d s after start-up; "
                        r"prediction \+ figure in \d+\.\d\d s", lines[2])  # fmt: skip
    assert lines[3:] == [f"wrote {json_path}", f"wrote {png_path}"]
    assert json_path == tmp_path / "demo" / "example_hand.json" and png_path.is_file()


def test_video_writes_annotated_video_and_json_lines(tiny_pipe, tmp_path, capsys):
    video_path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for shift in range(4):
        writer.write(np.roll(_image(), 8 * shift, axis=1)[..., ::-1])
    writer.release()
    out = tmp_path / "out"
    outputs = predict.predict_video(tiny_pipe, str(video_path), "left", out, max_frames=3)
    assert outputs.paths() == [out / "clip.mp4", out / "clip.jsonl"]
    assert outputs.frames == 3 and outputs.interrupted_by is None
    assert "frames/s" in capsys.readouterr().out
    lines = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert lines[0]["video"] == str(video_path) and lines[0]["hand_side"] == "left"
    assert [line["frame"] for line in lines[1:]] == [0, 1, 2]
    capture = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_bad_inputs_name_the_file_or_value(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not_an_image.png"):
        predict.read_image(bad)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        predict.read_image(tmp_path / "missing.png")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((20, 40, 3), np.uint8))
    with pytest.raises(ValueError, match=r"tiny.png' is 40x20 pixels; .* at least 32x32"):
        predict.check_image(tiny)
    (tmp_path / "afile").write_text("hello")
    with pytest.raises(ValueError, match="cannot open video .*afile"):
        predict.check_video(str(tmp_path / "afile"))
    with pytest.raises(FileNotFoundError, match="weights directory .*nothing"):
        predict.check_weights(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="none.pickle"):
        predict.check_weights(None, tmp_path / "none.pickle", tmp_path / "none.pickle")
    for one in ({"handsegnet_pickle": bad}, {"posenet_pickle": bad}):
        with pytest.raises(ValueError, match="go together"):
            predict.load_pipeline(**one)


# --- the CLIs ------------------------------------------------------------------------------

# LiteRT's C++ runtime logs this once per process on stderr; the TFLite backend filters it
# (hand3d_tf/quiet.py), so a CLI's stderr must not show it.
LITERT_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def _without_litert_info(stderr: str) -> list[str]:
    lines = stderr.strip().splitlines()
    assert LITERT_INFO not in lines
    return lines


def _config(**changes):
    from hand3d_tf.cli.predict import PredictConfig

    values = dict(image="a.png", video=None, hand_side="left", weights=None,
                  handsegnet_pickle=None, posenet_pickle=None, output_dir="out",
                  input_size=(240, 320), max_frames=None)  # fmt: skip
    return PredictConfig(**{**values, **changes})


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"image": None}, "exactly one of --image or --video"),
        ({"video": "clip.mp4"}, "exactly one of --image or --video"),
        ({"hand_side": "middle"}, "--hand_side must be one of .*'middle'"),
        ({"max_frames": -1}, "--max_frames must be >= 0; received -1"),
        ({"posenet_pickle": "p.pickle"}, "--handsegnet_pickle and --posenet_pickle go together"),
        ({"smooth": True}, "--smooth needs a --video: smoothing filters keypoints over time"),
        ({"track": True}, "--track needs a --video"),
        ({"show": True}, "--show needs a --video"),
    ],
)
def test_predict_config_names_the_flag(changes, message):
    assert _config().image == "a.png"
    with pytest.raises(UserError, match=message):
        _config(**changes)


def test_predict_cli_in_a_subprocess_success_and_user_error(weights_dir, tmp_path):
    image_path = _write_image(tmp_path / "hand.png")
    out = tmp_path / "out"
    # --input_size in the old list spelling "H,W" still works.
    ok = run_cli("predict", f"--image={image_path}", f"--weights={weights_dir}",
                 f"--output_dir={out}", "--input_size=120,160")  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert ok.stdout.splitlines() == [str(out / "hand.json"), str(out / "hand.png")]
    assert json.loads((out / "hand.json").read_text())["input_size_hw"] == [120, 160]
    assert "cuInit" not in ok.stderr and "cpu_feature_guard" not in ok.stderr
    bad = run_cli("predict", f"--image={image_path}", "--input_size=240by320",
                  f"--output_dir={tmp_path / 'bad'}")  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "hand3d-predict: error: --input_size must be HxW (e.g. 240x320); received '240by320'"
    ]
    assert not (tmp_path / "bad").exists()


def test_demo_cli_in_a_subprocess_old_spelling_and_user_error(tmp_path):
    # The deprecated --demo_output_dir still works (with a warning); output as make demo's,
    # on the TFLite backend (bundled), so TensorFlow says nothing: it is never imported.
    ok = run_cli("demo", f"--demo_output_dir={tmp_path / 'demo'}")
    assert ok.returncode == 0, ok.stderr[-3000:]
    lines = ok.stdout.splitlines()
    starts = ("image: ", "model: ", "hand found: True; ", "wrote ", "wrote ")
    assert len(lines) == 5 and all(map(str.startswith, lines, starts)), lines
    assert "(tflite fp32, ai_edge_litert " in lines[1]
    assert lines[-1] == f"wrote {tmp_path / 'demo' / 'example_hand.png'}"
    assert _without_litert_info(ok.stderr) == [
        "warning: --demo_output_dir is deprecated; use --output_dir"
    ]
    bad = run_cli("demo", f"--image={tmp_path / 'none.png'}", f"--output_dir={tmp_path / 'x'}")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"hand3d-demo: error: --image={tmp_path / 'none.png'}: no such file"
    ]
    assert not (tmp_path / "x").exists()


def test_predict_cli_backend_in_a_subprocess_success_and_user_error(weights_dir, tmp_path):
    """--backend=tflite on the bundled default writes the stored prediction; on a folder
    without TFLite files it is one line naming the files it lacks."""
    from tests.test_default_model import assert_stored_prediction

    out = tmp_path / "out"
    ok = run_cli("predict", f"--image={predict.EXAMPLE_IMAGE}", "--backend=tflite",
                 f"--output_dir={out}")  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    record = json.loads((out / "example_hand.json").read_text())
    assert record["weights"]["backend"] == "tflite" and record["weights"]["mode"] == "fp32"
    assert_stored_prediction(record)
    assert _without_litert_info(ok.stderr) == []  # no TensorFlow start-up, no warning
    bad = run_cli("predict", f"--image={predict.EXAMPLE_IMAGE}", "--backend=tflite",
                  f"--weights={weights_dir}", f"--output_dir={tmp_path / 'bad'}")  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"hand3d-predict: error: --backend=tflite --weights: {weights_dir} lacks "
        "['handsegnet_fp32.tflite', 'handsegnet_fp32.json', 'posenet_fp32.tflite', "
        "'posenet_fp32.json', 'lifting_fp32.tflite', 'lifting_fp32.json'] for the TFLite "
        "backend (mode fp32); tools/export_default.sh writes them, or use the Keras backend"
    ]
    assert not (tmp_path / "bad").exists()


def test_tflite_predict_path_imports_no_tensorflow(tmp_path):
    """The library on the bundled example, default backend: TFLite, and TensorFlow (or
    tf_keras) never enters sys.modules."""
    code = (
        "import json, sys\n"
        "from hand3d_tf import predict\n"
        "pipe = predict.load_pipeline()\n"
        f"json_path, _ = predict.predict_image(pipe, predict.EXAMPLE_IMAGE, 'left', {str(tmp_path)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tf_keras', 'keras', 'tensorflow_model_optimization'))\n"
        "print(json.dumps([pipe.source['backend'], heavy]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1]) == ["tflite", []]
    from tests.test_default_model import assert_stored_prediction

    assert_stored_prediction(json.loads((tmp_path / "example_hand.json").read_text()))


def test_check_weights_names_the_backend_that_will_run(weights_dir, tmp_path):
    assert predict.check_weights() == "tflite"  # the bundled folder ships TFLite
    assert predict.check_weights(backend="keras") == "keras"
    assert predict.check_weights(input_size=(120, 160)) == "keras"  # TFLite sizes are fixed
    assert predict.check_weights(weights_dir) == "keras"  # no TFLite files there
    pickle = tmp_path / "a.pickle"
    pickle.write_bytes(b"")
    assert predict.check_weights(None, pickle, pickle) == "keras"
    for call in (predict.check_weights, predict.load_pipeline):
        with pytest.raises(ValueError, match="TFLite backend reads a weights folder"):
            call(None, pickle, pickle, backend="tflite")


# --- video: tracking, smoothing, --show (docs/tracking.md) ----------------------------------


def _clip(path: pathlib.Path, frames: int = 4) -> pathlib.Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for shift in range(frames):
        writer.write(np.roll(_image(), 2 * shift, axis=1)[..., ::-1])
    writer.release()
    return path


class _InFrame:
    """A pipeline whose 2D keypoints are moved to a fixed spot inside a 160x120 frame."""

    SPOT = np.stack(np.meshgrid(np.linspace(50, 110, 7), np.linspace(40, 80, 3)), -1).reshape(21, 2)

    def __init__(self, pipe):
        self.pipe, self.input_size, self.source = pipe, pipe.input_size, pipe.source

    def predict(self, image, hand_side="left"):
        return dataclasses.replace(
            self.pipe.predict(image, hand_side), keypoints_uv=self.SPOT[None]
        )

    def predict_at(self, image, center_xy, scale, hand_side="left"):
        result = self.pipe.predict_at(image, center_xy, scale, hand_side)
        return dataclasses.replace(result, keypoints_uv=self.SPOT[None])


def test_video_records_say_tracked_and_the_header_the_configs(tiny_pipe, tmp_path):
    from hand3d_tf import tracking

    clip = _clip(tmp_path / "clip.mp4")
    plain = predict.predict_video(tiny_pipe, str(clip), "left", tmp_path / "plain")
    lines = [json.loads(line) for line in plain.jsonl.read_text().splitlines()]
    assert lines[0]["tracking"] is None and lines[0]["smoothing"] is None
    assert [r["tracked"] for r in lines[1:]] == [False] * 4
    assert {r["redetect_reason"] for r in lines[1:]} == {"per_frame"}
    # Per-frame records are predict's, unchanged.
    capture = predict.open_video(str(clip))
    ok, frame = capture.read()
    capture.release()
    want = tiny_pipe.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), "left").record(0)
    assert {k: lines[1][k] for k in want} == json.loads(json.dumps(want))
    # Random weights scatter the keypoints out of the frame: pin them inside, and with a
    # threshold every frame passes, frames 1-3 are tracked.
    tracked = predict.predict_video(
        _InFrame(tiny_pipe), str(clip), "left", tmp_path / "tracked",
        tracking=tracking.TrackingConfig(min_confidence=-1e9, redetect_every=0),
        smoothing=tracking.SmoothingConfig(),
    )  # fmt: skip
    lines = [json.loads(line) for line in tracked.jsonl.read_text().splitlines()]
    assert lines[0]["tracking"]["redetect_every"] == 0 and lines[0]["smoothing"]["beta"] > 0
    assert [r["tracked"] for r in lines[1:]] == [False, True, True, True]
    assert lines[2]["mask_bbox_xyxy"] is None and tracked.frames == 4


def test_show_without_a_display_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ValueError, match="--show needs .*leave out --show"):
        predict.check_display()
    clip = _clip(tmp_path / "clip.mp4", frames=1)
    with pytest.raises(ValueError, match="--show needs"):
        predict.predict_video(None, str(clip), "left", tmp_path / "out", show=True)
    assert not (tmp_path / "out").exists()  # nothing written


def test_predict_cli_show_user_error_in_a_subprocess(weights_dir, tmp_path):
    clip = _clip(tmp_path / "clip.mp4", frames=1)
    bad = run_cli("predict", f"--video={clip}", f"--weights={weights_dir}", "--track",
                  "--smooth", "--show", f"--output_dir={tmp_path / 'out'}")  # fmt: skip
    assert bad.returncode == 2, bad.stderr[-3000:]
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("hand3d-predict: error: --show needs ")
    assert not (tmp_path / "out").exists()


# --- one load: each sidecar read once, each file hashed once (issue 29) ---------------------


_COUNT_LOADS = """
import hashlib, json, pathlib, sys
from hand3d_tf import files, pipeline, weights  # noqa: F401
folder = pipeline.DEFAULT_WEIGHTS_DIR.resolve()
reads, hashes = [], []
read_text = pathlib.Path.read_text
def counting_read_text(path, *args, **kwargs):
    if path.resolve().parent == folder:
        reads.append(path.name)
    return read_text(path, *args, **kwargs)
def counting_sha256(path):
    hashes.append(pathlib.Path(path).name)
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
pathlib.Path.read_text = counting_read_text
import importlib
from hand3d_tf.cli import app
tool = importlib.import_module("hand3d_tf.cli." + sys.argv[1])
for module in [m for n, m in list(sys.modules.items()) if n.startswith("hand3d_tf")]:
    if getattr(getattr(module, "sha256_file", None), "__module__", None) == files.__name__:
        module.sha256_file = counting_sha256
try:
    app.run(tool.__name__, tool.main, tool.define_flags, needs_tensorflow=False,
            argv=["hand3d-" + sys.argv[1], *sys.argv[2:]])
finally:
    print("COUNTS " + json.dumps({"reads": reads, "hashes": hashes}))
"""


@pytest.mark.parametrize(("tool", "backend"), [("predict", "auto"), ("predict", "keras"),
                                               ("demo", "auto")])  # fmt: skip
def test_one_run_reads_each_sidecar_once_and_hashes_each_file_once(tool, backend, tmp_path):
    """hand3d-predict and hand3d-demo on the bundled weights/default and a tiny image, each
    in its own process (two tools' absl flags cannot share one) with the JSON reads and the
    hashes counted: the cheap checks and the load share one check
    (hand3d_tf.runtime.loader), so every JSON of the weights folder is read at most once and
    every file hashed at most once."""
    image = tmp_path / "tiny.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 128, np.uint8))
    args = [f"--image={image}", f"--output_dir={tmp_path / 'out'}", f"--backend={backend}"]
    done = subprocess.run([sys.executable, "-c", _COUNT_LOADS, tool, *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    line = [x for x in done.stdout.splitlines() if x.startswith("COUNTS ")]
    assert done.returncode == 0 and line, done.stdout[-2000:] + done.stderr[-2000:]
    counts = json.loads(line[-1][len("COUNTS ") :])
    reads, hashes = counts["reads"], counts["hashes"]
    record = json.loads((tmp_path / "out" / "tiny.json").read_text())
    chosen = "tflite" if backend == "auto" else "keras"
    assert record["weights"]["backend"] == chosen
    suffix = ("_fp32.json",) if chosen == "tflite" else tuple(f"{n}.json" for n in NETS)
    sidecars = sorted(r for r in reads if r.endswith(suffix))
    assert len(sidecars) == 3 and len(set(reads)) == len(reads), reads
    assert hashes and len(set(hashes)) == len(hashes), hashes
    hashed = {"tflite": {f"{n}_fp32.tflite" for n in NETS} | {f"{n}.npz" for n in NETS},
              "keras": {f"{n}.npz" for n in NETS}}[chosen]  # fmt: skip
    assert set(hashes) == hashed


NETS = ("handsegnet", "posenet", "lifting")
