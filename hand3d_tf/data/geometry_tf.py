"""TensorFlow versions of the hand geometry the input pipelines need (docs/original.md §6).

Same conventions and results as the NumPy reference ``hand3d_tf.geometry`` (tested equal):
row vectors rotated as ``p @ R`` for the canonical frame, column vectors for the
bone-relative frames. Inputs are float32 ``[..., 21, 3]`` with any leading batch axes;
everything is graph-friendly (no Python control flow on values), so the functions run
inside ``tf.data`` maps.
"""

from __future__ import annotations

import math

import tensorflow as tf

from hand3d_tf import keypoints as kp

# Guard of the original's hand-made atan2 (docs/original.md §6), as in hand3d_tf.geometry.
ATAN2_GUARD = 1e-8

# Bone-relative traversal order: root, then each finger base -> tip (docs/original.md §6).
BONE_ORDER = (0,) + tuple(k for base in (4, 8, 12, 16, 20) for k in range(base, base - 4, -1))


def atan2_guarded(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """atan(y / (x + 1e-8)) with quadrant corrections, in (-pi, pi] (docs/original.md §6)."""
    denom = x + ATAN2_GUARD
    base = tf.atan(y / denom)  # +-inf at denom == 0 gives +-pi/2, as NumPy
    return tf.where(denom < 0, tf.where(y >= 0, base + math.pi, base - math.pi), base)


def _matrix(rows) -> tf.Tensor:
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


# Elementary rotations of docs/original.md §6 for row vectors (p @ R).
def _rot_z(a):
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    return _matrix([[c, s, z], [-s, c, z], [z, z, o]])


def _rot_x(a):
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    return _matrix([[o, z, z], [z, c, s], [z, -s, c]])


def _rot_y(a):
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    return _matrix([[c, z, -s], [z, o, z], [s, z, c]])


def normalize(xyz, root: int = 0):
    """(xyz_normed, scale): (xyz - xyz[root]) / ||X12 - X11|| and the bone length [...]."""
    xyz = tf.convert_to_tensor(xyz, tf.float32)
    a, b = kp.SCALE_BONE
    scale = tf.norm(xyz[..., a, :] - xyz[..., b, :], axis=-1)
    normed = (xyz - xyz[..., root : root + 1, :]) / scale[..., None, None]
    return normed, scale


def canonical_frame(xyz):
    """(xyz_canonical, rot_mat) with xyz_canonical = (xyz - xyz[0]) @ rot_mat (docs/original.md §6).

    rot_mat [..., 3, 3] = Rz(alpha) Rx(beta + pi) Ry(gamma): afterwards keypoint 12 lies on
    the -y axis and keypoint 20 in the xy-plane with x > 0. Training target: its transpose.
    """
    xyz = tf.convert_to_tensor(xyz, tf.float32)
    rel = xyz - xyz[..., :1, :]
    p = rel[..., 12, :]
    m_z = _rot_z(atan2_guarded(p[..., 0], p[..., 1]))
    x1 = tf.linalg.matmul(rel, m_z)
    p = x1[..., 12, :]
    m_x = _rot_x(-atan2_guarded(p[..., 2], p[..., 1]) + math.pi)
    x2 = tf.linalg.matmul(x1, m_x)
    p = x2[..., 20, :]
    m_y = _rot_y(atan2_guarded(p[..., 2], p[..., 0]))
    canonical = tf.linalg.matmul(x2, m_y)
    return canonical, tf.linalg.matmul(tf.linalg.matmul(m_z, m_x), m_y)


def rotation_target(rot_mat):
    """R_gt = M^-1 = M^T, the lifting network's rotation target (docs/original.md §6)."""
    return tf.linalg.matrix_transpose(rot_mat)


def flip_right_hand(xyz_canonical, is_right):
    """Negate canonical z where ``is_right`` [...] (bool) is True (docs/original.md §6)."""
    xyz_canonical = tf.convert_to_tensor(xyz_canonical, tf.float32)
    sign = tf.where(tf.cast(is_right, tf.bool), -1.0, 1.0)[..., None]
    return tf.concat([xyz_canonical[..., :2], xyz_canonical[..., 2:] * sign[..., None]], -1)


# Bone-relative frames use column vectors (docs/original.md §6).
def _col_rot_x(a):
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    return _matrix([[o, z, z], [z, c, -s], [z, s, c]])


def _col_rot_y(a):
    c, s, z, o = tf.cos(a), tf.sin(a), tf.zeros_like(a), tf.ones_like(a)
    return _matrix([[c, z, s], [z, o, z], [-s, z, c]])


def bone_relative(xyz):
    """Per keypoint (bone length, angle_x, angle_y) in its parent's bone frame (docs/original.md §6).

    xyz: [..., 21, 3] root-relative (normally xyz_normed). Only the rotation part of the
    4x4 frames matters here: the translation cancels in the parent-to-child difference.
    """
    xyz = tf.convert_to_tensor(xyz, tf.float32)
    rotations = {}
    out = [None] * kp.NUM_KEYPOINTS
    for k in BONE_ORDER:
        parent = -1 if k == 0 or k % 4 == 0 else k + 1
        if parent < 0:
            d = xyz[..., k, :]  # root frame: identity, parent at the origin
        else:
            d = tf.linalg.matvec(rotations[parent], xyz[..., k, :] - xyz[..., parent, :])
        length = tf.norm(d, axis=-1)
        angle_y = tf.atan2(d[..., 0], d[..., 2])
        rot_y = _col_rot_y(-angle_y)
        d_rot = tf.linalg.matvec(rot_y, d)
        angle_x = tf.atan2(-d_rot[..., 1], d_rot[..., 2])
        rot = tf.linalg.matmul(_col_rot_x(-angle_x), rot_y)
        rotations[k] = rot if parent < 0 else tf.linalg.matmul(rot, rotations[parent])
        out[k] = tf.stack([length, angle_x, angle_y], -1)
    return tf.stack(out, axis=-2)
