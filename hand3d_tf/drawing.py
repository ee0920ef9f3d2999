"""Drawing hands on images (OpenCV) and in 3-D (matplotlib), and the prediction figure. TF-free.

The one home of pictures of a hand: the primitives (skeleton, mask tint, 3-D plot) and the
picture hand3d-predict writes from them (``prediction_figure``: image + 2D skeleton,
crop + skeleton, mask, 3D hand; ``annotate_frame`` for video frames).

Colours come from ``keypoints.FINGER_COLORS`` (one per finger, RGB in 0..1); images are RGB
uint8 ``[H, W, 3]`` and are never modified in place. Keypoints are ``uv`` = (x = column,
y = row) in pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from hand3d_tf import glue
from hand3d_tf import keypoints as kp

# Palm-centre / root marker colour (white reads well on both skin and background).
ROOT_COLOR = (1.0, 1.0, 1.0)
# Dash length in pixels (thin lines) for edges touching an invisible keypoint.
DASH_PX = 4


def _rgb255(color) -> tuple[int, int, int]:
    """(r, g, b) in 0..1 -> int tuple in 0..255 (OpenCV draws in the array's channel order)."""
    return tuple(int(round(255.0 * float(c))) for c in color)


def _check_image(image: np.ndarray, name: str = "image_rgb_uint8") -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name} must be an RGB uint8 array [H, W, 3]; received dtype {image.dtype}, "
            f"shape {image.shape}"
        )
    return image


def _dashed_line(image, p0, p1, color, thickness):
    """Dashes of half a period each; the period grows with the thickness so the round caps
    OpenCV adds (about thickness / 2 per end) do not close the gaps."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    length = float(np.hypot(*(p1 - p0)))
    if length < 1.0:
        return
    period = max(4.0 * thickness, 2.0 * DASH_PX)
    dash = max(period / 2.0 - thickness, 1.0)
    for start in np.arange(0.0, length, period):
        stop = min(start + dash, length)
        a = p0 + (p1 - p0) * (start / length)
        b = p0 + (p1 - p0) * (stop / length)
        cv2.line(image, _pt(a), _pt(b), color, thickness, cv2.LINE_AA)


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def draw_skeleton(
    image_rgb_uint8: np.ndarray,
    uv: np.ndarray,
    visible: np.ndarray | None = None,
    thickness: int = 2,
) -> np.ndarray:
    """Draw the 21-keypoint skeleton, coloured per finger, on a copy of the image.

    image_rgb_uint8: [H, W, 3] uint8 RGB. uv: [21, 2] pixels, (x = column, y = row).
    visible: optional [21] bool; an edge with one invisible end is drawn dashed, an edge with
    both ends invisible and invisible keypoints' dots are skipped. Non-finite points are
    skipped. Returns a new [H, W, 3] uint8 image.
    """
    image = _check_image(image_rgb_uint8).copy()
    uv = np.asarray(uv, dtype=np.float64)
    if uv.shape != (kp.NUM_KEYPOINTS, 2):
        raise ValueError(f"uv must have shape [21, 2] (x=col, y=row); received {uv.shape}")
    vis = np.ones(kp.NUM_KEYPOINTS, bool) if visible is None else np.asarray(visible, bool)
    if vis.shape != (kp.NUM_KEYPOINTS,):
        raise ValueError(f"visible must have shape [21]; received {vis.shape}")
    finite = np.all(np.isfinite(uv), axis=-1)
    for (a, b), finger in zip(kp.SKELETON_EDGES, kp.EDGE_FINGER):
        if not (finite[a] and finite[b]) or not (vis[a] or vis[b]):
            continue
        color = _rgb255(kp.FINGER_COLORS[finger])
        if vis[a] and vis[b]:
            cv2.line(image, _pt(uv[a]), _pt(uv[b]), color, thickness, cv2.LINE_AA)
        else:
            _dashed_line(image, uv[a], uv[b], color, thickness)
    radius = max(thickness + 1, 2)
    for k in range(kp.NUM_KEYPOINTS):
        if not (vis[k] and finite[k]):
            continue
        color = ROOT_COLOR if k == 0 else kp.FINGER_COLORS[(k - 1) // 4]
        cv2.circle(image, _pt(uv[k]), radius, _rgb255(color), -1, cv2.LINE_AA)
    return image


def overlay_mask(
    image_rgb_uint8: np.ndarray,
    mask: np.ndarray,
    color=(0.1, 0.9, 0.1),
    alpha: float = 0.5,
) -> np.ndarray:
    """Blend ``color`` into the image where ``mask`` is set; returns a new uint8 image.

    mask: [H, W] bool, or integer class ids (every non-zero id counts; pass ``mask > 1`` for
    RHD hands, since class 1 is the person). color: RGB in 0..1; alpha in [0, 1] is the weight
    of the colour.
    """
    image = _check_image(image_rgb_uint8)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; received {alpha}")
    sel = mask.astype(bool)
    out = image.astype(np.float64)
    tint = 255.0 * np.asarray(color, dtype=np.float64).reshape(1, 3)
    out[sel] = (1.0 - alpha) * out[sel] + alpha * tint
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def plot_skeleton_3d(ax, xyz: np.ndarray, title: str | None = None, linewidth: float = 2.0):
    """Plot a [21, 3] hand on a matplotlib 3-D axis, coloured per finger, equal aspect.

    ax: an ``Axes3D`` (``fig.add_subplot(projection="3d")``). Units are those of ``xyz``.
    Returns ``ax``.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (kp.NUM_KEYPOINTS, 3):
        raise ValueError(f"xyz must have shape [21, 3]; received {xyz.shape}")
    for (a, b), finger in zip(kp.SKELETON_EDGES, kp.EDGE_FINGER):
        seg = xyz[[a, b]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=kp.FINGER_COLORS[finger], lw=linewidth)
    ax.scatter(*xyz[0], color="k", s=12)
    # Equal aspect: a cube around the hand, since 3-D axes autoscale each axis separately.
    finite = xyz[np.all(np.isfinite(xyz), axis=-1)]
    if len(finite):
        centre = 0.5 * (finite.max(0) + finite.min(0))
        half = max(0.5 * float(np.max(finite.max(0) - finite.min(0))), 1e-9)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        if hasattr(ax, "set_box_aspect"):
            ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    if title:
        ax.set_title(title)
    return ax


MASK_COLOR = (0.1, 0.9, 0.1)  # RGB 0..1, the hand blob in the mask panel
BOX_COLOR = (255, 255, 0)  # RGB uint8, the blob's bounding box


def crop_to_uint8(crop: np.ndarray) -> np.ndarray:
    """A -0.5...0.5 float crop [256, 256, 3] -> uint8 RGB for display."""
    return np.clip(np.round((np.asarray(crop, np.float64) + 0.5) * 255.0), 0, 255).astype(np.uint8)


def mask_box_xyxy(mask: np.ndarray):
    """Inclusive (x_min, y_min, x_max, y_max) pixels of a [H, W] bool mask, or None if empty."""
    box = glue.mask_box(np.asarray(mask, bool)[None])
    if not box.hand_found[0]:
        return None
    row_min, row_max, col_min, col_max = (int(v) for v in box.box_rowcol[0])
    return col_min, row_min, col_max, row_max


def annotate_frame(
    image: np.ndarray, result, index: int = 0, mask_alpha: float = 0.35
) -> np.ndarray:
    """The image with the hand mask tinted and the 2D skeleton drawn (video frames).

    image: uint8 RGB [H, W, 3], the image the result was predicted from. Returns a new image.
    """
    out = overlay_mask(image, result.hand_mask[index], MASK_COLOR, mask_alpha)
    if result.hand_found[index]:
        out = draw_skeleton(out, result.keypoints_uv[index])
    return out


def prediction_figure(image: np.ndarray, result, index: int = 0, title: str | None = None):
    """A 2x2 matplotlib figure of one prediction (uses the Agg canvas; nothing is shown).

    image: uint8 RGB [H, W, 3]; result: hand3d_tf.pipeline.HandPoseResult; index: which
    image of the batch. The crop panel draws the keypoints at their exact crop positions
    (the arg-max of the upsampled score maps). Returns the Figure; save it with savefig.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    found = bool(result.hand_found[index])
    fig = Figure(figsize=(10, 8), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(2, 2, i) for i in (1, 2, 3)]
    ax3d = fig.add_subplot(2, 2, 4, projection="3d")

    axes[0].imshow(draw_skeleton(image, result.keypoints_uv[index]))
    axes[0].set_title("image + 2D keypoints" + ("" if found else " (no hand found)"))

    crop_rowcol, _ = glue.keypoints_from_scoremaps(result.keypoint_scoremaps[index : index + 1])
    crop_image = crop_to_uint8(result.crop[index])
    axes[1].imshow(draw_skeleton(crop_image, crop_rowcol[0, :, ::-1]))
    axes[1].set_title(f"crop 256x256 (scale {float(result.scale[index]):.3f})")

    masked = overlay_mask(image, result.hand_mask[index], MASK_COLOR, 0.5)
    box = mask_box_xyxy(result.hand_mask[index])
    if box is not None:
        cv2.rectangle(masked, box[:2], box[2:], BOX_COLOR, 1)
    axes[2].imshow(masked)
    axes[2].set_title("hand mask" if found else "hand mask (empty)")
    for ax in axes:
        ax.set_axis_off()

    plot_skeleton_3d(ax3d, result.keypoints_xyz[index], title="3D (normalised, root-relative)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
