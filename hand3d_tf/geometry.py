"""Hand geometry in NumPy: normalisation, canonical frame, bone-relative coords, rotations.

Everything here follows docs/original.md §3 and §6 and is TF-free (the on-device glue uses it). Arrays
are batched ``[B, 21, 3]``; a single hand ``[21, 3]`` is accepted too and the result then has
no batch axis. Coordinates are row vectors: a point ``p`` is rotated as ``p @ R``.

Frames and names used below
- ``xyz``: camera-frame keypoints (metres), RHD order (``hand3d_tf.keypoints``).
- ``xyz_normed``: root-relative and divided by the bone length ``||X12 - X11||`` (docs/original.md §6).
- ``xyz_canonical``: ``xyz_normed @ M`` with ``M`` from :func:`canonical_frame`; keypoint 12 lies
  on the -y axis and keypoint 20 in the xy-plane with x > 0.
- The lifting network's rotation target is ``R_gt = M.T`` (:func:`canonical_rotation_target`),
  so that ``xyz_normed = flip(xyz_canonical) @ R_gt`` (:func:`lift_to_xyz`).
"""

from __future__ import annotations

import numpy as np

from hand3d_tf import keypoints as kp

# Guard added to the denominator of the original's hand-made atan2 (docs/original.md §6).
ATAN2_GUARD = 1e-8
# Added to |u|^2 before the square root in the axis-angle rotation (docs/original.md §3).
AXIS_ANGLE_EPS = 1e-8


def _as_batch(points: np.ndarray, name: str, last: int = 3) -> tuple[np.ndarray, bool]:
    """Return (points [B, 21, last] float64, was_single) or raise naming the bad shape."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 2:
        arr, single = arr[None], True
    else:
        single = False
    if arr.ndim != 3 or arr.shape[1:] != (kp.NUM_KEYPOINTS, last):
        raise ValueError(
            f"{name} must have shape [21, {last}] or [B, 21, {last}]; received {np.shape(points)}"
        )
    return arr, single


def _unbatch(arr: np.ndarray, single: bool) -> np.ndarray:
    return arr[0] if single else arr


def atan2_guarded(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """atan2 as the original computes it: atan(y / (x + 1e-8)) plus quadrant corrections.

    Result in (-pi, pi]. It equals ``np.arctan2`` except within ~1e-8 of x = 0, where the
    guard decides the quadrant (docs/original.md §6); kept so canonical frames match bit for bit.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    denom = x + ATAN2_GUARD
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.arctan(y / denom)
    left_half = denom < 0
    return np.where(left_half, np.where(y >= 0, base + np.pi, base - np.pi), base)


# Elementary rotations of docs/original.md §6 for row vectors (p @ R), batched over the angle.
def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([c, s, z], -1), np.stack([-s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([o, z, z], -1), np.stack([z, c, s], -1), np.stack([z, -s, c], -1)], -2
    )


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([c, z, -s], -1), np.stack([z, o, z], -1), np.stack([s, z, c], -1)], -2
    )


def bone_length(xyz: np.ndarray) -> np.ndarray:
    """Length of the scale bone ``||X12 - X11||`` (docs/original.md §6): [B] (or scalar for [21, 3])."""
    arr, single = _as_batch(xyz, "xyz")
    a, b = kp.SCALE_BONE
    length = np.linalg.norm(arr[:, a] - arr[:, b], axis=-1)
    return length[0] if single else length


def normalize(xyz: np.ndarray, root: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative, scale-normalised keypoints (docs/original.md §6).

    xyz: [B, 21, 3] or [21, 3] (any length unit). root: index of the root keypoint.
    Returns (xyz_normed, scale) with xyz_normed = (xyz - xyz[root]) / scale and
    scale = ||X12 - X11|| [B] (scalar for a single hand), in the unit of ``xyz``.
    A zero-length bone gives non-finite output (as the original) rather than an exception.
    """
    arr, single = _as_batch(xyz, "xyz")
    if not 0 <= int(root) < kp.NUM_KEYPOINTS:
        raise ValueError(f"root must be a keypoint index in [0, 20]; received {root!r}")
    scale = np.linalg.norm(arr[:, kp.SCALE_BONE[0]] - arr[:, kp.SCALE_BONE[1]], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = (arr - arr[:, int(root) : int(root) + 1]) / scale[:, None, None]
    return _unbatch(normed, single), (scale[0] if single else scale)


def denormalize(
    xyz_normed: np.ndarray, scale: np.ndarray, root_xyz: np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`normalize`: xyz_normed * scale (+ root_xyz [B, 3] if given)."""
    arr, single = _as_batch(xyz_normed, "xyz_normed")
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), (arr.shape[0],))
    out = arr * scale[:, None, None]
    if root_xyz is not None:
        out = out + np.asarray(root_xyz, dtype=np.float64).reshape(-1, 1, 3)
    return _unbatch(out, single)


def canonical_frame(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical frame of docs/original.md §6: returns (xyz_canonical, rot_mat) with canonical = xyz @ rot_mat.

    xyz: [B, 21, 3] or [21, 3], normally ``xyz_normed``; keypoint 0 is subtracted again (as
    the original does), no scaling happens here. rot_mat [B, 3, 3] is M = Rz(alpha) Rx(beta + pi)
    Ry(gamma), orthonormal with det +1, so ``xyz_canonical @ rot_mat.T`` gives the
    root-relative input back. After the transform keypoint 12 = (0, -|X12|, 0) and keypoint 20
    has z = 0 and x > 0. The training target is ``canonical_rotation_target(rot_mat)`` = M.T.
    """
    arr, single = _as_batch(xyz, "xyz")
    rel = arr - arr[:, :1]
    # Step 1: rotate about z so keypoint 12 lies in the y-z plane with y > 0.
    p = rel[:, 12]
    m_z = _rot_z(atan2_guarded(p[:, 0], p[:, 1]))
    x1 = rel @ m_z
    # Step 2: rotate about x so keypoint 12 lands on the -y axis (beta + pi, docs/original.md §6).
    p = x1[:, 12]
    m_x = _rot_x(-atan2_guarded(p[:, 2], p[:, 1]) + np.pi)
    x2 = x1 @ m_x
    # Step 3: rotate about y so keypoint 20 has z = 0 and x > 0.
    p = x2[:, 20]
    m_y = _rot_y(atan2_guarded(p[:, 2], p[:, 0]))
    canonical = x2 @ m_y
    rot_mat = m_z @ m_x @ m_y
    return _unbatch(canonical, single), _unbatch(rot_mat, single)


def canonical_rotation_target(rot_mat: np.ndarray) -> np.ndarray:
    """Rotation target R_gt = M^-1 = M.T of the lifting network (docs/original.md §6): [..., 3, 3]."""
    return np.swapaxes(np.asarray(rot_mat), -1, -2)


def flip_right_hand(xyz_canonical: np.ndarray, is_right) -> np.ndarray:
    """Negate canonical z where ``is_right`` (docs/original.md §6): mirrors right hands into left ones.

    xyz_canonical: [B, 21, 3] or [21, 3]; is_right: bool [B] or scalar. An involution.
    """
    arr, single = _as_batch(xyz_canonical, "xyz_canonical")
    flags = np.broadcast_to(np.asarray(is_right, dtype=bool).reshape(-1), (arr.shape[0],))
    out = arr.copy()
    out[flags, :, 2] *= -1.0
    return _unbatch(out, single)


def rotation_from_axis_angle(u: np.ndarray) -> np.ndarray:
    """Rodrigues matrix from the axis-angle vector u [B, 3] (or [3]) -> [B, 3, 3] (docs/original.md §3).

    theta = sqrt(|u|^2 + 1e-8), axis = u / theta; rows are those of the column-vector
    Rodrigues matrix, and the network applies it to row vectors (``p @ R``), as the original.
    """
    arr = np.asarray(u, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise ValueError(f"u must have shape [3] or [B, 3]; received {arr.shape}")
    single = arr.ndim == 1
    u = arr.reshape(-1, 3)
    theta = np.sqrt(np.sum(u * u, axis=-1) + AXIS_ANGLE_EPS)
    x, y, z = (u / theta[:, None]).T
    c, s = np.cos(theta), np.sin(theta)
    t = 1.0 - c
    rot = np.stack(
        [
            np.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], -1),
            np.stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], -1),
            np.stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1),
        ],
        -2,
    )
    return rot[0] if single else rot


def lift_to_xyz(xyz_canonical: np.ndarray, u_or_rot: np.ndarray, is_right) -> np.ndarray:
    """Assemble normalised xyz from canonical coords and a rotation ("proposed", docs/original.md §3).

    xyz_canonical: [B, 21, 3] PosePrior output; u_or_rot: axis-angle [B, 3] or matrix
    [B, 3, 3] (R, i.e. M.T); is_right: bool [B]. Returns flip(xyz_canonical) @ R [B, 21, 3],
    root-relative and scale-normalised in camera axes.
    """
    arr, single = _as_batch(xyz_canonical, "xyz_canonical")
    rot = np.asarray(u_or_rot, dtype=np.float64)
    if rot.shape[-2:] == (3, 3):
        rot = rot.reshape(-1, 3, 3)
    elif rot.shape[-1:] == (3,) and rot.ndim <= 2:
        rot = rotation_from_axis_angle(rot.reshape(-1, 3))
    else:
        raise ValueError(
            f"u_or_rot must be axis-angle [B, 3] or a matrix [B, 3, 3]; received {np.shape(u_or_rot)}"
        )
    if rot.shape[0] not in (1, arr.shape[0]):
        raise ValueError(
            f"batch of u_or_rot ({rot.shape[0]}) does not match xyz_canonical ({arr.shape[0]})"
        )
    out = flip_right_hand(arr, is_right) @ rot
    return _unbatch(out, single)


# --- bone-relative ("local") coordinates: column vectors, 4x4 homogeneous (docs/original.md §6) ---

# Traversal order: root, then each finger base -> tip (docs/original.md §6).
BONE_ORDER = (0,) + tuple(k for base in (4, 8, 12, 16, 20) for k in range(base, base - 4, -1))


def _bone_parent(k: int) -> int:
    """Parent for the local transform: -1 (root frame) for 0 and the finger bases."""
    return -1 if k == 0 or k % 4 == 0 else k + 1


def _h_rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    m = np.tile(np.eye(4), (a.shape[0], 1, 1))
    m[:, 1, 1], m[:, 1, 2], m[:, 2, 1], m[:, 2, 2] = c, -s, s, c
    return m


def _h_rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    m = np.tile(np.eye(4), (a.shape[0], 1, 1))
    m[:, 0, 0], m[:, 0, 2], m[:, 2, 0], m[:, 2, 2] = c, s, -s, c
    return m


def _h_trans_z(t: np.ndarray) -> np.ndarray:
    m = np.tile(np.eye(4), (t.shape[0], 1, 1))
    m[:, 2, 3] = t
    return m


def _bone_frame(length, angle_x, angle_y, parent_frame):
    """T_k = Tz(-L) Rx(-angle_x) Ry(-angle_y) T_parent, [B, 4, 4]."""
    return _h_trans_z(-length) @ _h_rot_x(-angle_x) @ _h_rot_y(-angle_y) @ parent_frame


def bone_relative(xyz: np.ndarray) -> np.ndarray:
    """Bone-relative coordinates (length, angle_x, angle_y) per keypoint (docs/original.md §6).

    xyz: [B, 21, 3] or [21, 3], root-relative (normally ``xyz_normed``). Angles in radians,
    lengths in the unit of ``xyz``. Inverse: :func:`bone_relative_inverse`.
    """
    arr, single = _as_batch(xyz, "xyz")
    batch = arr.shape[0]
    homog = np.concatenate([arr, np.ones((batch, kp.NUM_KEYPOINTS, 1))], -1)[..., None]
    frames = {-1: np.tile(np.eye(4), (batch, 1, 1))}
    out = np.zeros_like(arr)
    for k in BONE_ORDER:
        parent = _bone_parent(k)
        frame_p = frames[parent]
        if parent < 0:
            d = arr[:, k]  # root frame: the parent sits at the origin
        else:
            d = (frame_p @ homog[:, k])[:, :3, 0] - (frame_p @ homog[:, parent])[:, :3, 0]
        length = np.linalg.norm(d, axis=-1)
        angle_y = np.arctan2(d[:, 0], d[:, 2])
        d_rot = (_h_rot_y(-angle_y)[:, :3, :3] @ d[..., None])[..., 0]
        angle_x = np.arctan2(-d_rot[:, 1], d_rot[:, 2])
        frames[k] = _bone_frame(length, angle_x, angle_y, frame_p)
        out[:, k] = np.stack([length, angle_x, angle_y], -1)
    return _unbatch(out, single)


def bone_relative_inverse(local: np.ndarray) -> np.ndarray:
    """Inverse of :func:`bone_relative`: (length, angle_x, angle_y) [B, 21, 3] -> xyz."""
    arr, single = _as_batch(local, "local")
    batch = arr.shape[0]
    frames = {-1: np.tile(np.eye(4), (batch, 1, 1))}
    out = np.zeros_like(arr)
    origin = np.array([0.0, 0.0, 0.0, 1.0])
    for k in BONE_ORDER:
        frame = _bone_frame(arr[:, k, 0], arr[:, k, 1], arr[:, k, 2], frames[_bone_parent(k)])
        frames[k] = frame
        out[:, k] = (np.linalg.inv(frame) @ origin)[:, :3]
    return _unbatch(out, single)
