"""Fault injection: bad input, kills and signals at awkward moments (docs/reliability.md).

Each CLI user error runs in a real subprocess and must end with exit status 2, exactly one
``<prog>: error:`` line naming the flag / file / key, and no traceback. The cheap ones
exit before TensorFlow is imported, so they cost about half a second each. The kills and
signals hit real subprocesses too: SIGKILL of hand3d-convert-weights while it writes,
SIGTERM of hand3d-predict in the middle of a video. Checkpoint faults (a damaged newest
checkpoint, an exploding learning rate) run the trainer in-process on --smoke-sized nets.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import shutil
import signal
import subprocess
import sys
import time

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
}


def cli(module: str, *args, cwd, timeout=300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", f"hand3d_tf.cli.{module}", *map(str, args)]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=timeout
    )  # fmt: skip


def spawn(module: str, *args, cwd) -> subprocess.Popen:
    cmd = [sys.executable, "-m", f"hand3d_tf.cli.{module}", *map(str, args)]
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


@pytest.mark.parametrize("damage", [_truncate, _overwrite, _bad_meta, _nan_weights],
                         ids=["truncated", "overwritten", "bad-meta", "nan-weights"])  # fmt: skip
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
