"""The glue between ColorHandPose3D's networks, in NumPy/OpenCV (docs/original.md §5). No TensorFlow.

Everything outside the three networks lives here, batched over the leading axis, so the
same code runs around Keras models and around TFLite models on a device:

    logits [B, H, W, 2] --locate_hand--> mask, centre (row, col), scale, hand_found
    image  [B, H, W, 3] --crop_hand-----> crop [B, 256, 256, 3]            (-> PoseNet)
    S3     [B, 32, 32, 21] --keypoints_from_scoremaps--> crop (row, col), score
                           --crop_to_image-------------> input-image (row, col)

Every step reproduces the original TF 1.3 numbers, quirks included (docs/original.md §5, §11.4-5):
the detection mask, the blob growth, the box and its (160, 160)/100 empty-mask fallback,
the crop box normalised by H and W with floor(S/2), TF's crop_and_resize sampling, the
legacy (non-half-pixel) bilinear upsampling and the (p - 128)/scale + centre back-projection.
Arithmetic is float32 where TensorFlow computed in float32, so results agree to float
rounding (tests/test_glue.py checks tests/data/glue_cases.npz).

Speed (docs/performance.md): the hot steps take shortcuts that give bit-identical results (each
argument is in the function's comments; tests/test_glue.py compares every step with a plain
re-implementation on the reference cases and on hundreds of random and tie-heavy inputs):
one exp per pixel for the softmax, the blob grown in a window around it with an early stop,
the crop interpolated along x once per source row, in place and in row blocks, and the
keypoint arg-max found on an 8-row slab of the upsampled map instead of all 256x256 pixels.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from hand3d_tf.constants import CROP_SIZE  # PoseNet's input side in pixels

SCOREMAP_SIZE = 32  # PoseNet's score-map side (stride 8, docs/original.md §2)
BLOB_FILTER_SIZE = 21  # side of the square dilation window (docs/original.md §5 step 2.5)
BOX_ENLARGE = 1.25  # the blob's box side is enlarged by this factor (docs/original.md §5 step 4)
SCALE_RANGE = (0.25, 5.0)  # crop scale clip (docs/original.md §5 step 4)
# calc_center_bb's fallback for an empty mask; assumes a 320x320 frame (docs/original.md §11.5).
FALLBACK_CENTER_ROWCOL = (160.0, 160.0)
FALLBACK_SIZE = 100.0
# Maps with |values| <= 2**126 have finite pairwise differences (float32 max is ~2**128).
_SAFE_MAGNITUDE = np.float32(2.0**126)


def _check_batch(name: str, array: np.ndarray, ndim: int, last: int | None = None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != ndim or (last is not None and array.shape[-1] != last):
        want = f"{ndim} dimensions" + ("" if last is None else f" with last dimension {last}")
        raise ValueError(f"{name} must have {want}; received shape {array.shape}")
    return array


def normalize_image(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> float32 pixel/255 - 0.5 in -0.5...0.5 (docs/original.md §1)."""
    out = np.array(images, dtype=np.float32)  # a copy, then in place: no second temporary
    out /= np.float32(255.0)
    out -= np.float32(0.5)
    return out


# --- hand segmentation: one blob, its box, the crop scale ---------------------------------


def hand_probability(logits: np.ndarray) -> np.ndarray:
    """Softmax hand probability [B, H, W] float32 of HandSegNet logits [B, H, W, 2].

    Bit-identical to TF's softmax (max-subtracted, float32) because the blob seed is the
    first arg-max of this map and a saturated softmax (p = 1.0) has ties. One exp per pixel:
    the larger logit's shifted value is exactly 0 (exp = 1), the other's is l_small - l_big =
    -|d| with d = l_hand - l_background (float subtraction is sign-symmetric), so
    p = 1 / (1 + e) where d >= 0 and e / (1 + e) elsewhere, e = exp(-|d|).
    """
    logits = _check_batch("logits", logits, 4, 2).astype(np.float32, copy=False)
    diff = logits[..., 1] - logits[..., 0]
    if not np.isfinite(diff).all():  # inf/NaN logits: keep TF's NaN/inf behaviour exactly
        return _softmax_hand(logits)
    # exp into a new array, like the reference: some NumPy versions take a scalar (libm)
    # loop instead of the SIMD one for in-place calls, which may differ by an ulp.
    hand_wins = diff >= 0
    e = np.exp(np.negative(np.abs(diff, out=diff), out=diff))
    denominator = e + np.float32(1)
    np.copyto(e, np.float32(1), where=hand_wins)  # e becomes the numerator
    return np.divide(e, denominator, out=denominator)


def _softmax_hand(logits: np.ndarray) -> np.ndarray:
    """The softmax written out as TF computes it (float32, max-subtracted)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e[..., 1] / e.sum(axis=-1)


def detection_mask(logits: np.ndarray) -> np.ndarray:
    """[B, H, W] bool: hand logit > background logit, i.e. round(p_hand) = 1 (docs/original.md §10)."""
    logits = _check_batch("logits", logits, 4, 2)
    return logits[..., 1] > logits[..., 0]


def seed_rowcol(p_hand: np.ndarray) -> np.ndarray:
    """[B, 2] int64 (row, col) of the first maximum (row-major) of p_hand [B, H, W]."""
    p_hand = _check_batch("p_hand", p_hand, 3)
    flat = np.argmax(p_hand.reshape(p_hand.shape[0], -1), axis=1)
    return np.stack(np.unravel_index(flat, p_hand.shape[1:]), axis=-1).astype(np.int64)


def single_hand_blob(logits: np.ndarray, filter_size: int = BLOB_FILTER_SIZE) -> np.ndarray:
    """The one hand blob the original keeps (single_obj_scoremap, docs/original.md §5 step 2).

    The blob starts at the arg-max of p_hand and grows by N = max(H, W) // (filter_size // 2)
    passes of a filter_size x filter_size binary dilation intersected with the detection
    mask; N = 32 for 240x320 and 320x320. The original's grey-scale dilation with a flat
    1/441 element followed by rounding equals this binary dilation exactly (docs/original.md §5).

    logits: [B, H, W, 2] HandSegNet logits. Returns [B, H, W] bool (all False when no pixel
    has p_hand > 0.5).
    """
    logits = _check_batch("logits", logits, 4, 2)
    if int(filter_size) < 2:
        raise ValueError(f"filter_size must be an integer >= 2; received {filter_size!r}")
    batch, height, width, _ = logits.shape
    passes = max(height, width) // (int(filter_size) // 2)
    detected = detection_mask(logits)
    blob = np.zeros((batch, height, width), bool)
    if passes > 0 and not detected.any():
        return blob  # the first pass intersects the seed's window with an empty mask
    seeds = seed_rowcol(hand_probability(logits))
    for b, (row, col) in enumerate(seeds):
        if passes == 0:
            blob[b, row, col] = True
        else:
            _grow_blob(
                blob[b].view(np.uint8), detected[b].view(np.uint8), (row, col), filter_size, passes
            )
    return blob


def _grow_blob(grown, detected, seed, filter_size: int, passes: int) -> None:
    """Grows the blob from `seed` in place in `grown` [H, W] uint8 (all 0 on entry).

    Each pass dilates only a window: the blob's box enlarged by filter_size (more than the
    dilation reaches), clipped to the frame. Outside the window the blob and its dilation are
    0 in the full frame too, and inside it the dilation sees the same zeros at the window
    border, so each pass equals the full-frame pass. Stops at a fixed point (a pass that
    changes nothing changes nothing later either).
    """
    height, width = grown.shape
    kernel = np.ones((filter_size, filter_size), np.uint8)
    grown[seed] = 1
    box = (seed[0], seed[0] + 1, seed[1], seed[1] + 1)  # rows [r0, r1), columns [c0, c1)
    for _ in range(passes):
        r0, r1 = max(box[0] - filter_size, 0), min(box[1] + filter_size, height)
        c0, c1 = max(box[2] - filter_size, 0), min(box[3] + filter_size, width)
        window = grown[r0:r1, c0:c1]
        new = cv2.dilate(window, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        new &= detected[r0:r1, c0:c1]
        if np.array_equal(new, window):
            return
        window[...] = new
        x, y, w, h = cv2.boundingRect(new)  # of the non-zero pixels
        if w == 0:
            return  # empty (the seed was outside the mask): a fixed point
        box = (r0 + y, r0 + y + h, c0 + x, c0 + x + w)


@dataclasses.dataclass(frozen=True)
class HandBox:
    """Bounding box of the hand blob, as calc_center_bb returns it (docs/original.md §5 step 3).

    center_rowcol: [B, 2] float32 (row, col) in input pixels; (160, 160) when no hand.
    size: [B] float32 max(row extent, col extent) in pixels, no +1; 100 when no hand.
    box_rowcol: [B, 4] int64 (row_min, row_max, col_min, col_max), inclusive; -1 when no hand.
    hand_found: [B] bool, False where the mask is empty (the fallback values apply).
    """

    center_rowcol: np.ndarray
    size: np.ndarray
    box_rowcol: np.ndarray
    hand_found: np.ndarray


def mask_box(mask: np.ndarray) -> HandBox:
    """Box, centre and size of binary masks [B, H, W] (calc_center_bb, quirks kept)."""
    mask = _check_batch("mask", mask, 3).astype(bool, copy=False)
    rows_any, cols_any = mask.any(axis=2), mask.any(axis=1)  # [B, H], [B, W]
    found = rows_any.any(axis=1)

    def first_last(hits):
        n = hits.shape[1]
        first = np.argmax(hits, axis=1)
        last = n - 1 - np.argmax(hits[:, ::-1], axis=1)
        return first, last

    row_min, row_max = first_last(rows_any)
    col_min, col_max = first_last(cols_any)
    box = np.stack([row_min, row_max, col_min, col_max], axis=-1).astype(np.int64)
    box[~found] = -1
    bf = box.astype(np.float32)
    center = np.stack(
        [(bf[:, 0] + bf[:, 1]) / np.float32(2), (bf[:, 2] + bf[:, 3]) / np.float32(2)], axis=-1
    )
    size = np.maximum(bf[:, 1] - bf[:, 0], bf[:, 3] - bf[:, 2])
    center[~found] = np.asarray(FALLBACK_CENTER_ROWCOL, np.float32)
    size[~found] = np.float32(FALLBACK_SIZE)
    return HandBox(center.astype(np.float32), size.astype(np.float32), box, found)


def crop_scale(size: np.ndarray) -> np.ndarray:
    """Crop scale [B] float32 = clip(256 / (1.25 * size), 0.25, 5) (docs/original.md §5 step 4).

    Crop pixels per input pixel; the crop covers S = 256 / scale input pixels.
    """
    size = np.asarray(size, np.float32)
    with np.errstate(divide="ignore"):  # a one-pixel blob has size 0: scale inf -> 5
        scale = np.float32(CROP_SIZE) / (size * np.float32(BOX_ENLARGE))
    return np.clip(scale, np.float32(SCALE_RANGE[0]), np.float32(SCALE_RANGE[1]))


@dataclasses.dataclass(frozen=True)
class HandLocation:
    """Where the hand is: the blob, its box and the crop centre/scale (docs/original.md §5 steps 2-4)."""

    mask: np.ndarray  # [B, H, W] bool
    box: HandBox
    scale: np.ndarray  # [B] float32

    @property
    def center_rowcol(self) -> np.ndarray:
        return self.box.center_rowcol

    @property
    def hand_found(self) -> np.ndarray:
        return self.box.hand_found


def locate_hand(logits: np.ndarray) -> HandLocation:
    """HandSegNet logits [B, H, W, 2] -> blob, box, crop centre and scale."""
    mask = single_hand_blob(logits)
    box = mask_box(mask)
    return HandLocation(mask=mask, box=box, scale=crop_scale(box.size))


# --- the crop ------------------------------------------------------------------------------


def crop_boxes(center_rowcol, scale, image_hw, crop_size: int = CROP_SIZE) -> np.ndarray:
    """Normalised crop boxes [B, 4] float32 (y1, x1, y2, x2) of crop_image_from_xy.

    S = crop_size / scale; y1 = row_c - floor(S / 2), y2 = y1 + S (same for x); the box is
    divided by H and W, not H - 1 and W - 1 (kept from the original, docs/original.md §5 step 5, §11.4).
    """
    center = np.asarray(center_rowcol, np.float32).reshape(-1, 2)
    side = np.float32(crop_size) / np.asarray(scale, np.float32).reshape(-1)
    half = np.floor_divide(side, np.float32(2))
    y1 = center[:, 0] - half
    x1 = center[:, 1] - half
    height, width = (np.float32(v) for v in image_hw)
    boxes = [y1 / height, x1 / width, (y1 + side) / height, (x1 + side) / width]
    return np.stack(boxes, axis=-1).astype(np.float32)


def _sample_positions(start, end, in_size: int, out_size: int) -> np.ndarray:
    """TF crop_and_resize sample positions [B, out] float32 along one axis."""
    start = start.astype(np.float32)[:, None]
    last = np.float32(in_size - 1)
    if out_size == 1:
        return np.float32(0.5) * (start + end.astype(np.float32)[:, None]) * last
    step = (end.astype(np.float32)[:, None] - start) * last / np.float32(out_size - 1)
    return start * last + np.arange(out_size, dtype=np.float32)[None, :] * step


def crop_and_resize(images, boxes, crop_hw=(CROP_SIZE, CROP_SIZE), extrapolation_value=0.0):
    """NumPy twin of tf.image.crop_and_resize (bilinear), one box per image.

    images: [B, H, W, C] float; boxes: [B, 4] normalised (y1, x1, y2, x2) where coordinate
    a maps to pixel a * (H - 1). Output row i samples y1 (H - 1) + i (y2 - y1)(H - 1)/(h - 1);
    samples outside [0, H - 1] x [0, W - 1] get extrapolation_value (docs/original.md §5 step 5).
    Returns [B, h, w, C] float32, bit-identical to TF (same float32 operations per sample).
    """
    images = _check_batch("images", images, 4)
    boxes = _check_batch("boxes", boxes, 2, 4).astype(np.float32, copy=False)
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(
            f"need one box per image; received {boxes.shape[0]} boxes for {images.shape[0]} images"
        )
    batch, height, width, channels = images.shape
    out_h, out_w = int(crop_hw[0]), int(crop_hw[1])
    ys = _sample_positions(boxes[:, 0], boxes[:, 2], height, out_h)  # [B, h]
    xs = _sample_positions(boxes[:, 1], boxes[:, 3], width, out_w)  # [B, w]
    crops = np.full((batch, out_h, out_w, channels), extrapolation_value, np.float32)
    for b in range(batch):
        rows = np.flatnonzero((ys[b] >= 0) & (ys[b] <= height - 1))
        cols = np.flatnonzero((xs[b] >= 0) & (xs[b] <= width - 1))
        if rows.size == 0 or cols.size == 0:
            continue
        _crop_one(images[b], ys[b], xs[b], rows, cols, crops[b])
    return crops


# Output rows per step of _crop_one: small temporaries stay in cache and are not fresh
# page-faulting allocations on every call (dev box: 64 rows 0.30 ms, 32: 0.35, 256: 0.88).
_CROP_ROWS_PER_STEP = 64


def _crop_one(image, ys, xs, rows, cols, out) -> None:
    """Bilinear samples of image [H, W, C] at rows x cols of the positions into out [h, w, C].

    rows, cols: sorted non-empty indices of the positions inside the image. Per sample the
    float32 operations are TF's: along x on the top and bottom source rows, then along y.
    Each source row is interpolated along x once per step and then picked by the output rows
    that use it (TF computes it once per output row: the same operations on the same values).
    """
    x = xs[cols]
    left = np.floor(x)
    # One weight per output value (not broadcast over the channels): numpy's inner loops
    # then run over whole rows instead of C = 3 values, about 3x faster.
    x_lerp = np.repeat((x - left)[:, None], image.shape[-1], axis=1)[None]  # [1, w, C]
    left, right = left.astype(np.intp), np.ceil(x).astype(np.intp)
    runs = rows[-1] - rows[0] + 1 == rows.size and cols[-1] - cols[0] + 1 == cols.size
    for start in range(0, rows.size, _CROP_ROWS_PER_STEP):
        step_rows = rows[start : start + _CROP_ROWS_PER_STEP]
        y = ys[step_rows]
        top = np.floor(y)
        y_lerp = (y - top)[:, None, None]
        top, bottom = top.astype(np.intp), np.ceil(y).astype(np.intp)
        first = int(top.min())
        source = image[first : int(bottom.max()) + 1].astype(np.float32, copy=False)
        across = _lerp(np.take(source, left, axis=1), np.take(source, right, axis=1), x_lerp)
        upper = np.take(across, top - first, axis=0)
        lower = np.take(across, bottom - first, axis=0)
        if runs:  # positions are monotonic, so this is the usual case: write in place
            block = out[step_rows[0] : step_rows[-1] + 1, cols[0] : cols[-1] + 1]
            _lerp(upper, lower, y_lerp, out=block)
        else:  # NaN positions interrupt the runs
            out[np.ix_(step_rows, cols)] = _lerp(upper, lower, y_lerp)


def crop_hand(images_normalized, center_rowcol, scale, crop_size: int = CROP_SIZE) -> np.ndarray:
    """The 256x256 hand crop fed to PoseNet (crop_image_from_xy, docs/original.md §5 step 5).

    images_normalized: [B, H, W, 3] float32 in -0.5...0.5; center_rowcol: [B, 2];
    scale: [B]. Returns [B, 256, 256, 3] float32; outside the image is 0 (mid-grey).
    """
    images_normalized = _check_batch("images_normalized", images_normalized, 4)
    boxes = crop_boxes(center_rowcol, scale, images_normalized.shape[1:3], crop_size)
    return crop_and_resize(images_normalized, boxes, (crop_size, crop_size), 0.0)


# --- keypoints -----------------------------------------------------------------------------


def _legacy_weights(in_size: int, out_size: int):
    """Lower/upper source index and lerp of TF1's resize_bilinear (half_pixel_centers=False)."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    lower = np.floor(src)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    return lower.astype(np.int64), upper, (src - lower).astype(np.float32)


def resize_bilinear_legacy(maps: np.ndarray, out_hw) -> np.ndarray:
    """TF1 resize_images / resize_bilinear(align_corners=False, half_pixel_centers=False).

    Output index o samples source o * in/out (so with 8x, source cell p lands at 8p, not
    8p + 3.5 as with TF2's default); past the last source row/column the edge repeats
    (docs/original.md §0). maps: [B, h, w, C] -> [B, H, W, C] float32, same float32 arithmetic as TF.
    """
    maps = _check_batch("maps", maps, 4).astype(np.float32, copy=False)
    y_lo, y_hi, y_lerp = _legacy_weights(maps.shape[1], int(out_hw[0]))
    x_lo, x_hi, x_lerp = _legacy_weights(maps.shape[2], int(out_hw[1]))
    # Interpolate along x for every source row, then along y: the same float32 operations
    # in the same order as TF's kernel (top/bottom rows first, then between them).
    x_lerp = np.repeat(x_lerp[:, None], maps.shape[3], axis=1)  # [W, C]: see _crop_one
    rows = _lerp(np.take(maps, x_lo, axis=2), np.take(maps, x_hi, axis=2), x_lerp)
    top = np.take(rows, y_lo, axis=1)
    return _lerp(top, np.take(rows, y_hi, axis=1), y_lerp[:, None, None])


def _lerp(low: np.ndarray, high: np.ndarray, weight: np.ndarray, out=None) -> np.ndarray:
    """low + (high - low) * weight in float32, in place in `high` (a temporary) or `out`.

    The operations are TF's (the final sum commutes exactly); in place only avoids
    allocating temporaries, which costs more than the arithmetic at these sizes.
    """
    high -= low
    high *= weight
    return np.add(high, low, out=high if out is None else out)


def keypoints_from_scoremaps(scoremaps: np.ndarray, crop_size: int = CROP_SIZE):
    """2D keypoints in the crop from PoseNet score maps (detect_keypoints, docs/original.md §5).

    scoremaps: [B, h, w, K] raw (32x32 from PoseNet). They are upsampled to
    crop_size x crop_size with the legacy bilinear resize; per channel the first maximum
    (row-major) is the keypoint. Returns (rowcol [B, K, 2] int64 crop pixels,
    scores [B, K] float32 = the upsampled map's maximum; not a probability).
    """
    scoremaps = _check_batch("scoremaps", scoremaps, 4).astype(np.float32, copy=False)
    factors = [crop_size // n for n in scoremaps.shape[1:3]]
    exact_weights = all(
        f * n == crop_size and f & (f - 1) == 0 for f, n in zip(factors, scoremaps.shape[1:3])
    )
    if exact_weights and crop_size < 2**24 and np.all(np.abs(scoremaps) <= _SAFE_MAGNITUDE):
        return _first_max_on_slab(scoremaps, crop_size, factors[0])
    return _first_max_dense(scoremaps, crop_size)


def _first_max_dense(maps: np.ndarray, size: int):
    """Arg-max over the whole upsampled map (any size, inf and NaN included)."""
    up = resize_bilinear_legacy(maps, (size, size))
    batch, _, _, num = up.shape
    flat = up.reshape(batch, size * size, num)
    index = np.argmax(flat, axis=1)  # [B, K], first maximum
    scores = np.take_along_axis(flat, index[:, None, :], axis=1)[:, 0]
    return np.stack(np.divmod(index, size), axis=-1).astype(np.int64), scores


def _first_max_on_slab(maps: np.ndarray, size: int, factor: int):
    """The dense arg-max, computed on `factor` rows of the upsampled map per channel.

    Valid for power-of-two upsampling factors (every lerp weight k/f and source position is
    exact in float32) and |maps| <= 2**126 (differences do not overflow). Then:
    (1) a lerp a + (b - a) w with 0 <= w <= (f - 1)/f never exceeds max(a, b) in float32:
        b <= a adds a non-positive term to a; for b > a the rounded (b - a) w is <= b - a,
        because an exactly representable b - a rounds to no more than itself (this covers
        subnormals) and otherwise two relative errors (1 + 2**-24)**2 < f / (f - 1); w = 0
        gives a exactly;
    (2) hence the upsampled maximum is the 32x32 maximum M (grid points are copied
        exactly), and an output row holds M only if its lower source row does, or its upper
        one with a non-zero weight;
    (3) with p the first source row holding M, rows <= f (p - 1) hold less than M and row
        f p holds M: the first maximum lies in rows f p - f + 1 ... f p. Those rows are
        computed with the same float32 operations as resize_bilinear_legacy and searched
        row-major, so index and score (the value found there) are the dense ones, ties and
        rounding included.
    """
    batch, height, width, num = maps.shape
    channels = batch * num
    per_channel = np.ascontiguousarray(np.moveaxis(maps, -1, 1)).reshape(channels, height * width)
    first_row = np.argmax(per_channel, axis=1) // width  # [B K], first source row holding M
    rows = np.maximum(factor * first_row[:, None] + np.arange(1 - factor, 1), 0)  # [B K, f]
    y_lo, y_hi, y_lerp = _legacy_weights(height, size)
    x_lo, x_hi, x_lerp = _legacy_weights(width, size)
    # Those rows read source rows p - 1, p and p + 1 only: interpolate these along x.
    lowest = first_row[:, None] - 1
    source_rows = np.clip(lowest + np.arange(3), 0, height - 1)  # [B K, 3]
    flat = np.arange(channels)[:, None]
    picked = np.take(per_channel.reshape(-1, width), (flat * height + source_rows).ravel(), axis=0)
    across = _lerp(np.take(picked, x_lo, axis=1), np.take(picked, x_hi, axis=1), x_lerp)
    first = flat * 3 - lowest  # the row of `across` holding source row y is first + y
    top = np.take(across, (first + y_lo[rows]).ravel(), axis=0)  # [B K f, size]
    bottom = np.take(across, (first + y_hi[rows]).ravel(), axis=0)
    slab = _lerp(top, bottom, y_lerp[rows].reshape(-1, 1)).reshape(channels, factor * size)
    position = np.argmax(slab, axis=1)  # first maximum of the slab, row-major
    scores = slab[np.arange(channels), position]
    slab_row, col = np.divmod(position, size)
    rowcol = np.stack([rows[np.arange(channels), slab_row], col], axis=-1).astype(np.int64)
    return rowcol.reshape(batch, num, 2), scores.reshape(batch, num)


def crop_to_image(points_rowcol, center_rowcol, scale, crop_size: int = CROP_SIZE) -> np.ndarray:
    """Crop pixels -> input pixels: (p - 128) / scale + centre (trafo_coords, docs/original.md §5).

    points_rowcol: [B, K, 2]; center_rowcol: [B, 2]; scale: [B]. Returns [B, K, 2] float64
    (row, col). Only approximately inverts the crop (floor(S/2), /H vs /(H-1), S/255 vs S/256:
    sub-pixel to ~1 px, docs/original.md §11.4); kept for fidelity.
    """
    points = np.asarray(points_rowcol, np.float64)
    scale = np.asarray(scale, np.float32).astype(np.float64).reshape(-1, 1, 1)
    center = np.asarray(center_rowcol, np.float32).astype(np.float64)[:, None, :]
    return (points - crop_size // 2) / scale + center


def image_to_crop(points_rowcol, center_rowcol, scale, crop_size: int = CROP_SIZE) -> np.ndarray:
    """Input pixels -> crop pixels, the exact inverse of crop_to_image ([B, K, 2] float64)."""
    points = np.asarray(points_rowcol, np.float64)
    scale = np.asarray(scale, np.float32).astype(np.float64).reshape(-1, 1, 1)
    center = np.asarray(center_rowcol, np.float32).astype(np.float64)[:, None, :]
    return (points - center) * scale + crop_size // 2
