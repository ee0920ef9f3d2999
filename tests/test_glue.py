"""The NumPy glue (hand3d_tf/glue.py) against the original's numbers and hand-made references."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from hand3d_tf import glue
from tests.helpers import reference_cases


@pytest.fixture(scope="module")
def cases():
    return reference_cases("glue_cases.npz")


def _logits_from_prob(p_hand: np.ndarray) -> np.ndarray:
    """Two-channel logits [1, H, W, 2] whose softmax hand probability is p_hand."""
    p = np.clip(p_hand, 1e-6, 1 - 1e-6)
    return np.stack([np.zeros_like(p), np.log(p / (1 - p))], axis=-1)[None].astype(np.float32)


# --- the original TF 1.3 numbers (tests/data/glue_cases.npz) --------------------------------


def test_locate_hand_matches_original(cases):
    loc = glue.locate_hand(cases["hand_scoremap"])
    np.testing.assert_array_equal(loc.center_rowcol, cases["center_rowcol"])
    np.testing.assert_allclose(loc.scale, cases["scale"], rtol=1e-6)
    # Cases 0 and 4 have an empty mask: the (160, 160) / size-100 fallback, reported as such.
    np.testing.assert_array_equal(loc.hand_found, [False, True, True, True, False])
    assert not loc.mask[0].any() and loc.mask[1].any()


def test_crop_and_keypoints_match_original(cases):
    loc = glue.locate_hand(cases["hand_scoremap"])
    crop = glue.crop_hand(glue.normalize_image(cases["images"]), loc.center_rowcol, loc.scale)
    np.testing.assert_allclose(crop, cases["crop"], atol=2e-5)
    rowcol, scores = glue.keypoints_from_scoremaps(cases["posenet_stage3"])
    keypoints = glue.crop_to_image(rowcol, loc.center_rowcol, loc.scale)
    np.testing.assert_allclose(keypoints, cases["keypoints_rowcol"], atol=1e-5)
    # The score is the maximum of the map the keypoint was taken from.
    assert np.all(scores <= cases["posenet_stage3"].max(axis=(1, 2)) + 1e-6)


# --- the blob ----------------------------------------------------------------------------------


def test_blob_keeps_the_component_holding_the_maximum():
    p = np.full((120, 160), 0.1)
    p[20:40, 20:40] = 0.8  # component A, holds the maximum
    p[30, 30] = 0.95
    p[20:40, 49:60] = 0.7  # 9 empty columns (<= 10 px) from A: reached by the dilation
    p[80:110, 100:150] = 0.9  # component B: large, but far from A
    blob = glue.single_hand_blob(_logits_from_prob(p))[0]
    expected = np.zeros_like(blob)
    expected[20:40, 20:40] = True
    expected[20:40, 49:60] = True
    np.testing.assert_array_equal(blob, expected)


def _bfs_blob(detected: np.ndarray, seed, radius: int, steps: int) -> np.ndarray:
    """Reference: pixels of `detected` within `steps` Chebyshev hops of <= radius from seed."""
    height, width = detected.shape
    depth = np.full(detected.shape, -1)
    if not detected[seed]:
        return depth >= 0
    depth[seed] = 0
    queue = collections.deque([seed])
    while queue:
        r, c = queue.popleft()
        if depth[r, c] == steps:
            continue
        for rr in range(max(r - radius, 0), min(r + radius + 1, height)):
            for cc in range(max(c - radius, 0), min(c + radius + 1, width)):
                if detected[rr, cc] and depth[rr, cc] < 0:
                    depth[rr, cc] = depth[r, c] + 1
                    queue.append((rr, cc))
    return depth >= 0


def test_blob_growth_is_limited_to_max_hw_over_radius_passes():
    # A serpentine detection mask (rows 0, 4, 8, ... joined at alternating ends) is one
    # component but far longer than N = 60 // 2 = 30 passes of a 5x5 dilation can cover.
    height, width = 40, 60
    detected = np.zeros((height, width), bool)
    for i, row in enumerate(range(0, height, 4)):
        detected[row, :] = True
        if row + 4 < height:
            col = width - 1 if i % 2 == 0 else 0
            detected[row : row + 4, col] = True
    p = np.where(detected, 0.8, 0.2)
    p[0, 0] = 0.9
    blob = glue.single_hand_blob(_logits_from_prob(p), filter_size=5)[0]
    expected = _bfs_blob(detected, (0, 0), radius=2, steps=60 // 2)
    np.testing.assert_array_equal(blob, expected)
    assert 0 < blob.sum() < detected.sum()


def test_blob_is_empty_when_nothing_is_detected():
    blob = glue.single_hand_blob(_logits_from_prob(np.full((30, 40), 0.3)))
    assert blob.shape == (1, 30, 40) and not blob.any()


# --- box and scale -------------------------------------------------------------------------


def test_mask_box_centre_size_and_fallback():
    mask = np.zeros((3, 50, 60), bool)
    mask[0, 5, 7] = mask[0, 9, 20] = True
    mask[2, 4, 4] = True  # one pixel: size 0 (no +1, facts §11.5)
    box = glue.mask_box(mask)
    np.testing.assert_array_equal(box.center_rowcol, [[7.0, 13.5], [160.0, 160.0], [4.0, 4.0]])
    np.testing.assert_array_equal(box.size, [13.0, 100.0, 0.0])
    np.testing.assert_array_equal(box.box_rowcol[0], [5, 9, 7, 20])
    np.testing.assert_array_equal(box.box_rowcol[1], [-1, -1, -1, -1])
    np.testing.assert_array_equal(box.hand_found, [True, False, True])
    np.testing.assert_allclose(glue.crop_scale(box.size), [5.0, 2.048, 5.0], rtol=1e-6)
    np.testing.assert_allclose(glue.crop_scale([150.0, 2000.0]), [256 / 187.5, 0.25], rtol=1e-6)


# --- the crop ------------------------------------------------------------------------------


def test_crop_samples_bilinearly_at_the_convention_coordinates():
    rng = np.random.default_rng(0)
    height, width = 48, 64
    image = rng.uniform(-0.5, 0.5, (1, height, width, 3)).astype(np.float32)
    center, scale = np.array([[20.0, 50.0]]), np.array([5.0])  # S = 51.2: crosses the right edge
    crop = glue.crop_hand(image, center, scale)
    side = 256 / 5.0
    y1, x1 = 20.0 - np.floor(side / 2), 50.0 - np.floor(side / 2)
    checked_outside = 0
    for i, j in [(0, 0), (17, 200), (128, 128), (255, 3), (100, 255), (211, 137), (60, 180)]:
        # Box normalised by H and W, then TF maps a to a * (H - 1) with 255 intervals.
        y = y1 / height * (height - 1) + i * (side / height) * (height - 1) / 255
        x = x1 / width * (width - 1) + j * (side / width) * (width - 1) / 255
        if not (0 <= y <= height - 1 and 0 <= x <= width - 1):
            np.testing.assert_array_equal(crop[0, i, j], 0.0)
            checked_outside += 1
            continue
        r0, c0 = int(np.floor(y)), int(np.floor(x))
        r1, c1 = min(r0 + 1, height - 1), min(c0 + 1, width - 1)
        fy, fx = y - r0, x - c0
        img = image[0].astype(np.float64)
        want = (
            (1 - fy) * (1 - fx) * img[r0, c0]
            + (1 - fy) * fx * img[r0, c1]
            + fy * (1 - fx) * img[r1, c0]
            + fy * fx * img[r1, c1]
        )
        np.testing.assert_allclose(crop[0, i, j], want, atol=1e-5)
    assert checked_outside >= 1


def test_crop_and_resize_equals_tensorflow_bit_for_bit():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    images = rng.uniform(-0.5, 0.5, (3, 30, 40, 3)).astype(np.float32)
    boxes = np.array([[0.1, -0.2, 0.9, 1.3], [-0.5, 0.2, 0.4, 0.6], [0.3, 0.3, 0.31, 0.9]])
    boxes = boxes.astype(np.float32)
    want = tf.image.crop_and_resize(images, boxes, np.arange(3), (37, 23)).numpy()
    np.testing.assert_array_equal(glue.crop_and_resize(images, boxes, (37, 23)), want)


# --- upsampling, argmax, back-projection ---------------------------------------------------


def test_legacy_resize_places_source_cell_p_at_8p():
    maps = np.zeros((1, 32, 32, 2), np.float32)
    maps[0, 5, 9, 0] = 1.0
    maps[0, 31, 31, 1] = 1.0  # last cell: edge repeat beyond index 248
    up = glue.resize_bilinear_legacy(maps, (256, 256))
    assert up[0, 40, 72, 0] == 1.0 and up.shape == (1, 256, 256, 2)
    assert up[0, 44, 72, 0] == 0.5 and up[0, 40, 76, 0] == 0.5 and up[0, 44, 76, 0] == 0.25
    assert up[0, 48, 72, 0] == 0.0 and up[0, 39, 72, 0] == np.float32(7 / 8)
    np.testing.assert_array_equal(up[0, 248:, 248:, 1], 1.0)
    rowcol, scores = glue.keypoints_from_scoremaps(maps)
    np.testing.assert_array_equal(rowcol[0], [[40, 72], [248, 248]])
    np.testing.assert_array_equal(scores[0], [1.0, 1.0])


def test_legacy_resize_equals_tensorflow_v1_resize():
    tf = pytest.importorskip("tensorflow")
    maps = np.random.default_rng(2).normal(size=(2, 30, 40, 3)).astype(np.float32)
    for size in [(240, 320), (256, 256), (17, 9)]:
        want = tf.compat.v1.image.resize_bilinear(
            maps, size, align_corners=False, half_pixel_centers=False
        ).numpy()
        np.testing.assert_allclose(glue.resize_bilinear_legacy(maps, size), want, atol=1e-6)


def test_keypoint_argmax_takes_the_first_maximum():
    maps = np.zeros((1, 32, 32, 1), np.float32)
    maps[0, 3, 4, 0] = maps[0, 3, 20, 0] = maps[0, 10, 1, 0] = 2.0  # three equal peaks
    rowcol, scores = glue.keypoints_from_scoremaps(maps)
    np.testing.assert_array_equal(rowcol[0, 0], [24, 32])
    assert scores[0, 0] == 2.0


def test_back_projection_of_a_crop_keypoint():
    center, scale = np.array([[100.0, 150.0]]), np.array([2.0])
    crop_points = np.array([[[148.0, 88.0], [128.0, 128.0]]])
    image_points = glue.crop_to_image(crop_points, center, scale)
    np.testing.assert_allclose(image_points[0], [[110.0, 130.0], [100.0, 150.0]])
    np.testing.assert_allclose(glue.image_to_crop(image_points, center, scale), crop_points)
