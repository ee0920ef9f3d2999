"""hand3d_tf.drawing: colours per finger, visibility handling, mask blending, 3-D plot."""

import numpy as np
import pytest

from hand3d_tf import drawing
from hand3d_tf import keypoints as kp


def _star_hand(centre=(100.0, 100.0), step=20.0):
    """uv [21, 2]: root at the centre, finger f along angle 72 f degrees, base 20 px out."""
    uv = np.zeros((21, 2))
    uv[0] = centre
    for f, finger in enumerate(kp.FINGERS.values()):
        direction = np.array([np.cos(np.radians(72 * f)), np.sin(np.radians(72 * f))])
        for i, k in enumerate(reversed(finger)):  # base -> tip
            uv[k] = np.asarray(centre) + (i + 1) * step * direction
    return uv


def _color255(finger):
    return np.round(255 * np.asarray(kp.FINGER_COLORS[finger])).astype(int)


def test_draw_skeleton_colours_each_finger():
    image = np.zeros((200, 200, 3), np.uint8)
    uv = _star_hand()
    out = drawing.draw_skeleton(image, uv, thickness=3)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert image.max() == 0, "input image must not be modified"
    for f, finger in enumerate(kp.FINGERS.values()):
        # midpoint of the PIP -> DIP edge (joints 2 and 3 from the base), away from the dots
        mid = 0.5 * (uv[finger[1]] + uv[finger[2]])
        pixel = out[int(round(mid[1])), int(round(mid[0]))].astype(int)
        np.testing.assert_allclose(pixel, _color255(f), atol=2, err_msg=f"finger {f}")
    # Background far away from the hand stays black.
    assert out[5, 5].max() == 0


def test_draw_skeleton_invisible_points():
    image = np.zeros((200, 200, 3), np.uint8)
    uv = _star_hand()
    visible = np.ones(21, bool)
    visible[[1, 2]] = False  # thumb tip and DIP
    out = drawing.draw_skeleton(image, uv, visible=visible, thickness=3)
    # Edge 2 -> 1: both ends invisible -> not drawn at all.
    mid = 0.5 * (uv[1] + uv[2])
    assert out[int(round(mid[1])), int(round(mid[0]))].max() == 0
    # Edge 3 -> 2: one end invisible -> dashed: some but not all pixels along it are drawn.
    ts = np.linspace(0.25, 0.75, 41)
    pts = uv[3][None] + ts[:, None] * (uv[2] - uv[3])[None]
    drawn = np.array([out[int(round(y)), int(round(x))].max() > 100 for x, y in pts])
    assert 0.2 < drawn.mean() < 0.8


def test_draw_skeleton_skips_non_finite_points_only():
    image = np.zeros((200, 200, 3), np.uint8)
    uv = _star_hand()
    full = drawing.draw_skeleton(image, uv, thickness=3)
    tip = 5  # index tip: only the edge 6 -> 5 and the dot at 5 touch it
    uv[tip] = np.nan
    out = drawing.draw_skeleton(image, uv, thickness=3)  # no OpenCV error
    a, b = _star_hand()[[6, tip]]
    mid = np.round(0.5 * (a + b)).astype(int)
    assert full[mid[1], mid[0]].max() > 100 and out[mid[1], mid[0]].max() == 0
    tip_px = np.round(b).astype(int)
    assert full[tip_px[1], tip_px[0]].max() > 100 and out[tip_px[1], tip_px[0]].max() == 0
    dot6 = np.round(a).astype(int)
    np.testing.assert_array_equal(out[dot6[1], dot6[0]], full[dot6[1], dot6[0]])
    # Everything farther than the line width + dot radius from that edge is unchanged.
    rows, cols = np.mgrid[:200, :200]
    t = np.clip(((cols - a[0]) * (b[0] - a[0]) + (rows - a[1]) * (b[1] - a[1]))
                / np.sum((b - a) ** 2), 0, 1)  # fmt: skip
    dist = np.hypot(cols - (a[0] + t * (b[0] - a[0])), rows - (a[1] + t * (b[1] - a[1])))
    far = dist > 3 + 4 + 2
    np.testing.assert_array_equal(out[far], full[far])
    assert (out != full).any()
    # inf counts as non-finite too.
    uv[tip] = (np.inf, 10.0)
    np.testing.assert_array_equal(drawing.draw_skeleton(image, uv, thickness=3), out)


def test_draw_skeleton_rejects_bad_input():
    with pytest.raises(ValueError, match="uv"):
        drawing.draw_skeleton(np.zeros((10, 10, 3), np.uint8), np.zeros((20, 2)))
    with pytest.raises(ValueError, match="uint8"):
        drawing.draw_skeleton(np.zeros((10, 10, 3), np.float32), np.zeros((21, 2)))


def test_overlay_mask_blends_exactly():
    image = np.full((4, 5, 3), 100, np.uint8)
    mask = np.zeros((4, 5), np.int32)
    mask[1, 2] = 18  # a class id counts as set
    out = drawing.overlay_mask(image, mask, color=(1.0, 0.0, 0.5), alpha=0.25)
    # 0.75 * 100 + 0.25 * (255, 0, 127.5) = (138.75, 75, 106.875) -> rounded
    np.testing.assert_array_equal(out[1, 2], [139, 75, 107])
    np.testing.assert_array_equal(np.delete(out.reshape(-1, 3), 7, axis=0), 100)
    with pytest.raises(ValueError, match="alpha"):
        drawing.overlay_mask(image, mask, alpha=1.5)
    with pytest.raises(ValueError, match="mask shape"):
        drawing.overlay_mask(image, np.zeros((5, 4)))


def test_plot_skeleton_3d_colours_and_equal_aspect():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    xyz = np.zeros((21, 3))
    xyz[:, 0] = np.linspace(0, 0.2, 21)  # long in x, flat in y and z
    drawing.plot_skeleton_3d(ax, xyz, title="hand")
    assert len(ax.lines) == len(kp.SKELETON_EDGES) == 20
    for line, finger in zip(ax.lines, kp.EDGE_FINGER):
        np.testing.assert_allclose(line.get_color(), kp.FINGER_COLORS[finger])
    spans = [np.diff(lim)[0] for lim in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
    np.testing.assert_allclose(spans, 0.2, rtol=1e-6)
    assert ax.get_title() == "hand"
