"""Fault injection: bad input, kills and signals at awkward moments (docs/reliability.md).

Each CLI user error runs in a real subprocess and must end with exit status 2, exactly one
``<prog>: error:`` line naming the flag / file / key, and no traceback. The cheap ones
exit before TensorFlow is imported, so they cost about half a second each. The kills and
signals hit real subprocesses too: SIGKILL and SIGTERM of hand3d-convert-weights while it
writes, SIGTERM of hand3d-make-synthetic --overwrite and of hand3d-predict in the middle of
a video. Checkpoint faults (a damaged newest checkpoint, an exploding learning rate, a
loss that blows up before it overflows) run the trainer in-process on --smoke-sized nets.
Every numeric flag of every tool, a bad output folder for every tool (symbolic link loops
included) and decompression bombs for every image reader are table-driven (issue 27).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from hand3d_tf import pipeline

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
PROGS = {
    "predict": "hand3d-predict",
    "evaluate": "hand3d-evaluate",
    "train": "hand3d-train",
    "convert_weights": "hand3d-convert-weights",
    "export": "hand3d-export",
    "make_eval_set": "hand3d-make-eval-set",
    "make_synthetic": "hand3d-make-synthetic",
    "demo": "hand3d-demo",
    "model_card": "hand3d-model-card",
    "autolabel": "hand3d-autolabel",
    "benchmark": "hand3d-benchmark",
    "benchmark_android": "hand3d-benchmark-android",
    "benchmark_trtexec": "hand3d-benchmark-trtexec",
}
# The argparse tools of hand3d_tf/harness/cli.py, as their console scripts start them.
ARGPARSE_TOOLS = {
    "benchmark": "benchmark",
    "benchmark_android": "android",
    "benchmark_trtexec": "trtexec",
}


def _command(module: str) -> list[str]:
    if module in ARGPARSE_TOOLS:
        entry = ARGPARSE_TOOLS[module]
        return [sys.executable, "-c", f"from hand3d_tf.harness.cli import {entry}; {entry}()"]
    return [sys.executable, "-m", f"hand3d_tf.cli.{module}"]


def cli(module: str, *args, cwd, timeout=300) -> subprocess.CompletedProcess:
    cmd = [*_command(module), *map(str, args)]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=timeout
    )  # fmt: skip


def spawn(module: str, *args, cwd) -> subprocess.Popen:
    cmd = [*_command(module), *map(str, args)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=ENV
    )


def error_line(proc, module: str, *names: str, only_line: bool = False) -> str:
    """The single '<prog>: error:' line of a user error (exit 2, no traceback)."""
    prog = PROGS[module]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    if only_line:
        assert lines == errors, proc.stderr
    for name in names:
        assert name in errors[0], (name, errors[0])
    return errors[0]


def wait_for(condition, proc, timeout=240.0, what=""):
    """Poll ``condition`` every 5 ms until true; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}: {err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


# --- inputs for the user-error cases (no TensorFlow needed) --------------------------------


def _write_video(path: pathlib.Path, frames: int, hw=(120, 160)) -> pathlib.Path:
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (hw[0] // 8, hw[1] // 8, 3)).astype(np.float32)
    image = np.clip(cv2.resize(small, (hw[1], hw[0])), 0, 255).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, hw[::-1])
    for i in range(frames):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(path: pathlib.Path, width: int, height: int) -> pathlib.Path:
    """A complete PNG (signature, IHDR, one small IDAT, IEND) that declares width x height
    8-bit grey pixels: 100 bytes on disk. A reader that trusts it allocates width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # the first 16 rows
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows)
                     + _png_chunk(b"IEND", b""))  # fmt: skip
    return path


def _weights_copy(root: pathlib.Path, name: str) -> pathlib.Path:
    """The bundled nets in the project's format only (no TFLite exports and sidecars, so
    hand3d-predict's --backend=auto runs, and checks, the Keras files damaged here)."""
    folder = root / name
    shutil.copytree(pipeline.DEFAULT_WEIGHTS_DIR, folder,
                    ignore=shutil.ignore_patterns("*.tflite", "*_*.json"))  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    from hand3d_tf.training import presets

    root = tmp_path_factory.mktemp("faults")
    paths = {"dir": root, "out": root / "out", "file": root / "afile"}
    paths["file"].write_text("not an image, video, npz or folder")
    paths["image"] = pipeline.BUNDLED_WEIGHTS_ROOT / "example_hand.png"
    paths["tiny"] = root / "tiny.png"
    cv2.imwrite(str(paths["tiny"]), np.zeros((1, 1, 3), np.uint8))
    paths["video"] = _write_video(root / "clip.mp4", 3)
    # Weights: invalid JSON, an npz changed after its json was written, another net's pair.
    bad_json = _weights_copy(root, "w_json")
    (bad_json / "posenet.json").write_text('{"format": "hand3d_tf-weights", ')
    tampered = _weights_copy(root, "w_sha")
    with open(tampered / "lifting.npz", "r+b") as f:
        f.seek(2000)
        f.write(b"\x00\x01\x02\x03")
    wrong_net = _weights_copy(root, "w_net")
    for ext in (".npz", ".json"):
        shutil.copy(wrong_net / f"posenet{ext}", wrong_net / f"handsegnet{ext}")
    paths.update(w_json=bad_json, w_sha=tampered, w_net=wrong_net)
    # Predictions files: a wrong shape and an unknown kind.
    gt = np.zeros((4, 21, 3), np.float32)
    vis = np.ones((4, 21), bool)
    np.savez(root / "good.npz", gt=gt, vis=vis, pred=gt, kind="3d")
    np.savez(root / "shape.npz", gt=gt, vis=vis, pred=gt[:, :20], kind="3d")
    np.savez(root / "kind.npz", gt=gt, vis=vis, pred=gt, kind="4d")
    paths.update(good=root / "good.npz", shape=root / "shape.npz", kind=root / "kind.npz")
    # Nothing to score: no samples; samples without a visible keypoint.
    np.savez(root / "empty.npz", gt=gt[:0], vis=vis[:0], pred=gt[:0], kind="3d")
    np.savez(root / "novis.npz", gt=gt, vis=~vis, pred=gt, kind="3d")
    paths.update(empty=root / "empty.npz", novis=root / "novis.npz")
    # A decompression bomb: a PNG header declaring 30000x30000 (nothing behind it decodes;
    # the readers must refuse it from the header alone).
    paths["bomb"] = _bomb_png(root / "bomb.png", 30000, 30000)
    (root / "photos").mkdir()
    cv2.imwrite(str(root / "photos" / "a.jpg"), np.zeros((30, 40, 3), np.uint8))
    shutil.copy(paths["bomb"], root / "photos" / "b.png")
    paths["photos"] = root / "photos"
    paths["weights_copy"] = _weights_copy(root, "w_demo")
    # A truncated pickle and an output dir holding another run's checkpoint.
    data = pickle.dumps({"HandSegNet/conv1_1/weights": np.zeros((3, 3, 3, 64), np.float32)})
    (root / "trunc.pickle").write_bytes(data[: len(data) // 2])
    paths["trunc"] = root / "trunc.pickle"
    other = presets.make_config("posenet_synthetic_compact", smoke=True, output_dir="x")
    ckpt = root / "run" / "checkpoints" / "ckpt-00000002"
    ckpt.mkdir(parents=True)
    (ckpt / "ckpt.index").write_bytes(b"")
    (ckpt / "meta.json").write_text(json.dumps({"config": other.to_dict(), "step": 2}))
    paths["run"] = root / "run"
    return paths


# (id, CLI module, arguments, texts the one error line must contain). All are found
# before any network is built.
CHEAP_CASES = [
    ("predict-output-is-file", "predict", ["--image={image}", "--output_dir={file}"],
     ["--output_dir", "afile", "not a folder"]),
    ("predict-output-under-file", "predict", ["--image={image}", "--output_dir={file}/sub"],
     ["--output_dir", "afile"]),
    ("predict-missing-image", "predict", ["--image={dir}/missing.png", "--output_dir={out}"],
     ["missing.png"]),
    ("predict-tiny-image", "predict", ["--image={tiny}", "--output_dir={out}"],
     ["tiny.png", "1x1", "32x32"]),
    ("predict-hand-side", "predict", ["--image={image}", "--hand_side=middle"],
     ["--hand_side", "middle"]),
    ("predict-negative-max-frames", "predict", ["--video={video}", "--max_frames=-1"],
     ["--max_frames", "-1"]),
    ("predict-flag-not-a-number", "predict", ["--video={video}", "--max_frames=abc"],
     ["--max_frames", "abc"]),
    ("predict-unreadable-video", "predict", ["--video={file}", "--output_dir={out}"],
     ["afile"]),
    ("predict-weights-bad-json", "predict", ["--image={image}", "--weights={w_json}"],
     ["--weights", "posenet.json", "JSON"]),
    ("predict-weights-tampered", "predict", ["--image={image}", "--weights={w_sha}"],
     ["--weights", "lifting.npz", "sha256"]),
    ("predict-weights-wrong-net", "predict", ["--image={image}", "--weights={w_net}"],
     ["--weights", "handsegnet.json", "posenet"]),
    ("predict-weights-missing", "predict", ["--image={image}", "--weights={dir}/nothing"],
     ["--weights", "nothing"]),
    ("predict-one-pickle", "predict", ["--image={image}", "--handsegnet_pickle={file}"],
     ["--posenet_pickle"]),
    ("evaluate-predictions-junk", "evaluate", ["--predictions={file}", "--output_dir={out}"],
     ["--predictions", "afile"]),
    ("evaluate-predictions-shape", "evaluate", ["--predictions={shape}", "--output_dir={out}"],
     ["--predictions", "shape.npz", "'pred'"]),
    ("evaluate-predictions-kind", "evaluate", ["--predictions={kind}", "--output_dir={out}"],
     ["--predictions", "kind.npz", "'4d'"]),
    ("evaluate-output-is-file", "evaluate", ["--predictions={good}", "--output_dir={file}"],
     ["--output_dir", "afile"]),
    ("evaluate-protocol", "evaluate", ["--protocol=nope", "--output_dir={out}"],
     ["--protocol", "nope"]),
    ("train-output-is-file", "train", ["--net=lifting", "--smoke", "--output_dir={file}"],
     ["--output_dir", "afile"]),
    ("train-negative-rate", "train",
     ["--net=lifting", "--smoke", "--output_dir={out}", "--learning_rates=-1"],
     ["--learning_rates", "-1"]),
    ("train-nan-rate", "train",
     ["--net=lifting", "--smoke", "--output_dir={out}", "--learning_rates=nan"],
     ["--learning_rates", "nan"]),
    ("train-resume-nothing", "train",
     ["--net=lifting", "--smoke", "--output_dir={dir}/fresh", "--resume"],
     ["resume", "no complete checkpoint"]),
    ("train-other-run", "train", ["--net=lifting", "--smoke", "--output_dir={run}"],
     ["posenet_synthetic_compact", "--resume"]),
    ("train-unknown-preset", "train", ["--net=lifting", "--preset=nope", "--output_dir={out}"],
     ["nope"]),
    ("train-missing-init-weights", "train",
     ["--net=lifting", "--smoke", "--output_dir={out}", "--init_weights={dir}/none.npz"],
     ["--init_weights", "none.npz"]),
    ("convert-missing-input", "convert_weights",
     ["--output_dir={out}", "--handsegnet_pickle={dir}/none.pickle"],
     ["--handsegnet_pickle", "none.pickle"]),
    ("convert-output-is-file", "convert_weights",
     ["--output_dir={file}", "--posenet_pickle={trunc}"], ["--output_dir", "afile"]),
    ("convert-no-input", "convert_weights", ["--output_dir={out}"], ["--handsegnet_pickle"]),
    ("convert-truncated-pickle", "convert_weights",
     ["--output_dir={out}", "--handsegnet_pickle={trunc}"],
     ["trunc.pickle", "not a complete pickle"]),
    ("convert-old-and-new-spelling", "convert_weights",
     ["--output_dir={out}", "--posenet={trunc}", "--posenet_pickle={trunc}"],
     ["--posenet", "deprecated", "give only --posenet_pickle"]),
    ("export-bad-mode", "export", ["--mode=int4", "--weights=random", "--output_dir={out}"],
     ["int4"]),
    ("export-output-is-file", "export", ["--weights=random", "--output_dir={file}"],
     ["afile"]),
    ("export-missing-weights", "export", ["--weights={dir}/nothing", "--output_dir={out}"],
     ["nothing"]),
    ("export-weights-tampered", "export", ["--weights={w_sha}", "--output_dir={out}"],
     ["lifting.npz", "sha256"]),
    ("eval-set-no-output", "make_eval_set", [], ["--output"]),
    ("eval-set-output-is-folder", "make_eval_set", ["--output={dir}"], ["--output", "folder"]),
    ("eval-set-negative-num", "make_eval_set", ["--output={out}/e.npz", "--num=-1"], ["--num"]),
    ("eval-set-missing-data", "make_eval_set",
     ["--dataset=rhd", "--data_dir={dir}/none", "--output={out}/e.npz"], ["--data_dir", "none"]),
    # Nothing to score (issue 27, 5).
    ("evaluate-predictions-empty", "evaluate", ["--predictions={empty}", "--output_dir={out}"],
     ["--predictions", "empty.npz", "0 samples"]),
    ("evaluate-predictions-no-visible", "evaluate",
     ["--predictions={novis}", "--output_dir={out}"],
     ["--predictions", "novis.npz", "no visible keypoint"]),
    # Decompression bombs are refused from the header (7).
    ("predict-bomb", "predict", ["--image={bomb}", "--output_dir={out}"],
     ["bomb.png", "30000x30000", "--max_image_pixels"]),
    ("demo-bomb", "demo", ["--image={bomb}", "--output_dir={out}"],
     ["bomb.png", "30000x30000", "--max_image_pixels"]),
    ("demo-bomb-under-a-lower-limit", "demo",
     ["--image={image}", "--output_dir={out}", "--max_image_pixels=1000"],
     ["example_hand.png", "320x240", "1,000"]),
    ("synthetic-background-bomb", "make_synthetic",
     ["--output_dir={out}", "--backgrounds={photos}"], ["--backgrounds", "b.png", "30000x30000"]),
    # A sequence too long to hold (6); hand3d-demo's --weights (also noticed).
    ("synthetic-sequence-too-long", "make_synthetic",
     ["--output_dir={out}", "--sequence_length=1000000000"], ["--sequence_length", "100000"]),
    ("demo-weights-missing", "demo", ["--weights={dir}/nothing", "--output_dir={out}"],
     ["--weights", "nothing"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "module,args,names", [c[1:] for c in CHEAP_CASES], ids=[c[0] for c in CHEAP_CASES]
)
def test_cheap_user_error_is_one_line_exit_2(files, module, args, names, tmp_path):
    proc = cli(module, *(a.format(**files) for a in args), cwd=tmp_path, timeout=120)
    error_line(proc, module, *names, only_line=True)
    # Nothing was written: no default output in the working folder, no output folder.
    assert list(tmp_path.iterdir()) == [] and not files["out"].exists()


def test_weights_that_do_not_fit_are_one_line_after_loading(files, tmp_path):
    """A pair whose json and checksum are sound but whose shapes are not: found when the
    network is built; still one line naming the file and the key."""
    folder = _weights_copy(tmp_path, "w_shape")
    with np.load(folder / "posenet.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["PoseNet2D/conv1_1/biases"] = arrays["PoseNet2D/conv1_1/biases"][:1]
    from hand3d_tf import weights

    meta = json.loads((folder / "posenet.json").read_text())
    weights.save_weights(folder / "posenet", arrays, meta["config"])
    proc = cli("predict", f"--image={files['image']}", f"--weights={folder}",
               f"--output_dir={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    error_line(proc, "predict", "posenet", "PoseNet2D/conv1_1/biases", "shape conflicts")
    assert not (tmp_path / "out").exists()


def test_library_refuses_tiny_images_nan_inputs_and_bad_rates():
    """The API side of the refused values: no networks are needed, the checks come first."""
    from hand3d_tf.training import presets

    with pytest.raises(ValueError, match="at least 32x32 pixels; received 1x1"):
        pipeline.prepare_images(np.zeros((1, 1, 3), np.uint8))
    assert pipeline.prepare_images(np.zeros((32, 40, 3), np.uint8))[0].shape == (1, 32, 40, 3)
    pipe = pipeline.ColorHandPose3D(None, None, None)  # never called: the input is refused
    scoremaps = np.zeros((1, 32, 32, 21), np.float32)
    scoremaps[0, 3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="scoremaps holds 1 NaN or inf"):
        pipe.lift(scoremaps)
    with pytest.raises(ValueError, match="crops holds 1 NaN or inf"):
        pipe.pose2d(_one_nan((1, 256, 256, 3)))
    with pytest.raises(ValueError, match="frames holds 1 NaN or inf"):
        pipe.run_normalized(_one_nan((1, 64, 64, 3)), hand_side="left")
    for rates in ((-1.0,), (0.0,), (float("nan"),), (float("inf"),)):
        with pytest.raises(ValueError, match="learning_rates must be finite numbers > 0"):
            presets.make_config("posenet_rhd", learning_rates=rates, lr_boundaries=())


def _one_nan(shape) -> np.ndarray:
    array = np.zeros(shape, np.float32)
    array.flat[7] = np.nan
    return array


# --- video: SIGTERM finalises the .mp4 -------------------------------------------------------


def _frames_in(path: pathlib.Path) -> int:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_sigterm_during_video_leaves_a_playable_mp4(tmp_path):
    video = _write_video(tmp_path / "clip.mp4", 400)
    out = tmp_path / "out"
    proc = spawn("predict", f"--video={video}", f"--output_dir={out}", cwd=tmp_path)
    jsonl = out / "clip.jsonl"
    # The header line and two frame records: the writer is open, frames are in it.
    wait_for(lambda: jsonl.is_file() and jsonl.read_text().count("\n") >= 3, proc,
             what="two frames")  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("hand3d-predict: interrupted by SIGTERM after ") and "clip.mp4" in last
    records = jsonl.read_text().splitlines()[1:]
    frames = int(last.split(" after ")[1].split()[0])
    assert 2 <= frames < 400 and len(records) == frames
    assert _frames_in(out / "clip.mp4") == frames
    assert str(out / "clip.mp4") in stdout


class _FakePipe:
    """A pipeline stand-in that sends SIGINT to this process while frame 2 is predicted."""

    input_size, source = (240, 320), {"weights": "fake"}

    def __init__(self):
        self.calls = 0

    def predict(self, rgb, hand_side="left"):
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGINT)
        h, w = rgb.shape[:2]
        return pipeline.HandPoseResult(
            hand_scoremap=np.zeros((1, h, w, 2), np.float32), hand_mask=np.zeros((1, h, w), bool),
            hand_found=np.zeros(1, bool), center_xy=np.full((1, 2), 50.0), scale=np.ones(1),
            crop=np.zeros((1, 256, 256, 3), np.float32),
            keypoint_scoremaps=np.zeros((1, 32, 32, 21), np.float32),
            keypoints_uv=np.full((1, 21, 2), 40.0), keypoint_scores=np.zeros((1, 21), np.float32),
            keypoints_xyz=np.zeros((1, 21, 3), np.float32),
        )  # fmt: skip


def test_sigint_ends_the_video_after_the_current_frame(tmp_path):
    from hand3d_tf import predict

    video = _write_video(tmp_path / "clip.mp4", 10)
    out = tmp_path / "out"
    out.mkdir()
    before = signal.getsignal(signal.SIGINT)
    stop = predict.StopOnSignal()
    with stop.installed():
        outputs = predict.predict_video(_FakePipe(), str(video), "left", out, stop=stop)
    assert outputs.interrupted_by == signal.SIGINT and outputs.frames == 2
    assert _frames_in(outputs.video) == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


def test_zero_frames_write_no_video_and_name_none(tmp_path, capsys):
    from hand3d_tf import predict

    video = _write_video(tmp_path / "clip.mp4", 3)
    out = tmp_path / "out"
    out.mkdir()
    outputs = predict.predict_video(_FakePipe(), str(video), "left", out, max_frames=0)
    assert outputs.video is None and outputs.paths() == [out / "clip.jsonl"]
    assert not (out / "clip.mp4").exists()
    assert "no video written" in capsys.readouterr().out


# --- weight conversion: all or nothing -----------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict:
    """Full-size stand-ins of the released pickles (HandSegNet; PoseNet without lifting)
    and a PoseNet pickle with one tensor of the wrong shape."""
    from hand3d_tf import models, weights

    folder = tmp_path_factory.mktemp("released")
    paths = {}
    for name, model in (("handsegnet", models.HandSegNet()), ("posenet", models.PoseNet())):
        values = weights.model_weights(model)
        paths[name] = folder / f"{name}.pickle"
        with open(paths[name], "wb") as f:
            pickle.dump(values, f, protocol=4)
        if name == "posenet":
            values["PoseNet2D/conv7_7/weights"] = values["PoseNet2D/conv7_7/weights"][..., :20]
            paths["bad_posenet"] = folder / "bad_posenet.pickle"
            with open(paths["bad_posenet"], "wb") as f:
                pickle.dump(values, f, protocol=4)
    return paths


def _staging(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(folder.glob(".hand3d-convert-*"))


def test_sigkill_mid_conversion_leaves_no_output_folder(released, tmp_path):
    from hand3d_tf.convert import convert_released_weights

    target = tmp_path / "converted"
    proc = spawn("convert_weights", f"--handsegnet_pickle={released['handsegnet']}",
                 f"--posenet_pickle={released['posenet']}", f"--output_dir={target}",
                 cwd=tmp_path)  # fmt: skip

    def first_file_written():
        return any((s / "handsegnet.json").is_file() for s in _staging(tmp_path))

    wait_for(first_file_written, proc, what="the first converted file")
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.communicate(timeout=60)
    # Killed between files (its staging folder is still there): the target never appeared.
    assert len(_staging(tmp_path)) == 1 and not target.exists()
    # A later conversion removes the dead one's staging folder and completes.
    written = convert_released_weights(target, released["handsegnet"], released["posenet"])
    assert [p.name for p in written] == ["handsegnet.npz", "posenet.npz"]
    names = {"handsegnet.npz", "handsegnet.json", "posenet.npz", "posenet.json"}
    assert {p.name for p in target.iterdir()} == names
    assert _staging(tmp_path) == []


def test_conversion_with_a_bad_input_writes_nothing(released, tmp_path):
    """Good HandSegNet + PoseNet with a wrong shape: exit 2 naming the key, and neither a
    new folder nor an existing one is touched."""
    new = tmp_path / "new"
    proc = cli("convert_weights", f"--handsegnet_pickle={released['handsegnet']}",
               f"--posenet_pickle={released['bad_posenet']}", f"--output_dir={new}",
               cwd=tmp_path)  # fmt: skip
    error_line(proc, "convert_weights", "bad_posenet.pickle", "PoseNet2D/conv7_7/weights")
    assert not new.exists() and _staging(tmp_path) == []
    from hand3d_tf import weights
    from hand3d_tf.convert import convert_released_weights

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "README.md").write_text("keep")
    with pytest.raises(weights.WeightMismatchError, match="conv7_7"):
        convert_released_weights(existing, released["handsegnet"], released["bad_posenet"])
    assert [p.name for p in existing.iterdir()] == ["README.md"]


# --- checkpoints: never poisoned, resume falls back past damaged ones ----------------------


def _smoke(out, **overrides):
    from hand3d_tf.training import presets

    values = dict(output_dir=str(out), progress=False, evaluate=False, image_every=1000,
                  precision="float32")  # fmt: skip
    values.update(overrides)
    return presets.make_config(presets.default_preset("lifting", "synthetic"), smoke=True,
                               **values)  # fmt: skip


def _train(config, **kwargs):
    from hand3d_tf.training import inputs
    from hand3d_tf.training.smoke_data import smoke_arrays
    from hand3d_tf.training.trainer import train

    x, y, truth = smoke_arrays(config.net, 4, config.image_size, config.seed)
    return train(config, data=inputs.array_data(x, y, truth, config.batch_size, config.seed),
                 **kwargs)  # fmt: skip


def _all_finite(folder) -> bool:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(folder, "ckpt"))
    values = [np.asarray(reader.get_tensor(k)) for k in reader.get_variable_to_dtype_map()]
    return all(np.all(np.isfinite(v)) for v in values if v.dtype.kind == "f")


def test_huge_learning_rate_cli_keeps_no_exploded_checkpoint(tmp_path):
    """The case guarded against: at 1e6 step 1's update explodes the weights, step 2's loss is NaN.
    Its checkpoint (|w| ~ 1e6, NaN on resume) used to be kept and called good."""
    out = tmp_path / "run"
    proc = cli("train", "--net=lifting", "--smoke", "--learning_rates=1e6",
               "--checkpoint_every=1", "--noprogress", "--noevaluate", f"--output_dir={out}",
               "--precision=float32", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("hand3d-train: loss became nan at step 2; training stopped, "
                    "last good checkpoint: none")  # fmt: skip
    assert [p.name for p in (out / "checkpoints").iterdir()] == []


def test_nan_stop_names_a_checkpoint_a_new_run_can_start_from(tmp_path):
    from hand3d_tf.training import checkpoints as ckpt
    from hand3d_tf.training.trainer import NonFiniteLossError

    config = _smoke(tmp_path / "run", num_steps=12, checkpoint_every=1, keep_checkpoints=20,
                    learning_rates=(1e-3, 1e6), lr_boundaries=(3,))  # fmt: skip
    with pytest.raises(NonFiniteLossError) as err:
        _train(config)
    # Steps 1-4 run at 1e-3; step 5's update at 1e6 explodes the weights (its own loss,
    # computed before the update, is finite); step 6's loss is NaN. Checkpoint 5 held the
    # exploded weights: it was never committed, and checkpoint 4 is named.
    good = err.value.last_checkpoint
    assert err.value.step == 6 and good.endswith("ckpt-00000004") and good in str(err.value)
    kept = ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")
    assert [s for s, _ in kept] == [1, 2, 3, 4]
    meta = ckpt.read_json(os.path.join(good, "meta.json"))
    assert np.isfinite(meta["next_loss"]) and all(_all_finite(f) for _, f in kept)
    # A new run started from it at a sane rate is finite from its first step on.
    fresh = _smoke(tmp_path / "again", num_steps=2, init_weights=good,
                   learning_rates=(1e-3,), lr_boundaries=())  # fmt: skip
    result = _train(fresh)
    assert np.all(np.isfinite(result.losses)) and np.isfinite(result.probe_loss_start)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A finished smoke run with checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("ckpts") / "run"
    _train(_smoke(out, num_steps=4, checkpoint_every=2))
    return out


def _truncate(folder):
    data = next(pathlib.Path(folder).glob("ckpt.data-*"))
    with open(data, "r+b") as f:
        f.truncate(1000)  # the reader's IndexError: "Read less bytes than requested"


def _overwrite(folder):
    data = next(pathlib.Path(folder).glob("ckpt.data-*"))
    data.write_bytes(b"\x00" * data.stat().st_size)  # DataLossError: checksum mismatch


def _bad_meta(folder):
    (pathlib.Path(folder) / "meta.json").write_text("{not json")


def _nan_weights(folder):
    """Rewrite the checkpoint with NaN weights (what a poisoned save used to hold)."""
    import tensorflow as tf

    from hand3d_tf.training.initialization import build_model
    from hand3d_tf.training.trainer import make_optimizer

    config = _smoke("unused")
    model = build_model(config)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    checkpoint.read(os.path.join(folder, "ckpt")).assert_existing_objects_matched()
    for weight in model.weights:
        weight.assign(np.full(weight.shape, np.nan, np.float32))
    for old in pathlib.Path(folder).glob("ckpt.*"):
        old.unlink()
    checkpoint.write(os.path.join(folder, "ckpt"))


def _blown_up_meta(folder):
    """The meta of a checkpoint whose weights gave a loss far above the recorded level (what
    a trainer without the check committed)."""
    path = pathlib.Path(folder) / "meta.json"
    meta = json.loads(path.read_text())
    meta.update(recent_losses=[0.3, 0.31, 0.32, 0.29, 0.3, 0.33], next_loss=1.19e5)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", [_truncate, _overwrite, _bad_meta, _nan_weights,
                                    _blown_up_meta],
                         ids=["truncated", "overwritten", "bad-meta", "nan-weights",
                              "taken-after-a-blow-up"])  # fmt: skip
def test_resume_falls_back_past_a_damaged_newest_checkpoint(
    two_checkpoints, tmp_path, damage, caplog
):
    out = tmp_path / "run"
    shutil.copytree(two_checkpoints, out)
    newest = out / "checkpoints" / "ckpt-00000004"
    damage(newest)
    with caplog.at_level("WARNING"):
        result = _train(_smoke(out, num_steps=5, checkpoint_every=2, resume=True))
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(newest) in m and "previous" in m for m in warned), warned
    assert (result.start_step, result.step) == (2, 5)
    assert result.init_report["source"].endswith("ckpt-00000002")


def test_resume_with_every_checkpoint_damaged_is_an_error(two_checkpoints, tmp_path):
    from hand3d_tf.training import checkpoints as ckpt

    out = tmp_path / "run"
    shutil.copytree(two_checkpoints, out)
    for folder in (out / "checkpoints").iterdir():
        _truncate(folder)
    with pytest.raises(ckpt.CheckpointCorruptError, match="ckpt-00000004, .*ckpt-00000002"):
        _train(_smoke(out, num_steps=6, resume=True))


# --- one output-folder check for every tool (issue 27, 4 and 8) -----------------------------

# (id, tool, arguments; {out} is the bad output path). Every case must be refused in one
# line naming the path before any data is read or any network built.
OUTPUT_CASES = [
    ("train", "train", ["--net=lifting", "--smoke", "--output_dir={out}"]),
    ("evaluate-predictions", "evaluate", ["--predictions={good}", "--output_dir={out}"]),
    ("evaluate-protocol", "evaluate",
     ["--protocol=pose2d_gt_crop", "--data_dir={dir}", "--output_dir={out}"]),
    ("convert-weights", "convert_weights", ["--posenet_pickle={trunc}", "--output_dir={out}"]),
    ("make-eval-set", "make_eval_set", ["--output={out}"]),
    ("benchmark", "benchmark", ["--models=default", "--output_dir={out}"]),
    ("benchmark-android", "benchmark_android",
     ["--benchmark_binary={file}", "--output_dir={out}"]),
    ("benchmark-trtexec", "benchmark_trtexec", ["{file}", "--output_dir={out}"]),
    ("demo", "demo", ["--output_dir={out}"]),
    ("model-card", "model_card", ["--weights={weights_copy}", "--data_dir={dir}", "--output={out}"]),
    ("predict", "predict", ["--image={image}", "--output_dir={out}"]),
    ("make-synthetic", "make_synthetic", ["--output_dir={out}"]),
    ("export", "export", ["--weights=random", "--output_dir={out}"]),
    ("autolabel", "autolabel", ["--input={image}", "--output_dir={out}"]),
]  # fmt: skip


def _run_all(cases) -> list[subprocess.CompletedProcess]:
    """Run several cheap CLI cases at once (each a process that exits within a second):
    [(module, args, cwd)] -> their CompletedProcess, in order."""
    procs = [spawn(module, *args, cwd=cwd) for module, args, cwd in cases]
    done = []
    for proc, (module, args, _) in zip(procs, cases):
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess([module, *args], proc.returncode, out, err))
    return done


@pytest.mark.parametrize("kind", ["symlink-loop", "existing-file", "dangling-symlink"])
def test_every_tool_refuses_a_bad_output_folder_in_one_line(files, tmp_path, kind):
    """``ln -s loop loop`` (and a file, and a link to nothing) as the output of every tool:
    one line naming the path, exit 2, nothing run."""
    bad = tmp_path / "loop"
    if kind == "symlink-loop":
        bad.symlink_to("loop")
    elif kind == "existing-file":
        bad.write_text("a file")
    else:
        bad.symlink_to(tmp_path / "nowhere")
    # Every tool for the loop; a file as --output_dir of the tools CHEAP_CASES leaves out (an
    # existing file is a fine --output: it is replaced); a dangling link for a few.
    names = {"symlink-loop": None, "dangling-symlink": ("train", "predict", "benchmark"),
             "existing-file": ("benchmark", "benchmark-android", "benchmark-trtexec", "demo",
                               "make-synthetic", "autolabel")}[kind]  # fmt: skip
    cases = [c for c in OUTPUT_CASES if names is None or c[0] in names]
    expected = {"symlink-loop": "is a symbolic link loop", "existing-file": "is not a folder",
                "dangling-symlink": "which does not exist"}[kind]  # fmt: skip
    runs = [(module, [a.format(**dict(files, out=bad)) for a in args], tmp_path)
            for _, module, args in cases]  # fmt: skip
    for (name, module, _), proc in zip(cases, _run_all(runs)):
        line = error_line(proc, module, str(bad), only_line=True)
        assert expected in line, (name, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop"]


# --- every numeric flag of every tool is checked (issue 27, 2) -----------------------------

# tool -> the arguments every case of it starts with (a valid command otherwise).
NUMERIC_BASE = {
    "train": ["--net=lifting", "--smoke", "--output_dir={tmp}/train", "--precision=float32"],
    "predict": ["--image={image}", "--output_dir={tmp}/predict"],
    "demo": ["--output_dir={tmp}/demo"],
    "evaluate": ["--predictions={good}", "--output_dir={tmp}/evaluate"],
    "make_eval_set": ["--output={tmp}/e.npz"],
    "make_synthetic": ["--output_dir={tmp}/synthetic", "--num_train=1", "--num_eval=0"],
    "export": ["--weights=random", "--output_dir={tmp}/export"],
    "model_card": [
        "--weights={weights_copy}",
        "--data_dir={weights_copy}",
        "--output={tmp}/card.json",
    ],
    "autolabel": ["--input={image}", "--output_dir={tmp}/autolabel"],
    "convert_weights": ["--output_dir={tmp}/convert"],
    "benchmark": ["--models=default", "--output_dir={tmp}/bench"],
    "benchmark_android": ["--benchmark_binary={file}", "--output_dir={tmp}/android"],
}
# (tool, flag, bad value): every integer and float flag of every tool, with the values that
# must be refused. test_the_table_covers_every_numeric_flag keeps it complete.
NUMERIC_CASES = [
    ("train", "num_steps", "0"), ("train", "batch_size", "0"), ("train", "width", "0"),
    ("train", "width", "nan"), ("train", "image_size", "12"), ("train", "learning_rates", "inf"),
    ("train", "lr_boundaries", "0"), ("train", "lr_boundaries", "-2"),
    ("train", "lr_boundaries", "5,3"), ("train", "checkpoint_every", "0"),
    ("train", "keep_checkpoints", "0"), ("train", "log_every", "0"),
    ("train", "image_every", "0"), ("train", "seed", "-1"), ("train", "num_samples", "0"),
    ("train", "eval_max_samples", "-1"), ("train", "eval_max_samples", "0"),
    ("train", "max_image_pixels", "0"),
    ("predict", "max_frames", "-1"), ("predict", "max_image_pixels", "0"),
    ("demo", "max_image_pixels", "-5"),
    ("evaluate", "batch_size", "0"), ("evaluate", "max_samples", "0"),
    ("evaluate", "baseline_max_samples", "0"), ("evaluate", "max_image_pixels", "0"),
    ("make_eval_set", "num", "-1"), ("make_eval_set", "seed", "-1"),
    ("make_eval_set", "min_visible", "-1"), ("make_eval_set", "min_visible", "22"),
    ("make_eval_set", "max_image_pixels", "0"),
    ("make_synthetic", "seed", "-1"), ("make_synthetic", "num_train", "-1"),
    ("make_synthetic", "num_eval", "-1"), ("make_synthetic", "workers", "0"),
    ("make_synthetic", "preview_views", "0"), ("make_synthetic", "sequence_length", "-1"),
    ("make_synthetic", "sequence_length", "100001"), ("make_synthetic", "max_image_pixels", "0"),
    ("export", "num_calibration", "0"), ("export", "qat_steps", "-1"),
    ("export", "qat_learning_rate", "0"), ("export", "qat_learning_rate", "inf"),
    ("export", "qat_batch_size", "0"), ("export", "report_samples", "-1"),
    ("export", "threads", "0"), ("export", "max_image_pixels", "0"),
    ("model_card", "max_samples", "0"), ("model_card", "batch_size", "0"),
    ("model_card", "timing_runs", "0"), ("model_card", "baseline_max_samples", "0"),
    ("model_card", "max_image_pixels", "0"),
    ("autolabel", "min_presence", "1.5"), ("autolabel", "max_spread", "0"),
    ("autolabel", "min_side_margin", "0.6"), ("autolabel", "max_hands", "0"),
    ("autolabel", "video_every", "0"), ("autolabel", "max_images", "-1"),
    ("autolabel", "max_image_pixels", "0"),
    ("benchmark", "runs", "0"), ("benchmark", "warmup", "-1"), ("benchmark", "num_eval", "-1"),
    ("benchmark", "pipeline_runs", "-1"), ("benchmark", "seed", "-1"),
    ("benchmark", "threads", "0"),
    ("benchmark_android", "runs", "0"), ("benchmark_android", "warmup", "-1"),
    ("benchmark_android", "threads", "0"),
]  # fmt: skip

# Runs each case of one tool in a single process, as its console script would (flags
# parsed, config validated), and prints [numeric flag names, [[exit status, stderr], ...]]
# as JSON: one Python start per tool instead of one per case. TensorFlow is hidden, so a case that gets past
# the checks fails fast instead of training or exporting.
_BATCH = r"""
import contextlib, io, json, sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
from absl import flags
module, entry, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
import importlib
mod = importlib.import_module(module)
run = getattr(mod, entry)
numeric = []
if entry == "run":  # an absl tool: its integer and float flags, and the two number lists
    from hand3d_tf.cli import app
    key = app.define_once(mod.__name__, mod.define_flags)
    numeric = sorted(f.name for f in flags.FLAGS.get_flags_for_module(key)
                     if isinstance(f.parser, (flags.IntegerParser, flags.FloatParser))
                     or f.name in ("learning_rates", "lr_boundaries"))
out = []
for argv in cases:
    sys.argv = ["prog", *argv]
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            run()
        except SystemExit as e:
            code = e.code
    if flags.FLAGS.is_parsed():
        flags.FLAGS.unparse_flags()
    out.append([code, err.getvalue()])
print(json.dumps([numeric, out]))
"""


def _batch(tool: str, cases: list[list[str]], cwd) -> subprocess.Popen:
    module, entry = (("hand3d_tf.harness.cli", ARGPARSE_TOOLS[tool]) if tool in ARGPARSE_TOOLS
                     else (f"hand3d_tf.cli.{tool}", "run"))  # fmt: skip
    cmd = [sys.executable, "-c", _BATCH, module, entry, json.dumps(cases)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=ENV)  # fmt: skip


def test_every_numeric_flag_of_every_tool_is_checked(files, tmp_path):
    """Each bad value: exit status 2 and one '<prog>: error:' line naming the flag, before
    anything runs (TensorFlow is hidden: a value that got through would fail otherwise).
    And the table is complete: every integer / float flag of every tool has a case."""
    from hand3d_tf.harness import cli as bench

    by_tool = {tool: [] for tool in NUMERIC_BASE}  # a tool without numeric flags too
    for tool, flag, value in NUMERIC_CASES:
        base = [a.format(**files, tmp=tmp_path) for a in NUMERIC_BASE[tool]]
        by_tool.setdefault(tool, []).append((flag, value, [*base, f"--{flag}={value}"]))
    procs = {tool: _batch(tool, [c[2] for c in cases], tmp_path)
             for tool, cases in by_tool.items()}  # fmt: skip
    failures, numeric = [], {}
    for tool, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        numeric[tool], results = json.loads(out.strip().splitlines()[-1])
        for (flag, value, _), (code, stderr) in zip(by_tool[tool], results):
            lines = [line for line in stderr.splitlines() if line.strip()]
            prog = PROGS[tool]
            ok = (code == 2 and len(lines) == 1 and lines[0].startswith(f"{prog}: error: ")
                  and flag in lines[0] and "Traceback" not in stderr)  # fmt: skip
            if not ok:
                failures.append(f"{prog} --{flag}={value}: exit {code}: {stderr[-600:]}")
    assert not failures, "\n".join(failures)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was written
    numeric["benchmark"] = sorted(a.dest for a in bench.benchmark_parser()._actions
                                  if a.type in (int, float, bench._ints))  # fmt: skip
    missing = {tool: sorted(set(names) - {f for t, f, _ in NUMERIC_CASES if t == tool})
               for tool, names in numeric.items()}  # fmt: skip
    assert all(not names for names in missing.values()), missing


# --- a gradual divergence is not "last good" (issue 27, 1) ---------------------------------


def test_the_loss_monitor_tells_a_blow_up_from_noise():
    from hand3d_tf.training.divergence import MIN_HISTORY, LossMonitor, checkpoint_blown_up

    monitor = LossMonitor()
    for loss in (0.9, 0.5, 0.4, 0.35, 0.33, 0.31, 0.3, 0.32)[: MIN_HISTORY - 1]:
        assert monitor.add(loss) is None
    assert monitor.add(1e5) is None  # too few losses to judge: a run's first steps fall fast
    monitor = LossMonitor([0.32, 0.3, 0.31, 0.35, 0.29, 0.33, 0.3])
    for spike in (0.9, 1.5, 2.9):  # noise and spikes of a few times the level are sane
        assert monitor.blown_up(spike) is None
    why = monitor.add(1.19e5)
    assert why.startswith("loss 1.19e+05 against a running median of 0.3")
    assert max(monitor.state()) < 1.0  # a blown-up loss does not move the level
    assert monitor.blown_up(float("nan")) == "loss nan"
    assert checkpoint_blown_up({"next_loss": 1.19e5, "recent_losses": monitor.state()})
    assert checkpoint_blown_up({"next_loss": 0.4, "recent_losses": monitor.state()}) is None
    assert checkpoint_blown_up({"next_loss": 1.19e5}) is None  # no window recorded: unjudged


def _scripted_losses(monkeypatch, script: dict):
    """Make the trainer's step report ``script[step]`` (a factor, or NaN) times its real
    loss: a divergence with exactly known steps, on real weights and checkpoints."""
    from hand3d_tf.training import trainer

    real = trainer.make_train_step

    def make(*args, **kwargs):
        step_fn, calls = real(*args, **kwargs), []

        def scripted(iterator):
            values = step_fn(iterator)
            calls.append(1)
            factor = script.get(len(calls), 1.0)
            return dict(values, loss=float(values["loss"]) * factor)

        return scripted

    monkeypatch.setattr(trainer, "make_train_step", make)


def test_checkpoints_after_the_loss_blew_up_are_not_last_good(tmp_path, monkeypatch):
    """Steps 1-6 sane, 7 and 8 finite but 1e5 times the level (the issue's 1.19e5 against
    0.32), 9 NaN. ckpt-6's weights gave step 7's blown-up loss: the last good one is 5,
    and the message says why the later ones were not kept."""
    from hand3d_tf.training import checkpoints as ckpt
    from hand3d_tf.training.trainer import NonFiniteLossError

    _scripted_losses(monkeypatch, {7: 1e5, 8: 3e5, 9: float("nan")})
    config = _smoke(tmp_path / "run", num_steps=12, checkpoint_every=1, keep_checkpoints=20,
                    learning_rates=(1e-3,), lr_boundaries=())  # fmt: skip
    with pytest.raises(NonFiniteLossError) as err:
        _train(config)
    assert err.value.step == 9 and err.value.last_checkpoint.endswith("ckpt-00000005")
    message = str(err.value)
    assert message.startswith("loss became nan at step 9; training stopped, last good checkpoint: ")
    assert "the loss blew up at step 7, loss " in message and "running median" in message
    kept = ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")
    assert [s for s, _ in kept] == [1, 2, 3, 4, 5]
    meta = ckpt.read_json(os.path.join(kept[-1][1], "meta.json"))
    assert len(meta["recent_losses"]) == 5 and np.isfinite(meta["next_loss"])


# --- SIGTERM unwinds like Ctrl-C; a later run removes a dead one's temporaries (3) ----------

_NO_SUCH_PID = 4194305  # above Linux's largest pid_max (2**22): never a live process


def test_atomic_write_removes_a_dead_writers_temporary_and_keeps_a_live_ones(tmp_path):
    from hand3d_tf.atomic import atomic_write

    dead = tmp_path / f".lifting_fp32.onnx.{_NO_SUCH_PID}-abc123.tmp"
    live = tmp_path / f".lifting_fp32.onnx.{os.getppid()}-def456.tmp"  # pytest's parent
    other = tmp_path / f".posenet_fp32.onnx.{_NO_SUCH_PID}-abc123.tmp"  # not this file's
    for path in (dead, live, other):
        path.write_bytes(b"partial")
    atomic_write(tmp_path / "lifting_fp32.onnx", b"model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "lifting_fp32.onnx"]
    )


def test_sigterm_unwinds_an_atomic_write(tmp_path):
    """Inside the one handler (every CLI runs in it) SIGTERM raises where it lands: the
    write's temporary file is removed and the target never appears."""
    from hand3d_tf import signals
    from hand3d_tf.atomic import atomic_write

    def write(f):
        f.write(b"x" * 1000)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        f.write(b"never")

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Interrupted) as err, signals.sigterm_as_interrupt():
        atomic_write(tmp_path / "model.tflite", write)
    assert err.value.signum == signal.SIGTERM and list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_during_make_synthetic_overwrite_removes_its_temporary_folder(tmp_path):
    from hand3d_tf.data.synthetic import SyntheticConfig, make

    out = tmp_path / "data"
    small = SyntheticConfig(image_size=64)
    make.make_dataset(out, 1, 0, config=small, log=lambda _: None)
    before = sorted(p.name for p in (out / "training" / "color").iterdir())
    proc = spawn("make_synthetic", f"--output_dir={out}", "--num_train=400", "--num_eval=0",
                 "--overwrite", "--seed=3", cwd=tmp_path)  # fmt: skip

    def writing():
        return any(any(d.glob("color/*.png")) for d in out.glob(".training.writing-*"))

    wait_for(writing, proc, what="the first sample in the temporary folder")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "hand3d-make-synthetic: interrupted by SIGTERM"
    assert "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["evaluation", "training"]  # nothing hidden
    assert sorted(p.name for p in (out / "training" / "color").iterdir()) == before


def test_sigterm_mid_conversion_removes_its_staging_folder(released, tmp_path):
    target = tmp_path / "converted"
    proc = spawn("convert_weights", f"--handsegnet_pickle={released['handsegnet']}",
                 f"--posenet_pickle={released['posenet']}", f"--output_dir={target}",
                 cwd=tmp_path)  # fmt: skip
    wait_for(lambda: any((s / "handsegnet.json").is_file() for s in _staging(tmp_path)), proc,
             what="the first converted file")  # fmt: skip
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    assert _staging(tmp_path) == [] and not target.exists()


# --- a sequence is streamed to disk, one frame in memory (6) --------------------------------


def test_a_sequence_is_written_frame_by_frame(tmp_path, monkeypatch):
    """When frame t is written, frames t+1... are not rendered yet: the writer holds one
    frame, not the sequence (it held all of them: 0.8 MB a frame at 320x320)."""
    from hand3d_tf.data.synthetic import SyntheticConfig, sequence, writer

    rendered, at_write = [], []
    real_frame, real_write = sequence._frame, writer.write_sample_files

    def frame(*args, **kwargs):
        rendered.append(1)
        return real_frame(*args, **kwargs)

    def write(split_dir, index, sample):
        at_write.append(len(rendered))
        return real_write(split_dir, index, sample)

    monkeypatch.setattr(sequence, "_frame", frame)
    monkeypatch.setattr(writer, "write_sample_files", write)
    config = SyntheticConfig(image_size=48)
    writer.write_dataset(tmp_path, "training", config, 0, 2, progress=False, sequence_length=4)
    assert at_write == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(list((tmp_path / "training" / "color").iterdir())) == 8
    # The same frames as the list the library still offers.
    frames = sequence.render_sequence(config, writer.split_seed(0, "training"), 1, 4)
    with open(tmp_path / "training" / "anno_training.pickle", "rb") as f:
        annotations = pickle.load(f)
    for frame_ in frames:
        np.testing.assert_array_equal(annotations[4 + frame_["frame"]]["xyz"], frame_["xyz"])


def test_make_synthetic_refuses_more_frames_than_the_disk_holds(tmp_path, monkeypatch):
    from hand3d_tf.data.synthetic import make

    free = shutil.disk_usage(tmp_path).free
    frames = int(free / (320 * 320 * make.DISK_BYTES_PER_PIXEL)) + 1000
    with pytest.raises(ValueError, match=r"frames of 320x320 need about .* GB free"):
        make.make_dataset(tmp_path / "d", frames // 1000, 0, sequence_length=1000)
    assert list(tmp_path.iterdir()) == []


# --- decompression bombs: one reader, header first (7) --------------------------------------


def test_every_image_reader_refuses_a_bomb_before_decoding(files, tmp_path, monkeypatch):
    """predict's, autolabel's, the datasets' (PNG check and decode), --backgrounds' and
    the masks' readers: each refuses the 30000x30000 header without decoding (cv2.imdecode
    is made to fail), and a real image over a lowered limit the same way."""
    import cv2 as cv2_module

    from hand3d_tf import autolabel, images, predict
    from hand3d_tf.data import samples
    from hand3d_tf.data.synthetic import background

    bomb = files["bomb"]
    assert images.image_size(bomb) == (30000, 30000)
    assert images.image_size(files["photos"] / "a.jpg") == (40, 30)  # JPEG: start of frame
    readers = [
        lambda p: predict.read_image(p),
        lambda p: autolabel.read_image(p),
        lambda p: samples.read_png(str(p), 7),
        lambda p: samples.read_png(str(p), 7, channels=1),
        lambda p: samples.check_png(str(p), 7, "quick"),
        lambda p: background._load_photo.__wrapped__(str(p)),
        lambda p: images.read_image(p, color=False),
    ]

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image was decoded before its size was checked")

    with monkeypatch.context() as m:
        m.setattr(cv2_module, "imdecode", no_decoding)
        m.setattr(cv2_module, "imread", no_decoding)
        for read in readers:
            with pytest.raises(ValueError, match="declares 30000x30000 pixels .*over the limit"):
                read(bomb)
    # A real 320x240 image over a lowered limit (what --max_image_pixels sets).
    monkeypatch.setattr(images, "_limit", 320 * 240 - 1)
    for read in readers:
        with pytest.raises(ValueError, match="declares 320x240 pixels"):
            read(files["image"])
    monkeypatch.setattr(images, "_limit", 320 * 240)
    assert predict.read_image(files["image"]).shape == (240, 320, 3)
    # --max_image_pixels reaches the processes a tool starts (make-synthetic's workers).
    child = "from hand3d_tf import images; print(images.max_pixels())"
    code = ("from hand3d_tf import images; images.set_max_pixels(5000); import subprocess, sys; "
            f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, "
            "text=True).stdout)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "5000", done.stderr[-2000:]


def test_a_bomb_inside_a_dataset_is_refused_before_tensorflow_decodes_it(tmp_path):
    """The readers behind hand3d-evaluate, -make-eval-set and -train (sources.open_source ->
    RHDReader, whose quick check reads every PNG's header) refuse a bomb by name with the
    InputError the CLIs show as one line; TensorFlow's decode_png never sees it."""
    from hand3d_tf.data.synthetic import SyntheticConfig, make
    from hand3d_tf.evaluation import sources

    make.make_dataset(tmp_path / "d", 2, 0, config=SyntheticConfig(image_size=64),
                      log=lambda _: None)  # fmt: skip
    _bomb_png(tmp_path / "d" / "training" / "mask" / "00001.png", 60000, 60000)
    with pytest.raises(sources.InputError) as err, sources.input_errors():
        sources.open_source("rhd", tmp_path / "d", "training")
    message = str(err.value)
    assert "mask/00001.png" in message and "60000x60000" in message and "\n" not in message
    assert "--max_image_pixels" in message


# --- also noticed: the [tf] extra, a damaged .tflite, hand3d-demo --weights -----------------


def test_keras_backend_without_tf_keras_names_the_extra(tmp_path):
    folder = _weights_copy(tmp_path, "keras_only")
    code = (
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'tf_keras'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
        "from hand3d_tf.pipeline import ColorHandPose3D\n"
        "try:\n"
        f"    ColorHandPose3D.from_dir({str(folder)!r}, backend='auto')\n"
        "except ModuleNotFoundError as err:\n"
        "    print(err.name, '|', err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    name, message = done.stdout.strip().split(" | ")
    assert name in ("tensorflow", "tf_keras")
    assert "pip install 'hand3d_tf[tf]'" in message and "backend='tflite'" in message


def test_a_bit_flipped_tflite_is_a_clear_error(tmp_path):
    """A flipped bit in a tensor name: the runtime's UnicodeDecodeError became a one-line
    error naming the file."""
    from hand3d_tf.lite import runner

    source = pipeline.DEFAULT_WEIGHTS_DIR / "lifting_fp32.tflite"
    data = bytearray(source.read_bytes())
    data[data.index(b"serving_default_scoremap") + 1] = 0xFF
    damaged = tmp_path / "lifting_fp32.tflite"
    damaged.write_bytes(bytes(data))
    with pytest.raises(runner.ModelFileError) as err:
        runner.Model(damaged, runner.load_runtime())
    assert str(damaged) in str(err.value) and "damaged" in str(err.value)
    assert "\n" not in str(err.value) and not isinstance(err.value, UnicodeError)


def test_demo_runs_the_weights_folder_it_is_given(files, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(pipeline.DEFAULT_WEIGHTS_DIR, folder,
                    ignore=shutil.ignore_patterns("*_fp16.*"))  # fmt: skip
    proc = cli("demo", f"--weights={folder}", f"--output_dir={tmp_path / 'out'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"model: {folder} (tflite fp32" in proc.stdout
    assert json.loads((tmp_path / "out" / "example_hand.json").read_text())["hand_found"]
