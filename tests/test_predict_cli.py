"""hand3d-predict on a directory of tiny random-weight networks (hand3d_tf/cli/predict.py)."""

from __future__ import annotations

import json
import pathlib

import cv2
import numpy as np
import pytest
from absl import app, flags

from hand3d_tf import pipeline
from hand3d_tf.cli import predict

CONFIGS = {
    "handsegnet": {"width": 0.125, "upsample": True},
    "posenet": {"width": 0.125},
    "lifting": {"width": 0.125, "variant": "proposed"},
}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    from hand3d_tf import models, weights

    directory = tmp_path_factory.mktemp("tiny_weights")
    for net, config in CONFIGS.items():
        weights.save_weights(directory / net, models.build(net, config), config)
    return directory


def _image(hw=(120, 160)) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (hw[0] // 8, hw[1] // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (hw[1], hw[0])), 0, 255).astype(np.uint8)


def _run(argv):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["hand3d-predict", *argv])
    predict.main(["hand3d-predict"])


def _spy_on_loading(monkeypatch, replacement=None) -> list:
    """Records the pipelines hand3d-predict builds; `replacement` is returned instead."""
    built, load = [], pipeline.ColorHandPose3D.from_weights_dir

    def from_weights_dir(path, input_size=pipeline.DEFAULT_INPUT_SIZE):
        pipe = replacement or load(path, input_size=input_size)
        built.append((pathlib.Path(path), tuple(input_size), pipe))
        return pipe

    monkeypatch.setattr(pipeline.ColorHandPose3D, "from_weights_dir", from_weights_dir)
    return built


def test_image_writes_json_and_png(weights_dir, tmp_path, capsys, monkeypatch):
    image_path = tmp_path / "hand.png"
    cv2.imwrite(str(image_path), _image())
    out = tmp_path / "out"
    built = _spy_on_loading(monkeypatch)
    _run(
        [
            f"--image={image_path}",
            f"--weights={weights_dir}",
            f"--output_dir={out}",
            "--hand_side=right",
        ]
    )
    printed = capsys.readouterr().out
    assert str(out / "hand.json") in printed and str(out / "hand.png") in printed
    text = (out / "hand.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    record = json.loads(text)
    assert record["hand_side"] == "right" and record["image_size_hw"] == [120, 160]
    assert np.asarray(record["keypoints_uv"]).shape == (21, 2)
    assert np.asarray(record["keypoints_xyz"]).shape == (21, 3)
    assert len(record["keypoint_scores"]) == 21 and len(record["keypoint_names"]) == 21
    assert record["weights"]["configs"]["posenet"]["width"] == 0.125
    assert isinstance(record["hand_found"], bool)
    png = cv2.imread(str(out / "hand.png"))
    assert png is not None and png.shape[0] > 300 and png.std() > 5
    # The values are the library's for the same image (RGB), weights and hand side.
    [(path, size, pipe)] = built
    assert path == weights_dir and size == (240, 320)
    want = pipe.predict(_image()[..., ::-1], hand_side="right").record(0)
    assert want["keypoints_uv"] != want["keypoints_xyz"]  # not a trivially equal pair
    for key, value in want.items():
        np.testing.assert_array_equal(record[key], value, err_msg=key)


def test_default_model_on_the_example_writes_the_stored_prediction(
    default_pipeline, tmp_path, monkeypatch
):
    from tests.test_default_model import WEIGHTS, assert_stored_prediction

    # The default --weights and --hand_side=left, as the stored prediction was made; the
    # session's default model stands in for the load (built and checked once).
    built = _spy_on_loading(monkeypatch, replacement=default_pipeline)
    _run([f"--image={WEIGHTS / 'example_hand.png'}", f"--output_dir={tmp_path}"])
    assert [(path, size) for path, size, _ in built] == [
        (pipeline.DEFAULT_WEIGHTS_DIR, tuple(default_pipeline.input_size))
    ]
    record = json.loads((tmp_path / "example_hand.json").read_text())
    assert record["hand_side"] == "left" and record["image_size_hw"] == [240, 320]
    assert_stored_prediction(record)


def test_video_writes_annotated_video_and_json_lines(weights_dir, tmp_path, capsys):
    video_path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for shift in range(4):
        writer.write(np.roll(_image(), 8 * shift, axis=1)[..., ::-1])
    writer.release()
    out = tmp_path / "out"
    _run(
        [
            f"--video={video_path}",
            f"--weights={weights_dir}",
            f"--output_dir={out}",
            "--max_frames=3",
        ]
    )
    assert "frames/s" in capsys.readouterr().out
    lines = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert lines[0]["video"] == str(video_path)
    assert [line["frame"] for line in lines[1:]] == [0, 1, 2]
    capture = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_unreadable_image_names_the_path(weights_dir, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(app.UsageError, match="not_an_image.png"):
        _run([f"--image={bad}", f"--weights={weights_dir}", f"--output_dir={tmp_path}"])
    with pytest.raises(app.UsageError, match="missing.png"):
        _run([f"--image={tmp_path / 'missing.png'}", f"--output_dir={tmp_path}"])
    with pytest.raises(app.UsageError, match="hand_side"):
        _run([f"--image={bad}", "--hand_side=middle", f"--output_dir={tmp_path}"])
    with pytest.raises(app.UsageError, match="weights directory"):
        _run([f"--video={bad}", f"--weights={tmp_path / 'nothing'}", f"--output_dir={tmp_path}"])
