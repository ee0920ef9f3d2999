"""hand3d_tf.geometry against the original's reference values and geometric properties."""

import numpy as np
import pytest

from hand3d_tf import geometry as g
from tests.helpers import reference_cases


@pytest.fixture(scope="module")
def ref():
    return reference_cases("geometry_eval_cases.npz")


@pytest.fixture(scope="module")
def hands():
    """Random root-relative point sets [64, 21, 3] in metres (not hand-shaped on purpose)."""
    rng = np.random.default_rng(0)
    xyz = rng.normal(scale=0.05, size=(64, 21, 3))
    return xyz - xyz[:, :1]


def test_canonical_frame_matches_original(ref):
    canonical, rot_mat = g.canonical_frame(ref["xyz"])
    np.testing.assert_allclose(canonical, ref["canonical"], atol=1e-6)
    np.testing.assert_allclose(rot_mat, ref["rot_mat"], atol=2e-6)


def test_flip_matches_original(ref):
    flipped = g.flip_right_hand(ref["canonical"], ref["is_right"])
    np.testing.assert_allclose(flipped, ref["canonical_flipped"], atol=0)


def test_bone_relative_matches_original(ref):
    # The original works in float32 through chained 4x4 matrices: ~2e-5 rad drift.
    np.testing.assert_allclose(g.bone_relative(ref["xyz"]), ref["bone_rel"], atol=5e-5)
    np.testing.assert_allclose(
        g.bone_relative_inverse(ref["bone_rel"]), ref["bone_rel_inv"], atol=1e-6
    )


def test_canonical_frame_properties(hands):
    canonical, rot = g.canonical_frame(hands)
    dist12 = np.linalg.norm(hands[:, 12], axis=-1)
    # Keypoint 12 on the -y axis at its distance from the root. The 1e-8 atan2 guard, kept
    # from the original, tilts the angles by ~1e-8 / |coordinate|: hence 1e-7, not 1e-12.
    np.testing.assert_allclose(canonical[:, 12, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(canonical[:, 12, 2], 0.0, atol=1e-7)
    np.testing.assert_allclose(canonical[:, 12, 1], -dist12, rtol=1e-9)
    # Keypoint 20 in the xy-plane with x > 0.
    np.testing.assert_allclose(canonical[:, 20, 2], 0.0, atol=1e-7)
    assert np.all(canonical[:, 20, 0] > 0)
    # Orthonormal, det +1, and rotating back gives the input.
    np.testing.assert_allclose(
        rot @ np.swapaxes(rot, 1, 2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(canonical @ np.swapaxes(rot, 1, 2), hands, atol=1e-12)
    # Target R_gt = M.T: xyz = canonical @ R_gt; single-hand input gives unbatched output.
    np.testing.assert_allclose(canonical @ g.canonical_rotation_target(rot), hands, atol=1e-12)
    can0, rot0 = g.canonical_frame(hands[0])
    assert can0.shape == (21, 3) and rot0.shape == (3, 3)
    np.testing.assert_allclose(can0, canonical[0])


def test_canonical_frame_subtracts_root(hands):
    shifted = hands + np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(
        g.canonical_frame(shifted)[0], g.canonical_frame(hands)[0], atol=1e-12
    )


def test_flip_is_involution_and_only_touches_right_z(hands):
    is_right = np.arange(len(hands)) % 3 == 0
    once = g.flip_right_hand(hands, is_right)
    np.testing.assert_array_equal(g.flip_right_hand(once, is_right), hands)
    np.testing.assert_array_equal(once[~is_right], hands[~is_right])
    np.testing.assert_array_equal(once[is_right, :, :2], hands[is_right, :, :2])
    np.testing.assert_array_equal(once[is_right, :, 2], -hands[is_right, :, 2])


def test_lift_inverts_canonical_pipeline(hands):
    is_right = np.arange(len(hands)) % 2 == 1
    normed, _ = g.normalize(hands)
    canonical, rot = g.canonical_frame(normed)
    target = g.flip_right_hand(canonical, is_right)  # what PosePrior is trained to output
    lifted = g.lift_to_xyz(target, g.canonical_rotation_target(rot), is_right)
    np.testing.assert_allclose(lifted, normed, atol=1e-10)


def test_rotation_from_axis_angle_against_rotvec():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(1)
    u = rng.normal(size=(32, 3))
    rot = g.rotation_from_axis_angle(u)
    # theta = sqrt(|u|^2 + 1e-8): differs from the exact rotation by ~1e-8 / |u|.
    np.testing.assert_allclose(rot, Rotation.from_rotvec(u).as_matrix(), atol=1e-7)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(g.rotation_from_axis_angle(np.zeros(3)), np.eye(3), atol=1e-12)
    # lift_to_xyz with u equals an explicit flip + row-vector rotation.
    can = rng.normal(size=(32, 21, 3))
    is_right = rng.random(32) > 0.5
    expected = g.flip_right_hand(can, is_right) @ rot
    np.testing.assert_allclose(g.lift_to_xyz(can, u, is_right), expected, atol=1e-12)


def test_rotation_rows_match_facts():
    # docs/original.md §3 row 1 = (c + x^2 C, xyC - zs, xzC + ys) for a hand-picked u = (0, 0, pi/2).
    rot = g.rotation_from_axis_angle(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(rot, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-8)


def test_bone_relative_round_trip(hands):
    local = g.bone_relative(hands)
    np.testing.assert_allclose(g.bone_relative_inverse(local), hands, atol=1e-6)
    # Lengths are the bone lengths of the kinematic chain.
    np.testing.assert_allclose(local[:, 3, 0], np.linalg.norm(hands[:, 3] - hands[:, 4], axis=-1))
    np.testing.assert_allclose(local[:, 8, 0], np.linalg.norm(hands[:, 8], axis=-1))


def test_normalize_round_trip(hands):
    absolute = hands + np.array([0.1, 0.2, 0.6])
    normed, scale = g.normalize(absolute)
    np.testing.assert_allclose(scale, np.linalg.norm(hands[:, 12] - hands[:, 11], axis=-1))
    np.testing.assert_allclose(np.linalg.norm(normed[:, 12] - normed[:, 11], axis=-1), 1.0)
    np.testing.assert_allclose(normed[:, 0], 0.0)
    np.testing.assert_allclose(g.denormalize(normed, scale, absolute[:, 0]), absolute, atol=1e-12)
    np.testing.assert_allclose(g.bone_length(absolute), scale)


@pytest.mark.parametrize(
    "call",
    [
        lambda: g.canonical_frame(np.zeros((4, 20, 3))),
        lambda: g.normalize(np.zeros((21, 2))),
        lambda: g.normalize(np.zeros((21, 3)), root=21),
        lambda: g.rotation_from_axis_angle(np.zeros((2, 4))),
        lambda: g.lift_to_xyz(np.zeros((2, 21, 3)), np.zeros((3, 3, 3)), False),
    ],
)
def test_bad_shapes_raise(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: g.canonical_frame(np.zeros((4, 20, 3))),
         r"^xyz must have shape \[21, 3\] or \[B, 21, 3\]; received \(4, 20, 3\)$"),
        (lambda: g.normalize(np.zeros((21, 2))), r"^xyz must have shape .* received \(21, 2\)$"),
        (lambda: g.bone_length(np.zeros(21)), r"^xyz must have shape .* received \(21,\)$"),
        (lambda: g.bone_relative(np.zeros((1, 21, 4))), r"^xyz must have shape"),
        (lambda: g.bone_relative_inverse(np.zeros((21, 2))), r"^local must have shape"),
        (lambda: g.denormalize(np.zeros((2, 3)), 1.0), r"^xyz_normed must have shape"),
        (lambda: g.flip_right_hand(np.zeros((3,)), True), r"^xyz_canonical must have shape"),
        (lambda: g.lift_to_xyz(np.zeros((2, 3)), np.zeros(3), False),
         r"^xyz_canonical must have shape"),
        (lambda: g.normalize(np.zeros((21, 3)), root=21),
         r"^root must be a keypoint index in \[0, 20\]; received 21$"),
        (lambda: g.normalize(np.zeros((21, 3)), root=-1), r"received -1$"),
        (lambda: g.rotation_from_axis_angle(np.zeros((2, 4))),
         r"^u must have shape \[3\] or \[B, 3\]; received \(2, 4\)$"),
        (lambda: g.rotation_from_axis_angle(np.zeros((1, 2, 3))), r"received \(1, 2, 3\)$"),
        (lambda: g.lift_to_xyz(np.zeros((2, 21, 3)), np.zeros((2, 2, 3)), False),
         r"^u_or_rot must be axis-angle \[B, 3\] or a matrix \[B, 3, 3\]; "
         r"received \(2, 2, 3\)$"),
        (lambda: g.lift_to_xyz(np.zeros((2, 21, 3)), np.zeros((4, 3, 3)), False),
         r"^batch of u_or_rot \(4\) does not match xyz_canonical \(2\)$"),
    ],
)  # fmt: skip
def test_errors_name_the_argument_and_the_shape(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_single_hands_give_single_results(hands):
    one = hands[3] + np.array([0.1, 0.0, 0.5])
    normed, scale = g.normalize(one)
    normed_b, scale_b = g.normalize(one[None])
    assert normed.shape == (21, 3) and np.ndim(scale) == 0 and scale == scale_b[0]
    np.testing.assert_array_equal(normed, normed_b[0])
    assert np.ndim(g.bone_length(one)) == 0 and g.bone_length(one) == scale
    for func in (lambda x: g.canonical_frame(x)[0], g.bone_relative, g.bone_relative_inverse,
                 lambda x: g.denormalize(x, 2.0, np.ones(3)),
                 lambda x: g.flip_right_hand(x, True),
                 lambda x: g.lift_to_xyz(x, np.array([0.1, 0.2, 0.3]), True)):  # fmt: skip
        single, batch = func(normed), func(normed[None])
        assert single.shape == (21, 3) and batch.shape == (1, 21, 3)
        np.testing.assert_array_equal(single, batch[0])
    assert g.rotation_from_axis_angle(np.array([0.1, 0.2, 0.3])).shape == (3, 3)


def test_inputs_of_other_dtypes_are_computed_in_float64(hands):
    x32 = (hands[:4] + np.array([0.1, 0.2, 0.6])).astype(np.float32)
    x64 = x32.astype(np.float64)
    for func in (lambda x: g.normalize(x)[0], lambda x: g.canonical_frame(x)[0],
                 g.bone_relative, lambda x: g.denormalize(x, np.float32(0.3), x[:, 0]),
                 lambda x: g.flip_right_hand(x, [True, False, True, False]),
                 lambda x: g.lift_to_xyz(x, x[:, 1], False)):  # fmt: skip
        got, want = func(x32), func(x64)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
    u32 = np.array([[0.3, -0.2, 0.1]], np.float32)
    np.testing.assert_array_equal(
        g.rotation_from_axis_angle(u32), g.rotation_from_axis_angle(u32.astype(np.float64))
    )
    y32, x32 = np.float32([0.3, -2.0, 1.0]), np.float32([1.0, -0.7, 3.0])
    got = g.atan2_guarded(y32, x32)  # x + 1e-8 must not be rounded to float32
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, g.atan2_guarded(y32.astype(float), x32.astype(float)))
    ints = np.arange(-3, 3)
    np.testing.assert_array_equal(g.atan2_guarded(ints, ints[::-1]),
                                  g.atan2_guarded(ints.astype(float), ints[::-1].astype(float)))  # fmt: skip


def test_atan2_guarded_quadrants_and_the_guard():
    y = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 2.0, -2.0, 0.5])
    x = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -0.5, -0.5, 3.0])
    np.testing.assert_allclose(g.atan2_guarded(y, x), np.arctan2(y, x), rtol=1e-7, atol=1e-7)
    assert g.atan2_guarded(0.0, -1.0) == pytest.approx(np.pi)  # y = 0 on the left: +pi
    # At x = 0 the guard (+1e-8) decides: the right half plane.
    assert g.atan2_guarded(0.0, 0.0) == 0.0
    assert g.atan2_guarded(1.0, 0.0) == pytest.approx(np.pi / 2)
    assert g.atan2_guarded(-1.0, 0.0) == pytest.approx(-np.pi / 2)
    # x = -1e-8 exactly: the guarded denominator is 0, still the right half plane.
    assert g.atan2_guarded(1.0, -g.ATAN2_GUARD) == pytest.approx(np.pi / 2)
    assert g.atan2_guarded(1.0, -2 * g.ATAN2_GUARD) == pytest.approx(np.pi / 2, abs=1e-7)
    assert g.atan2_guarded(1.0, -2 * g.ATAN2_GUARD) > np.pi / 2


def test_bone_relative_round_trip_with_the_root_away_from_the_origin(hands):
    moved = hands[:8] + np.array([0.3, -0.2, 0.7])
    np.testing.assert_allclose(g.bone_relative_inverse(g.bone_relative(moved)), moved,
                               atol=1e-9)  # fmt: skip


def test_rotation_batch_of_one_is_broadcast_and_flags_accept_columns(hands):
    canonical = hands[:3]
    u = np.array([[0.2, -0.4, 0.1]])
    rot = g.rotation_from_axis_angle(u)
    got = g.lift_to_xyz(canonical, u, is_right=np.array([[0], [1], [1]]))  # [B, 1] ints
    want = g.flip_right_hand(canonical, [False, True, True]) @ rot[0]
    np.testing.assert_allclose(got, want, atol=1e-15)
    np.testing.assert_array_equal(g.lift_to_xyz(canonical, rot, [False, True, True]), got)
    # Scales of shape [B, 1] (a column, as the original's crop scale) work too.
    np.testing.assert_array_equal(g.denormalize(canonical, np.array([[2.0], [3.0], [4.0]])),
                                  canonical * np.array([2.0, 3.0, 4.0])[:, None, None])  # fmt: skip
