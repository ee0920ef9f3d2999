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
