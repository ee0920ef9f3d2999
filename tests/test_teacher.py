"""The labelling teacher's geometry and its acceptance rule (hand3d_tf/teacher.py); one real
run of MediaPipe's models on two bundled photographs (tests/data/real_hands/)."""

from __future__ import annotations

import math
import pathlib

import cv2
import numpy as np
import pytest

from hand3d_tf import teacher as tc

REAL = pathlib.Path(__file__).parent / "data" / "real_hands"


def test_palm_anchors_match_the_detector_output():
    anchors = tc.palm_anchors()
    assert anchors.shape == (2016, 2)  # 24*24*2 + 12*12*6, the detector's output rows
    assert anchors.min() > 0 and anchors.max() < 1
    # The first cell of the stride-8 grid holds two anchors at its centre.
    np.testing.assert_allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[1152], [0.5 / 12, 0.5 / 12])


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, -75.0, 180.0])
def test_roi_crop_and_back_are_inverse(angle_deg):
    roi = tc.Roi(cx=120.0, cy=80.0, size=90.0, angle=math.radians(angle_deg))
    points = np.array([[0.0, 0.0], [224.0, 10.0], [112.0, 112.0], [30.0, 200.0]])
    m = roi.affine(224)
    image_points = roi.to_image(points, 224)
    back = image_points @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(back, points, atol=1e-9)
    # The crop centre is the ROI centre, and the crop spans `size` image pixels.
    np.testing.assert_allclose(roi.to_image(np.array([[112.0, 112.0]]), 224)[0], [120, 80])
    edge = roi.to_image(np.array([[0.0, 112.0], [224.0, 112.0]]), 224)
    assert np.linalg.norm(edge[1] - edge[0]) == pytest.approx(90.0)


def test_upright_angle_turns_the_hand_to_point_up():
    wrist = np.array([100.0, 100.0])
    for direction, expected in (((0, -1), 0.0), ((1, 0), 90.0), ((-1, 0), -90.0), ((0, 1), 180.0)):
        angle = math.degrees(tc._upright_angle(wrist, wrist + 50 * np.array(direction, float)))
        assert angle == pytest.approx(expected) or abs(angle) == pytest.approx(abs(expected))
    # A hand pointing right, cropped with its ROI: the fingers point up in the crop.
    roi = tc.Roi(100.0, 100.0, 100.0, math.radians(90.0))
    m = roi.affine(224)
    tip = np.array([140.0, 100.0]) @ m[:, :2].T + m[:, 2]
    assert tip[1] < 112 and abs(tip[0] - 112) < 1e-6


def test_keypoint_orders_are_inverse_and_rhd_has_the_wrist_first():
    mp = np.arange(21 * 2, dtype=float).reshape(21, 2)
    rhd = tc.to_rhd(mp)
    np.testing.assert_array_equal(tc.to_mp(rhd), mp)
    np.testing.assert_array_equal(rhd[0], mp[0])  # wrist
    np.testing.assert_array_equal(rhd[1], mp[4])  # thumb tip
    np.testing.assert_array_equal(rhd[4], mp[1])  # thumb base (CMC)
    np.testing.assert_array_equal(rhd[12], mp[9])  # middle finger base
    assert sorted(tc.MP_TO_RHD) == list(range(21))


def _pass(points, presence=0.99, right=0.95):
    return tc.Pass(np.asarray(points, float), presence, right)


def _hand(size=100.0):
    rng = np.random.default_rng(0)
    return rng.uniform(0, size, (21, 2))


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(), ""),
        (dict(presence=0.5), "presence"),
        (dict(shift=20.0), "passes disagree"),
        (dict(right=0.6), "handedness unsure"),
        (dict(flip_right=0.1), "mirrored"),
        (dict(scale=0.1), "px <"),
    ],
)
def test_the_rule_keeps_only_confident_stable_labels(change, reason):
    pts = _hand() * change.get("scale", 1.0)
    main = _pass(pts, change.get("presence", 0.99), change.get("right", 0.95))
    checks = [_pass(pts + 1.0, right=change.get("flip_right", 0.95))]
    checks += [_pass(pts + change.get("shift", 0.5)) for _ in range(3)]
    label = tc._judge(main, checks, tc.LabelRule(), "palm")
    assert label.kept == (reason == "")
    assert reason in label.reason
    assert label.side == 1 and label.uv.shape == (21, 2)
    # The label is the mean of the passes, in RHD order.
    mean = np.mean([main.mp_points] + [c.mp_points for c in checks], axis=0)
    np.testing.assert_allclose(label.uv, tc.to_rhd(mean))


def test_rule_values_are_checked():
    with pytest.raises(ValueError, match="min_presence"):
        tc.LabelRule(min_presence=1.5)
    with pytest.raises(ValueError, match="positive"):
        tc.LabelRule(max_spread=0.0)


def test_missing_or_altered_teacher_files_are_named(tmp_path):
    with pytest.raises(tc.TeacherMissingError, match="make teacher"):
        tc.model_paths(tmp_path)
    for name, _ in tc.FILES.values():
        (tmp_path / name).write_bytes(b"not a model")
    with pytest.raises(tc.TeacherMissingError, match="sha256"):
        tc.model_paths(tmp_path)


def test_label_hands_refuses_a_non_rgb_image():
    class NoTeacher:
        pass

    with pytest.raises(ValueError, match="RGB uint8"):
        tc.label_hands(NoTeacher(), np.zeros((10, 10), np.uint8))


@pytest.fixture(scope="module")
def real_teacher():
    try:
        return tc.Teacher()
    except tc.TeacherMissingError as err:  # `make test` runs `make teacher` first
        pytest.fail(f"{err}")


def test_real_teacher_labels_two_bundled_photographs(real_teacher):
    """MediaPipe's models on two photos of ardamavi/Sign-Language-Digits-Dataset (Apache-2.0):
    an open hand ("five") and a fist-like "zero"; both right hands on a plain wall."""
    for name, spread_fingers in (("five.jpg", True), ("zero.jpg", False)):
        image = cv2.cvtColor(cv2.imread(str(REAL / name)), cv2.COLOR_BGR2RGB)
        labels = tc.label_hands(real_teacher, image)
        assert labels and labels[0].kept, (name, [lab.reason for lab in labels])
        lab = labels[0]
        assert lab.side == 1 and lab.right_prob > 0.8 and lab.presence > 0.9
        h, w = image.shape[:2]
        assert np.all((lab.uv > -5) & (lab.uv < [w + 5, h + 5]))
        tips = lab.uv[[1, 5, 9, 13, 17]]
        spread = np.linalg.norm(tips - tips.mean(0), axis=1).mean() / lab.size
        # Open fingers lie far apart; a closed hand's tips bunch together.
        assert (spread > 0.2) == spread_fingers, (name, spread)
        # The wrist lies below the middle finger's base in these upright photos.
        assert lab.uv[0, 1] > lab.uv[12, 1]
