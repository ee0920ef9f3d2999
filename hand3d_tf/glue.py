"""The glue between ColorHandPose3D's networks, in NumPy/OpenCV (facts §5). No TensorFlow.

Everything outside the three networks lives here, batched over the leading axis, so the
same code runs around Keras models and around TFLite models on a device:

    logits [B, H, W, 2] --locate_hand--> mask, centre (row, col), scale, hand_found
    image  [B, H, W, 3] --crop_hand-----> crop [B, 256, 256, 3]            (-> PoseNet)
    S3     [B, 32, 32, 21] --keypoints_from_scoremaps--> crop (row, col), score
                           --crop_to_image-------------> input-image (row, col)

Every step reproduces the original TF 1.3 numbers, quirks included (facts §5, §11.4-5):
the detection mask, the blob growth, the box and its (160, 160)/100 empty-mask fallback,
the crop box normalised by H and W with floor(S/2), TF's crop_and_resize sampling, the
legacy (non-half-pixel) bilinear upsampling and the (p - 128)/scale + centre back-projection.
Arithmetic is float32 where TensorFlow computed in float32, so results agree to float
rounding (tests/test_glue.py checks tests/data/glue_cases.npz).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

CROP_SIZE = 256  # PoseNet's input side in pixels (facts §2)
SCOREMAP_SIZE = 32  # PoseNet's score-map side (stride 8, facts §2)
BLOB_FILTER_SIZE = 21  # side of the square dilation window (facts §5 step 2.5)
BOX_ENLARGE = 1.25  # the blob's box side is enlarged by this factor (facts §5 step 4)
SCALE_RANGE = (0.25, 5.0)  # crop scale clip (facts §5 step 4)
# calc_center_bb's fallback for an empty mask; assumes a 320x320 frame (facts §11.5).
FALLBACK_CENTER_ROWCOL = (160.0, 160.0)
FALLBACK_SIZE = 100.0
# cv2 converts arrays of at most this many channels into a single Mat.
_CV_MAX_CHANNELS = 512


def _check_batch(name: str, array: np.ndarray, ndim: int, last: int | None = None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != ndim or (last is not None and array.shape[-1] != last):
        want = f"{ndim} dimensions" + ("" if last is None else f" with last dimension {last}")
        raise ValueError(f"{name} must have {want}; received shape {array.shape}")
    return array


def normalize_image(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> float32 pixel/255 - 0.5 in -0.5...0.5 (facts §1)."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0) - np.float32(0.5)


# --- hand segmentation: one blob, its box, the crop scale ---------------------------------


def hand_probability(logits: np.ndarray) -> np.ndarray:
    """Softmax hand probability [B, H, W] float32 of HandSegNet logits [B, H, W, 2].

    Computed as TF's softmax does (max-subtracted, float32) because the blob seed is the
    first arg-max of this map and a saturated softmax (p = 1.0) has ties.
    """
    logits = _check_batch("logits", logits, 4, 2).astype(np.float32, copy=False)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e[..., 1] / e.sum(axis=-1)


def detection_mask(logits: np.ndarray) -> np.ndarray:
    """[B, H, W] bool: hand logit > background logit, i.e. round(p_hand) = 1 (facts §10)."""
    logits = _check_batch("logits", logits, 4, 2)
    return logits[..., 1] > logits[..., 0]


def seed_rowcol(p_hand: np.ndarray) -> np.ndarray:
    """[B, 2] int64 (row, col) of the first maximum (row-major) of p_hand [B, H, W]."""
    p_hand = _check_batch("p_hand", p_hand, 3)
    flat = np.argmax(p_hand.reshape(p_hand.shape[0], -1), axis=1)
    return np.stack(np.unravel_index(flat, p_hand.shape[1:]), axis=-1).astype(np.int64)


def _dilate(mask: np.ndarray, size: int) -> np.ndarray:
    """Binary square dilation of uint8 [B, H, W] masks (zero outside the image)."""
    kernel = np.ones((size, size), np.uint8)
    out = np.empty_like(mask)
    # cv2 takes the batch as channels: one call per 512 images instead of one per image.
    for start in range(0, mask.shape[0], _CV_MAX_CHANNELS):
        chunk = np.ascontiguousarray(np.moveaxis(mask[start : start + _CV_MAX_CHANNELS], 0, -1))
        dilated = cv2.dilate(chunk, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[start : start + _CV_MAX_CHANNELS] = np.moveaxis(dilated.reshape(chunk.shape), -1, 0)
    return out


def single_hand_blob(logits: np.ndarray, filter_size: int = BLOB_FILTER_SIZE) -> np.ndarray:
    """The one hand blob the original keeps (single_obj_scoremap, facts §5 step 2).

    The blob starts at the arg-max of p_hand and grows by N = max(H, W) // (filter_size // 2)
    passes of a filter_size x filter_size binary dilation intersected with the detection
    mask; N = 32 for 240x320 and 320x320. The original's grey-scale dilation with a flat
    1/441 element followed by rounding equals this binary dilation exactly (facts §5).

    logits: [B, H, W, 2] HandSegNet logits. Returns [B, H, W] bool (all False when no pixel
    has p_hand > 0.5).
    """
    logits = _check_batch("logits", logits, 4, 2)
    batch, height, width, _ = logits.shape
    detected = detection_mask(logits).astype(np.uint8)
    seed = seed_rowcol(hand_probability(logits))
    blob = np.zeros((batch, height, width), np.uint8)
    blob[np.arange(batch), seed[:, 0], seed[:, 1]] = 1
    for _ in range(max(height, width) // (filter_size // 2)):
        grown = _dilate(blob, filter_size) & detected
        if np.array_equal(grown, blob):  # a fixed point: the remaining passes change nothing
            break
        blob = grown
    return blob.astype(bool)


@dataclasses.dataclass(frozen=True)
class HandBox:
    """Bounding box of the hand blob, as calc_center_bb returns it (facts §5 step 3).

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
    """Crop scale [B] float32 = clip(256 / (1.25 * size), 0.25, 5) (facts §5 step 4).

    Crop pixels per input pixel; the crop covers S = 256 / scale input pixels.
    """
    size = np.asarray(size, np.float32)
    with np.errstate(divide="ignore"):  # a one-pixel blob has size 0: scale inf -> 5
        scale = np.float32(CROP_SIZE) / (size * np.float32(BOX_ENLARGE))
    return np.clip(scale, np.float32(SCALE_RANGE[0]), np.float32(SCALE_RANGE[1]))


@dataclasses.dataclass(frozen=True)
class HandLocation:
    """Where the hand is: the blob, its box and the crop centre/scale (facts §5 steps 2-4)."""

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
    divided by H and W, not H - 1 and W - 1 (kept from the original, facts §5 step 5, §11.4).
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
    samples outside [0, H - 1] x [0, W - 1] get extrapolation_value (facts §5 step 5).
    Returns [B, h, w, C] float32.
    """
    images = _check_batch("images", images, 4).astype(np.float32, copy=False)
    boxes = _check_batch("boxes", boxes, 2, 4).astype(np.float32, copy=False)
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(
            f"need one box per image; received {boxes.shape[0]} boxes for {images.shape[0]} images"
        )
    batch, height, width, _ = images.shape
    ys = _sample_positions(boxes[:, 0], boxes[:, 2], height, crop_hw[0])  # [B, h]
    xs = _sample_positions(boxes[:, 1], boxes[:, 3], width, crop_hw[1])  # [B, w]
    y_ok = (ys >= 0) & (ys <= height - 1)
    x_ok = (xs >= 0) & (xs <= width - 1)
    ys_c = np.where(y_ok, ys, 0).astype(np.float32)
    xs_c = np.where(x_ok, xs, 0).astype(np.float32)
    top, left = np.floor(ys_c), np.floor(xs_c)
    y_lerp = (ys_c - top)[:, :, None, None]
    x_lerp = (xs_c - left)[:, None, :, None]
    top, bottom = top.astype(np.int64), np.ceil(ys_c).astype(np.int64)
    left, right = left.astype(np.int64), np.ceil(xs_c).astype(np.int64)
    b = np.arange(batch)[:, None, None]

    def pick(rows, cols):
        return images[b, rows[:, :, None], cols[:, None, :]]  # [B, h, w, C]

    top_row = pick(top, left) + (pick(top, right) - pick(top, left)) * x_lerp
    bottom_row = pick(bottom, left) + (pick(bottom, right) - pick(bottom, left)) * x_lerp
    crops = top_row + (bottom_row - top_row) * y_lerp
    inside = (y_ok[:, :, None] & x_ok[:, None, :])[..., None]
    return np.where(inside, crops, np.float32(extrapolation_value)).astype(np.float32)


def crop_hand(images_normalized, center_rowcol, scale, crop_size: int = CROP_SIZE) -> np.ndarray:
    """The 256x256 hand crop fed to PoseNet (crop_image_from_xy, facts §5 step 5).

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
    (facts §0). maps: [B, h, w, C] -> [B, H, W, C] float32, same float32 arithmetic as TF.
    """
    maps = _check_batch("maps", maps, 4).astype(np.float32, copy=False)
    y_lo, y_hi, y_lerp = _legacy_weights(maps.shape[1], int(out_hw[0]))
    x_lo, x_hi, x_lerp = _legacy_weights(maps.shape[2], int(out_hw[1]))
    x_lerp = x_lerp[None, None, :, None]
    # Interpolate along x for every source row, then along y: the same float32 operations
    # in the same order as TF's kernel (top/bottom rows first, then between them).
    rows = maps[:, :, x_lo] + (maps[:, :, x_hi] - maps[:, :, x_lo]) * x_lerp
    top, bottom = rows[:, y_lo], rows[:, y_hi]
    return top + (bottom - top) * y_lerp[None, :, None, None]


def keypoints_from_scoremaps(scoremaps: np.ndarray, crop_size: int = CROP_SIZE):
    """2D keypoints in the crop from PoseNet score maps (detect_keypoints, facts §5).

    scoremaps: [B, h, w, K] raw (32x32 from PoseNet). They are upsampled to
    crop_size x crop_size with the legacy bilinear resize; per channel the first maximum
    (row-major) is the keypoint. Returns (rowcol [B, K, 2] int64 crop pixels,
    scores [B, K] float32 = the upsampled map's maximum; not a probability).
    """
    scoremaps = _check_batch("scoremaps", scoremaps, 4)
    up = resize_bilinear_legacy(scoremaps, (crop_size, crop_size))
    batch, _, _, num = up.shape
    flat = up.reshape(batch, crop_size * crop_size, num)
    index = np.argmax(flat, axis=1)  # [B, K], first maximum
    scores = np.take_along_axis(flat, index[:, None, :], axis=1)[:, 0]
    rowcol = np.stack(np.divmod(index, crop_size), axis=-1).astype(np.int64)
    return rowcol, scores.astype(np.float32)


def crop_to_image(points_rowcol, center_rowcol, scale, crop_size: int = CROP_SIZE) -> np.ndarray:
    """Crop pixels -> input pixels: (p - 128) / scale + centre (trafo_coords, facts §5).

    points_rowcol: [B, K, 2]; center_rowcol: [B, 2]; scale: [B]. Returns [B, K, 2] float64
    (row, col). Only approximately inverts the crop (floor(S/2), /H vs /(H-1), S/255 vs S/256:
    sub-pixel to ~1 px, facts §11.4); kept for fidelity.
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
