import numpy as np
import pytest

from hand3d_tf import keypoints as kp


def test_names_and_fingers_cover_21_points_tip_to_base():
    assert len(kp.KEYPOINT_NAMES) == kp.NUM_KEYPOINTS == 21
    assert kp.FINGERS["thumb"] == (1, 2, 3, 4)
    assert kp.FINGERS["little"] == (17, 18, 19, 20)
    for name, idx in kp.FINGERS.items():
        assert kp.KEYPOINT_NAMES[idx[0]] == f"{name}_tip"
        assert kp.KEYPOINT_NAMES[idx[-1]] == f"{name}_mcp"


def test_skeleton_is_the_original_chain():
    chains = [
        [0, 4, 3, 2, 1],
        [0, 8, 7, 6, 5],
        [0, 12, 11, 10, 9],
        [0, 16, 15, 14, 13],
        [0, 20, 19, 18, 17],
    ]
    expected = [(c[i], c[i + 1]) for c in chains for i in range(4)]
    assert list(kp.SKELETON_EDGES) == expected
    assert len(kp.EDGE_FINGER) == 20


def test_stb_reordering_maps_palm_and_reverses_the_rest():
    stb = np.arange(21)
    rhd = stb[kp.STB_TO_RHD]
    assert rhd[0] == 0 and rhd[1] == 20 and rhd[20] == 1


def test_palm_centre_and_visibility():
    pts = np.zeros((2, 21, 2))
    pts[:, 0] = [0, 0]
    pts[:, 12] = [10, 20]
    vis = np.zeros((2, 21), bool)
    vis[0, 12] = True
    out, v = kp.wrist_to_palm(pts, vis)
    np.testing.assert_allclose(out[:, 0], [[5, 10], [5, 10]])
    assert v[0, 0] and not v[1, 0]
    assert pts[0, 0, 0] == 0  # input untouched


def test_hand_side_one_hot_rejects_unknown():
    np.testing.assert_array_equal(kp.hand_side_one_hot("left"), [1, 0])
    with pytest.raises(ValueError, match="'up'"):
        kp.hand_side_one_hot("up")


def test_hand_side_one_hot_values_and_dtype():
    for side, want in (("left", [1.0, 0.0]), ("right", [0.0, 1.0])):
        got = kp.hand_side_one_hot(side)
        assert got.dtype == np.float32 and got.shape == (2,)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"must be one of \('left', 'right'\); received 'up'"):
        kp.hand_side_one_hot("up")


def test_palm_visibility_is_wrist_or_middle_mcp():
    pts = np.arange(4 * 21 * 3, dtype=np.float64).reshape(4, 21, 3)
    vis = np.zeros((4, 21), np.int64)  # 0/1 integers are accepted
    vis[0, 0] = 1  # wrist only
    vis[1, 12] = 1  # middle MCP only
    vis[2, [0, 12]] = 1  # both
    before = vis.copy()
    out, v = kp.wrist_to_palm(pts, vis)
    assert v.dtype == bool and v[:, 0].tolist() == [True, True, True, False]
    np.testing.assert_array_equal(v[:, 1:], vis[:, 1:].astype(bool))
    np.testing.assert_array_equal(out[:, 0], 0.5 * (pts[:, 0] + pts[:, 12]))
    np.testing.assert_array_equal(out[:, 1:], pts[:, 1:])
    # Copies: neither input changes, also for boolean visibility (no conversion needed).
    np.testing.assert_array_equal(vis, before)
    bool_vis = vis.astype(bool)
    _, v2 = kp.wrist_to_palm(pts, bool_vis)
    v2[:] = True
    assert not bool_vis[3].any()
    assert kp.wrist_to_palm(pts)[1] is None
