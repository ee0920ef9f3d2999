"""The NumPy glue (hand3d_tf/glue.py) against the original's numbers and hand-made references."""

from __future__ import annotations

import collections

import cv2
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
    mask[2, 4, 4] = True  # one pixel: size 0 (no +1, docs/original.md §11.5)
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


# --- the fast paths equal plain re-implementations, bit for bit ------------------------------
# The references below are the straightforward versions of each step (the glue before its
# speed-up, itself checked against TF and the original's numbers above). Every comparison is
# exact (assert_array_equal), ties and float rounding included.


def _ref_normalize(images):
    return np.asarray(images, np.float32) / np.float32(255.0) - np.float32(0.5)


def _ref_hand_probability(logits):
    logits = np.asarray(logits, np.float32)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e[..., 1] / e.sum(axis=-1)


def _ref_blob(logits, filter_size=21):
    """All N passes of a full-frame dilation, no early exit, no windows."""
    batch, height, width, _ = logits.shape
    detected = (logits[..., 1] > logits[..., 0]).astype(np.uint8)
    p_hand = _ref_hand_probability(logits).reshape(batch, -1)
    kernel = np.ones((filter_size, filter_size), np.uint8)
    out = np.zeros((batch, height, width), bool)
    for b in range(batch):
        blob = np.zeros((height, width), np.uint8)
        blob[np.unravel_index(np.argmax(p_hand[b]), (height, width))] = 1
        for _ in range(max(height, width) // (filter_size // 2)):
            grown = cv2.dilate(blob, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            blob = grown & detected[b]
        out[b] = blob.astype(bool)
    return out


def _ref_sample_positions(start, end, in_size: int, out_size: int) -> np.ndarray:
    """[B, out] float32 sample positions of crop_and_resize along one axis
    (docs/original.md §5 step 5), one float32 scalar at a time in the kernel's order:
    a (n - 1) + i * ((b - a)(n - 1) / (h - 1)), and 0.5 (a + b)(n - 1) for one output row."""
    last = np.float32(in_size - 1)
    out = np.empty((len(start), out_size), np.float32)
    for k, (a, b) in enumerate(zip(np.float32(start), np.float32(end))):
        if out_size == 1:
            out[k, 0] = np.float32(0.5) * (a + b) * last
            continue
        step = (b - a) * last / np.float32(out_size - 1)
        for i in range(out_size):
            out[k, i] = a * last + np.float32(i) * step
    return out


def _ref_crop_boxes(center_rowcol, scale, image_hw, crop_size=256) -> np.ndarray:
    """crop_image_from_xy's normalised boxes (docs/original.md §5 step 5) in float32
    scalars: S = crop_size / scale, y1 = row - floor(S / 2), y2 = y1 + S, divided by H
    (not H - 1)."""
    height, width = np.float32(image_hw[0]), np.float32(image_hw[1])
    boxes = []
    for (row, col), s in zip(np.float32(center_rowcol), np.float32(scale)):
        side = np.float32(crop_size) / s
        y1, x1 = row - np.floor(side / np.float32(2)), col - np.floor(side / np.float32(2))
        boxes.append([y1 / height, x1 / width, (y1 + side) / height, (x1 + side) / width])
    return np.asarray(boxes, np.float32)


def _ref_crop_and_resize(images, boxes, crop_hw):
    """A 4-corner gather per output pixel, as tf.image.crop_and_resize computes it."""
    images = np.asarray(images, np.float32)
    batch, height, width, _ = images.shape
    ys = _ref_sample_positions(boxes[:, 0], boxes[:, 2], height, crop_hw[0])
    xs = _ref_sample_positions(boxes[:, 1], boxes[:, 3], width, crop_hw[1])
    y_ok, x_ok = (ys >= 0) & (ys <= height - 1), (xs >= 0) & (xs <= width - 1)
    ys, xs = np.where(y_ok, ys, 0).astype(np.float32), np.where(x_ok, xs, 0).astype(np.float32)
    top, left = np.floor(ys), np.floor(xs)
    y_lerp, x_lerp = (ys - top)[:, :, None, None], (xs - left)[:, None, :, None]
    top, bottom = top.astype(int), np.ceil(ys).astype(int)
    left, right = left.astype(int), np.ceil(xs).astype(int)
    b = np.arange(batch)[:, None, None]

    def pick(rows, cols):
        return images[b, rows[:, :, None], cols[:, None, :]]

    upper = pick(top, left) + (pick(top, right) - pick(top, left)) * x_lerp
    lower = pick(bottom, left) + (pick(bottom, right) - pick(bottom, left)) * x_lerp
    crops = upper + (lower - upper) * y_lerp
    inside = (y_ok[:, :, None] & x_ok[:, None, :])[..., None]
    return np.where(inside, crops, np.float32(0)).astype(np.float32)


def _ref_legacy_weights(in_size: int, out_size: int):
    """TF1 legacy bilinear sampling (docs/original.md §0): output o reads source
    o * (in / out) in float32; the upper neighbour is the ceiling clamped to the last row
    (the edge repeats)."""
    scale = np.float32(in_size) / np.float32(out_size)
    lower, upper, lerp = [], [], []
    for o in range(out_size):
        src = np.float32(o) * scale
        lower.append(int(np.floor(src)))
        upper.append(min(int(np.ceil(src)), in_size - 1))
        lerp.append(src - np.floor(src))
    return np.array(lower), np.array(upper), np.array(lerp, np.float32)


def _ref_resize_legacy(maps, out_hw):
    maps = np.asarray(maps, np.float32)
    y_lo, y_hi, y_lerp = _ref_legacy_weights(maps.shape[1], out_hw[0])
    x_lo, x_hi, x_lerp = _ref_legacy_weights(maps.shape[2], out_hw[1])
    rows = maps[:, :, x_lo] + (maps[:, :, x_hi] - maps[:, :, x_lo]) * x_lerp[None, None, :, None]
    top, bottom = rows[:, y_lo], rows[:, y_hi]
    return top + (bottom - top) * y_lerp[None, :, None, None]


def _ref_keypoints(scoremaps, crop_size=256):
    """Arg-max over every pixel of the upsampled maps."""
    up = _ref_resize_legacy(scoremaps, (crop_size, crop_size))
    batch, _, _, num = up.shape
    flat = up.reshape(batch, -1, num)
    index = np.argmax(flat, axis=1)
    scores = np.take_along_axis(flat, index[:, None], axis=1)[:, 0]
    return np.stack(np.divmod(index, crop_size), axis=-1), scores


def _assert_bitwise(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


def _tie_heavy_scoremaps(rng, kind: int, hw=(32, 32), num=21) -> np.ndarray:
    """[1, h, w, num] float32 maps built to stress ties, plateaus, borders and rounding."""
    shape = (1, *hw, num)
    if kind == 0:  # smooth-ish random
        return rng.normal(size=shape).astype(np.float32)
    if kind == 1:  # coarse quantisation: many equal maxima
        return (np.round(rng.normal(size=shape) * 2) / 2).astype(np.float32)
    if kind == 2:  # all equal
        return np.full(shape, rng.normal(), np.float32)
    if kind == 3:  # plateaus: constant 4x4 blocks, a few at the maximum
        blocks = np.round(rng.normal(size=(1, -(-hw[0] // 4), -(-hw[1] // 4), num)))
        maps = np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2)
        return maps[:, : hw[0], : hw[1]].astype(np.float32)
    if kind == 4:  # the maximum on the border rows/columns, neighbours 1 ulp below it
        maps = rng.uniform(-1, 0, shape).astype(np.float32)
        peak = np.float32(rng.uniform(0.5, 100))
        for k in range(num):
            r = rng.choice([0, hw[0] - 1, rng.integers(hw[0])])
            c = rng.choice([0, hw[1] - 1, rng.integers(hw[1])])
            maps[0, r, c, k] = peak
            for dr, dc in [(-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)]:
                if 0 <= r + dr < hw[0] and 0 <= c + dc < hw[1] and rng.random() < 0.6:
                    maps[0, r + dr, c + dc, k] = np.nextafter(peak, np.float32(-np.inf))
        return maps
    if kind == 5:  # two or three equal peaks per channel
        maps = rng.uniform(-1, 0, shape).astype(np.float32)
        for k in range(num):
            for _ in range(rng.integers(2, 4)):
                maps[0, rng.integers(hw[0]), rng.integers(hw[1]), k] = 1.0
        return maps
    if kind == 6:  # huge and tiny magnitudes (differences must not overflow)
        scale = rng.choice([1e30, 1e-38, 1e-44, 2.0**125])
        return (rng.normal(size=shape) * scale).astype(np.float32)
    # values a few ulps apart around one number: rounding decides the arg-max
    base = np.float32(rng.uniform(-10, 10))
    steps = rng.integers(-3, 4, shape)
    return (base + steps * np.spacing(base)).astype(np.float32)


def test_keypoints_fast_path_equals_dense_argmax_on_400_tie_heavy_cases():
    rng = np.random.default_rng(10)
    for case in range(400):
        maps = _tie_heavy_scoremaps(rng, case % 8)
        rowcol, scores = glue.keypoints_from_scoremaps(maps)
        want_rowcol, want_scores = _ref_keypoints(maps)
        np.testing.assert_array_equal(rowcol, want_rowcol, err_msg=f"case {case}")
        _assert_bitwise(scores, want_scores)


def test_keypoints_other_factors_and_fallbacks_equal_dense_argmax():
    rng = np.random.default_rng(11)
    cases = [((32, 32), 32), ((32, 32), 64), ((16, 32), 128), ((24, 24), 256), ((30, 40), 120)]
    for (hw, size), kind in zip(cases * 8, range(40)):
        maps = np.concatenate([_tie_heavy_scoremaps(rng, (kind + i) % 8, hw, 3) for i in range(2)])
        rowcol, scores = glue.keypoints_from_scoremaps(maps, crop_size=size)
        want_rowcol, want_scores = _ref_keypoints(maps, size)
        np.testing.assert_array_equal(rowcol, want_rowcol, err_msg=f"{hw} -> {size}")
        _assert_bitwise(scores, want_scores)
    # inf, NaN and overflowing differences take the dense path: same answers as before
    maps = rng.normal(size=(1, 32, 32, 4)).astype(np.float32)
    maps[0, 3, 4, 0], maps[0, 5, 6, 1] = np.inf, np.nan
    maps[0, 7, 8, 2], maps[0, 7, 9, 2] = np.float32(3e38), np.float32(-3e38)
    with np.errstate(over="ignore", invalid="ignore"):
        rowcol, scores = glue.keypoints_from_scoremaps(maps)
        want_rowcol, want_scores = _ref_keypoints(maps)
    np.testing.assert_array_equal(rowcol, want_rowcol)
    np.testing.assert_array_equal(scores, want_scores)


def test_keypoints_on_the_reference_cases_equal_dense_argmax(cases):
    rowcol, scores = glue.keypoints_from_scoremaps(cases["posenet_stage3"])
    want_rowcol, want_scores = _ref_keypoints(cases["posenet_stage3"])
    np.testing.assert_array_equal(rowcol, want_rowcol)
    _assert_bitwise(scores, want_scores)


def _random_logits(rng, kind: int, hw) -> np.ndarray:
    """[1, H, W, 2] logits: blobs, noise, ties, marginal and saturated values."""
    height, width = hw
    rows, cols = np.mgrid[:height, :width]
    margin = np.full(hw, -3.0)
    for _ in range(rng.integers(0, 4)):
        r, c, a, b = rng.uniform(0, height), rng.uniform(0, width), *rng.uniform(2, 25, 2)
        margin[((rows - r) / a) ** 2 + ((cols - c) / b) ** 2 < 1] = rng.uniform(0.5, 40)
    margin += rng.normal(0, rng.choice([0.3, 1.5]), hw)
    if kind == 1:  # saturated softmax: many pixels with p = 1.0 exactly
        margin = np.where(margin > 0, 60.0, margin)
    if kind == 2:  # marginal: p = 0.5 everywhere, the seed may lie outside the mask
        margin = rng.choice([-1e-9, 0.0, 1e-9], hw)
    if kind == 3:  # quantised: ties between logits
        margin = np.round(margin)
    base = rng.normal(0, 3, hw)
    return np.stack([base, base + margin], axis=-1)[None].astype(np.float32)


def test_hand_probability_equals_softmax_bit_for_bit():
    rng = np.random.default_rng(12)
    for case in range(300):
        logits = _random_logits(rng, case % 4, (24, 30))
        _assert_bitwise(glue.hand_probability(logits), _ref_hand_probability(logits))
    logits = rng.normal(size=(2, 5, 6, 2)).astype(np.float32) * 1e38
    logits[0, 0, 0] = [np.inf, 1.0]
    logits[0, 0, 1] = [np.nan, 1.0]
    logits[1, 2, 2] = [-np.inf, np.inf]
    with np.errstate(invalid="ignore"):
        got, want = glue.hand_probability(logits), _ref_hand_probability(logits)
    np.testing.assert_array_equal(got, want)


def test_blob_equals_full_frame_passes_on_300_random_cases():
    rng = np.random.default_rng(13)
    sizes = [(40, 60), (48, 64), (30, 20), (8, 9), (64, 48)]
    for case in range(300):
        hw, filter_size = sizes[case % 5], [21, 5, 3, 4, 9][case // 5 % 5]
        logits = np.concatenate([_random_logits(rng, (case + i) % 4, hw) for i in range(2)])
        got = glue.single_hand_blob(logits, filter_size)
        np.testing.assert_array_equal(got, _ref_blob(logits, filter_size), err_msg=f"case {case}")


def test_blob_on_full_frames_and_reference_cases_equals_full_frame_passes(cases):
    rng = np.random.default_rng(14)
    logits = [_random_logits(rng, k, (240, 320)) for k in range(4)] + [cases["hand_scoremap"]]
    logits = np.concatenate(logits)
    np.testing.assert_array_equal(glue.single_hand_blob(logits), _ref_blob(logits))


def test_crop_and_resize_equals_four_corner_gather_on_300_boxes():
    rng = np.random.default_rng(15)
    for case in range(300):
        height, width = rng.integers(1, 50, 2)
        images = rng.uniform(-0.5, 0.5, (2, height, width, 3)).astype(np.float32)
        if case % 3 == 0:
            images = np.round(images * 4)  # float64 input with many equal pixels
        y1, x1 = rng.uniform(-0.7, 1.2, 2)
        side_y, side_x = rng.choice([-1.0, 1.0]) * rng.uniform(0.001, 2, 2)
        boxes = np.array([[y1, x1, y1 + side_y, x1 + side_x], rng.uniform(-1, 2, 4)], np.float32)
        crop_hw = tuple(rng.integers(1, 40, 2))
        got = glue.crop_and_resize(images, boxes, crop_hw)
        _assert_bitwise(got, _ref_crop_and_resize(images, boxes, crop_hw))


def test_crop_hand_on_the_reference_cases_equals_four_corner_gather(cases):
    loc = glue.locate_hand(cases["hand_scoremap"])
    images = glue.normalize_image(cases["images"])
    _assert_bitwise(images, _ref_normalize(cases["images"]))
    boxes = _ref_crop_boxes(loc.center_rowcol, loc.scale, images.shape[1:3])
    _assert_bitwise(glue.crop_boxes(loc.center_rowcol, loc.scale, images.shape[1:3]), boxes)
    crop = glue.crop_hand(images, loc.center_rowcol, loc.scale)
    _assert_bitwise(crop, _ref_crop_and_resize(images, boxes, (256, 256)))


def test_legacy_resize_equals_plain_gather_bit_for_bit():
    rng = np.random.default_rng(16)
    for in_hw, out_hw in [((30, 40), (240, 320)), ((32, 32), (256, 256)), ((7, 5), (17, 9))]:
        maps = rng.normal(size=(2, *in_hw, 2)).astype(np.float32)
        _assert_bitwise(glue.resize_bilinear_legacy(maps, out_hw), _ref_resize_legacy(maps, out_hw))


def test_bench_glue_times_every_stage_and_prints_a_markdown_row(capsys):
    from benchmarks import bench_glue

    bench_glue.main(["--runs=3", "--warmup=1", f"--glue={glue.__file__}"])
    row = capsys.readouterr().out.strip().splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "glue.py" and cells[3] == "3"
    times = [float(c) for c in cells[4:]]
    assert len(times) == len(bench_glue.STAGES) + 1 and all(t > 0 for t in times)
    assert times[-1] >= max(times[:-1])  # the total covers every stage


# --- checks found by mutation testing (make mutate, docs/development.md) ---------------------


def test_blob_with_the_smallest_filter_and_a_single_pass():
    rng = np.random.default_rng(17)
    # filter 2 (the smallest allowed): radius 1; (12, 15) with filter 21: exactly one pass.
    for case, (hw, filter_size) in enumerate([((12, 15), 21), ((20, 26), 2), ((9, 7), 2)] * 8):
        logits = np.concatenate([_random_logits(rng, (case + i) % 4, hw) for i in range(2)])
        got = glue.single_hand_blob(logits, filter_size)
        np.testing.assert_array_equal(got, _ref_blob(logits, filter_size), err_msg=f"case {case}")
    with pytest.raises(ValueError, match=r"^filter_size must be an integer >= 2; received 1$"):
        glue.single_hand_blob(np.zeros((1, 4, 4, 2), np.float32), 1)


def test_keypoints_fast_path_is_not_taken_where_it_would_be_wrong():
    # Non-power-of-two factors (120 / 40 = 3) and sizes that are no multiple of the map
    # (128 / 30): the dense arg-max decides, and the answers equal it.
    rng = np.random.default_rng(18)
    for (hw, size), kind in zip([((40, 40), 120), ((16, 16), 48), ((30, 30), 128),
                                 ((30, 32), 128), ((32, 30), 128)] * 8, range(40)):  # fmt: skip
        maps = np.concatenate([_tie_heavy_scoremaps(rng, (kind + i) % 8, hw, 3) for i in range(2)])
        rowcol, scores = glue.keypoints_from_scoremaps(maps, crop_size=size)
        want_rowcol, want_scores = _ref_keypoints(maps, size)
        assert rowcol.dtype == np.int64
        np.testing.assert_array_equal(rowcol, want_rowcol, err_msg=f"{hw} -> {size}")
        _assert_bitwise(scores, want_scores)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: glue.hand_probability(np.zeros((1, 4, 4, 3))),
         r"^logits must have 4 dimensions with last dimension 2; received shape \(1, 4, 4, 3\)$"),
        (lambda: glue.hand_probability(np.zeros((4, 4, 2))),
         r"^logits must have 4 dimensions with last dimension 2; received shape \(4, 4, 2\)$"),
        (lambda: glue.detection_mask(np.zeros((1, 4, 4, 3))), r"^logits must have 4 dimensions"),
        (lambda: glue.single_hand_blob(np.zeros((1, 4, 4, 1))), r"^logits must have 4 dimen"),
        (lambda: glue.locate_hand(np.zeros((1, 4, 4, 3))), r"^logits must have 4 dimensions"),
        (lambda: glue.seed_rowcol(np.zeros((4, 4))),
         r"^p_hand must have 3 dimensions; received shape \(4, 4\)$"),
        (lambda: glue.mask_box(np.zeros((4, 4))),
         r"^mask must have 3 dimensions; received shape \(4, 4\)$"),
        (lambda: glue.crop_and_resize(np.zeros((1, 4, 4)), np.zeros((1, 4))),
         r"^images must have 4 dimensions; received shape \(1, 4, 4\)$"),
        (lambda: glue.crop_and_resize(np.zeros((1, 4, 4, 3)), np.zeros((1, 5))),
         r"^boxes must have 2 dimensions with last dimension 4; received shape \(1, 5\)$"),
        (lambda: glue.crop_and_resize(np.zeros((2, 4, 4, 3)), np.zeros((3, 4))),
         r"^need one box per image; received 3 boxes for 2 images$"),
        (lambda: glue.crop_hand(np.zeros((4, 4, 3)), [[1, 1]], [1.0]),
         r"^images_normalized must have 4 dimensions; received shape \(4, 4, 3\)$"),
        (lambda: glue.resize_bilinear_legacy(np.zeros((4, 4, 2)), (8, 8)),
         r"^maps must have 4 dimensions; received shape \(4, 4, 2\)$"),
        (lambda: glue.keypoints_from_scoremaps(np.zeros((32, 32, 21))),
         r"^scoremaps must have 4 dimensions; received shape \(32, 32, 21\)$"),
    ],
)  # fmt: skip
def test_inputs_are_checked_and_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_output_dtypes_and_the_row_extent_of_the_box():
    mask = np.zeros((1, 40, 30), bool)
    mask[0, 3, 10] = mask[0, 30, 12] = True  # taller than wide: size from the rows
    box = glue.mask_box(mask.astype(np.uint8))
    assert box.size.tolist() == [27.0] and box.center_rowcol.tolist() == [[16.5, 11.0]]
    assert box.size.dtype == box.center_rowcol.dtype == np.float32
    assert box.box_rowcol.dtype == np.int64 and box.hand_found.dtype == bool
    assert glue.crop_scale(np.array([100.0, 0.5])).dtype == np.float32
    for maps, size in ((np.zeros((1, 30, 40, 2)), 120), (np.ones((1, 32, 32, 2)), 256)):
        rowcol, scores = glue.keypoints_from_scoremaps(maps, size)  # dense, then the fast path
        assert rowcol.dtype == np.int64 and scores.dtype == np.float32


def test_float64_arguments_are_rounded_to_float32_first():
    """The original computes in float32: float64 arguments must give the float32 results."""
    rng = np.random.default_rng(19)
    center = rng.uniform(30, 60, (3, 2))  # float64, not representable in float32
    scale = rng.uniform(0.7, 3.3, 3)
    hw = (70, 90)
    want = _ref_crop_boxes(center.astype(np.float32), scale.astype(np.float32), hw)
    _assert_bitwise(glue.crop_boxes(center, scale, hw), want)
    _assert_bitwise(glue.crop_boxes(center, scale[:, None], hw), want)  # [B, 1] scales
    np.testing.assert_array_equal(
        glue.crop_scale(scale * 77), glue.crop_scale(np.float32(scale * 77))
    )
    images = rng.uniform(-0.5, 0.5, (3, *hw, 3)).astype(np.float32)
    boxes = rng.uniform(-0.2, 1.2, (3, 4))
    _assert_bitwise(glue.crop_and_resize(images, boxes, (33, 17)),
                    glue.crop_and_resize(images, boxes.astype(np.float32), (33, 17)))  # fmt: skip
    # A crop of another size uses that size for its box and its samples.
    crop = glue.crop_hand(images, center, scale, crop_size=64)
    _assert_bitwise(crop, _ref_crop_and_resize(images, _ref_crop_boxes(center, scale, hw, 64),
                                               (64, 64)))  # fmt: skip
    points = rng.uniform(0, 255, (3, 21, 2))
    image_points = glue.crop_to_image(points, center, scale)
    c32, s32 = center.astype(np.float32).astype(np.float64), np.float32(scale).astype(np.float64)
    np.testing.assert_array_equal(image_points, (points - 128) / s32[:, None, None] + c32[:, None])
    np.testing.assert_array_equal(glue.image_to_crop(image_points, center, scale),
                                  (image_points - c32[:, None]) * s32[:, None, None] + 128)  # fmt: skip
    # An odd crop side: the centre is crop_size // 2 (127 for 255), as the original.
    np.testing.assert_array_equal(glue.crop_to_image(points, center, scale, 255),
                                  (points - 127) / s32[:, None, None] + c32[:, None])  # fmt: skip
    np.testing.assert_array_equal(glue.image_to_crop(image_points, center, scale, 255),
                                  (image_points - c32[:, None]) * s32[:, None, None] + 127)  # fmt: skip


def test_softmax_with_non_finite_logits_keeps_the_finite_pixels_exact():
    rng = np.random.default_rng(20)
    logits = rng.normal(0, 2, (1, 6, 7, 2)).astype(np.float32)
    logits[0, 2, 3] = [np.inf, 0.0]  # one non-finite pixel: the plain softmax path
    with np.errstate(invalid="ignore"):
        got, want = glue.hand_probability(logits), _ref_hand_probability(logits)
    finite = np.ones((6, 7), bool)
    finite[2, 3] = False
    _assert_bitwise(got[0][finite], want[0][finite])
    assert 0.05 < got[0][finite].mean() < 0.95
