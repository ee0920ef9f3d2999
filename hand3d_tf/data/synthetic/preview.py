"""Preview contact sheet: samples with their labels drawn, and the view distribution's
histograms (roll, palm or back, off-axis angle) measured over many scenes. NumPy/OpenCV.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.synthetic import viewpoint
from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.render import project
from hand3d_tf.data.synthetic.sample import sample_rng
from hand3d_tf.data.synthetic.scenes import sample_scene

# Preview colours (RGB 0..1): left hand, right hand, person.
_PREVIEW_COLOURS = ((0.1, 0.9, 0.1), (0.2, 0.4, 1.0), (0.95, 0.85, 0.1))
_PANEL_BG, _BAR, _INK = (250, 250, 250), (70, 110, 190), (30, 30, 30)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def preview_tile(sample: dict) -> np.ndarray:
    """[S, 2S, 3] uint8: the colour image, and it with mask overlay and visible skeletons."""
    from hand3d_tf import drawing

    image, mask = sample["color"], sample["mask"]
    left = (mask >= kp.MASK_LEFT_FIRST) & (mask <= kp.MASK_LEFT_PALM)
    right = mask >= kp.MASK_RIGHT_FIRST
    annotated = image
    for sel, colour in zip((left, right, mask == kp.MASK_PERSON), _PREVIEW_COLOURS):
        annotated = drawing.overlay_mask(annotated, sel, colour, alpha=0.3)
    for hand in (kp.RHD_LEFT, kp.RHD_RIGHT):
        uv_vis = sample["uv_vis"][hand]
        visible = uv_vis[:, 2] > 0.5
        if visible.any():
            annotated = drawing.draw_skeleton(annotated, uv_vis[:, :2], visible, thickness=1)
    return np.concatenate([image, annotated], axis=1)


def view_statistics(config: SyntheticConfig, stream_seed: int, count: int) -> dict:
    """The main hand's view in samples 0..count-1 of a stream, measured from its keypoints.

    Only the scenes are drawn (a sample's scene comes first from its generator, so these are
    the dataset's own views). Returns roll_deg, off_axis_deg [count] float and palm,
    partial [count] bool.
    """
    stats = {"roll_deg": [], "off_axis_deg": [], "palm": [], "partial": []}
    for index in range(int(count)):
        scene = sample_scene(sample_rng(stream_seed, index), config)
        main = next(h for h in scene.hands if h.side == scene.main_side)
        stats["roll_deg"].append(viewpoint.measured_roll_deg(project(main.xyz, scene.K)))
        stats["off_axis_deg"].append(viewpoint.measured_off_axis_deg(main.xyz))
        stats["palm"].append(main.palm_towards_camera)
        stats["partial"].append(main.partial)
    return {k: np.asarray(v) for k, v in stats.items()}


def _histogram_panel(title, values, edges, width, height, labels=None, note="") -> np.ndarray:
    """[height, width, 3] uint8 bar chart of ``values`` over bins ``edges``."""
    panel = np.full((height, width, 3), _PANEL_BG, np.uint8)
    counts, _ = np.histogram(values, bins=edges)
    fractions = counts / max(len(values), 1)
    left, right, top, bottom = 50, width - 20, 60, height - 45
    cv2.putText(panel, title, (left, 30), _FONT, 0.7, _INK, 2, cv2.LINE_AA)
    if note:
        cv2.putText(panel, note, (left, 52), _FONT, 0.5, _INK, 1, cv2.LINE_AA)
    cv2.line(panel, (left, bottom), (right, bottom), _INK, 1)
    peak = max(float(fractions.max()), 1e-9)
    step = (right - left) / len(counts)
    for i, f in enumerate(fractions):
        x0, x1 = int(left + i * step + 1), int(left + (i + 1) * step - 1)
        y0 = int(bottom - f / peak * (bottom - top))
        cv2.rectangle(panel, (x0, y0), (max(x1, x0), bottom), _BAR, -1)
    ticks = labels or [(f"{edges[0]:g}", 0.0), (f"{edges[-1]:g}", 1.0)]
    for text, where in ticks:
        x = int(left + where * (right - left))
        cv2.putText(panel, text, (x - 12, bottom + 22), _FONT, 0.5, _INK, 1, cv2.LINE_AA)
    cv2.putText(panel, f"{peak:.0%}", (5, top + 5), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    return panel


def view_panels(stats: dict, width: int, height: int = 320) -> np.ndarray:
    """[height, width, 3] uint8: roll, palm/back and off-axis histograms side by side."""
    n = len(stats["roll_deg"])
    roll = np.asarray(stats["roll_deg"])
    third = width // 3
    within = float(np.mean(np.abs(roll) <= 90.0)) if n else 0.0
    roll_panel = _histogram_panel(
        f"roll from fingers-up (n={n})",
        roll,
        np.linspace(-180, 180, 37),
        third,
        height,
        [("-180", 0.0), ("-90", 0.25), ("0", 0.5), ("90", 0.75), ("180", 1.0)],
        f"within +-90 deg: {within:.0%}",
    )
    palm = np.asarray(stats["palm"], float)
    side_panel = _histogram_panel(
        "palm / back towards camera",
        palm,
        np.array([-0.5, 0.5, 1.5]),
        third,
        height,
        [("back", 0.25), ("palm", 0.75)],
        f"palm: {palm.mean() if n else 0.0:.0%}",
    )
    off = np.asarray(stats["off_axis_deg"])
    partial = np.asarray(stats["partial"], bool)
    centred = off[~partial] if (~partial).any() else np.zeros(1)
    top = max(45.0, float(np.ceil(off.max() / 5.0) * 5.0)) if n else 45.0
    off_panel = _histogram_panel(
        "off-axis angle of the palm centre (deg)",
        off,
        np.linspace(0, top, 31),
        width - 2 * third,
        height,
        None,
        f"median {np.median(centred):.1f}, 90 % below {np.percentile(centred, 90):.1f}; "
        f"cut by a border: {partial.mean() if n else 0.0:.0%}",
    )
    return np.concatenate([roll_panel, side_panel, off_panel], axis=1)


def write_preview(path, samples, columns: int = 4, stats: dict | None = None) -> pathlib.Path:
    """Contact sheet PNG of samples (each: image | overlay), ``columns`` pairs per row, and
    below them the view histograms of ``stats`` (view_statistics) when given."""
    tiles = [preview_tile(s) for s in samples]
    if not tiles:
        raise ValueError("write_preview needs at least one sample")
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    if stats is not None:
        rows.append(view_panels(stats, rows[0].shape[1]))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.concatenate(rows, axis=0)[..., ::-1]):
        raise OSError(f"OpenCV could not write the preview {path}")
    return path
