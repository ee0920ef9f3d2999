"""The picture hand3d-predict writes: image + 2D skeleton, crop + skeleton, mask, 3D hand.

TF-free (matplotlib with the Agg backend, OpenCV); colours per finger come from
hand3d_tf.keypoints via hand3d_tf.drawing.
"""

from __future__ import annotations

import cv2
import numpy as np

from hand3d_tf import drawing, glue

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
    out = drawing.overlay_mask(image, result.hand_mask[index], MASK_COLOR, mask_alpha)
    if result.hand_found[index]:
        out = drawing.draw_skeleton(out, result.keypoints_uv[index])
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

    axes[0].imshow(drawing.draw_skeleton(image, result.keypoints_uv[index]))
    axes[0].set_title("image + 2D keypoints" + ("" if found else " (no hand found)"))

    crop_rowcol, _ = glue.keypoints_from_scoremaps(result.keypoint_scoremaps[index : index + 1])
    crop_image = crop_to_uint8(result.crop[index])
    axes[1].imshow(drawing.draw_skeleton(crop_image, crop_rowcol[0, :, ::-1]))
    axes[1].set_title(f"crop 256x256 (scale {float(result.scale[index]):.3f})")

    masked = drawing.overlay_mask(image, result.hand_mask[index], MASK_COLOR, 0.5)
    box = mask_box_xyxy(result.hand_mask[index])
    if box is not None:
        cv2.rectangle(masked, box[:2], box[2:], BOX_COLOR, 1)
    axes[2].imshow(masked)
    axes[2].set_title("hand mask" if found else "hand mask (empty)")
    for ax in axes:
        ax.set_axis_off()

    drawing.plot_skeleton_3d(
        ax3d, result.keypoints_xyz[index], title="3D (normalised, root-relative)"
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
