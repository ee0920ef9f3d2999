"""The bundled default model (weights/default): its files, its model card, its behaviour.

A change that breaks the shipped model (architecture, weight loading, glue) fails here: the
bundled example image must still give the stored expected prediction.
"""

from __future__ import annotations

import json
import pathlib
import re

import cv2
import numpy as np
import pytest

from hand3d_tf.files import sha256_file

REPO = pathlib.Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights"
DEFAULT = WEIGHTS / "default"
EXPECTED = DEFAULT / "expected_example.json"


def test_model_card_sha256_match_the_files():
    card = (WEIGHTS / "README.md").read_text()
    listed = dict(re.findall(r"`(default/[\w.]+)`\s*\|\s*`([0-9a-f]{64})`", card))
    files = sorted(p for p in DEFAULT.iterdir() if p.suffix in (".npz", ".json"))
    files = [p for p in files if p.name != EXPECTED.name]
    assert {f"default/{p.name}" for p in files} == set(listed), "card and files disagree"
    for path in files:
        assert listed[f"default/{path.name}"] == sha256_file(path), f"sha256 of {path} changed"


def test_weights_fit_in_20_megabytes():
    total = sum(p.stat().st_size for p in DEFAULT.glob("*.npz"))
    assert total <= 20 * 2**20, f"default weights are {total / 2**20:.1f} MiB"


@pytest.fixture(scope="module")
def prediction(default_pipeline):
    image = cv2.cvtColor(cv2.imread(str(WEIGHTS / "example_hand.png")), cv2.COLOR_BGR2RGB)
    return default_pipeline.predict(image, hand_side="left").record(0)


def assert_stored_prediction(prediction: dict) -> None:
    """``prediction`` (a PredictionResult record) is the stored one of the example image."""
    expected = json.loads(EXPECTED.read_text())
    assert prediction["hand_found"] == expected["hand_found"]
    # CPU kernels may differ by float rounding across machines: the crop must agree to a
    # pixel, and keypoints (argmax on 8x-upsampled maps) to a couple of pixels.
    np.testing.assert_allclose(prediction["center_xy"], expected["center_xy"], atol=1.0)
    np.testing.assert_allclose(prediction["scale"], expected["scale"], rtol=1e-3)
    uv = np.asarray(prediction["keypoints_uv"])
    uv_expected = np.asarray(expected["keypoints_uv"])
    assert np.median(np.linalg.norm(uv - uv_expected, axis=-1)) <= 1.0
    np.testing.assert_allclose(prediction["keypoints_xyz"], expected["keypoints_xyz"], atol=0.05)


def test_bundled_example_gives_the_stored_prediction(prediction):
    assert_stored_prediction(prediction)


def test_bundled_example_prediction_is_near_the_ground_truth(prediction):
    """The example is a held-out synthetic render: its ground truth ships beside it."""
    truth = json.loads((WEIGHTS / "example_hand_truth.json").read_text())
    uv = np.asarray(prediction["keypoints_uv"])
    gt = np.asarray(truth["keypoints_uv"])
    vis = np.asarray(truth["visible"], bool)
    errors = np.linalg.norm(uv - gt, axis=-1)[vis]
    assert prediction["hand_found"]
    # Held-out full-pipeline median for this model is 13.0 px (model card); this image: 9.5 px.
    assert np.median(errors) < 20.0, f"median 2D error {np.median(errors):.1f} px"
