"""Z-buffer ray caster for capsules and planar polygons, shading, keypoint visibility. NumPy/OpenCV.

Each primitive is intersected exactly with the pixel rays inside its own screen box, so the
per-pixel depth is exact (the depth PNG and the visibility test rely on it). A pixel ray is
X(t) = t d with d = ((u - cx) / fx, (v - cy) / fy, 1): the ray parameter t *is* the depth z.
Pixel centres sit at integer (u, v), as in OpenCV.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from hand3d_tf.data.synthetic import smooth
from hand3d_tf.data.synthetic.scene import Capsule, Polygon

NEAR = 0.01  # metres; hits nearer than this are ignored
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision for polygon edges


@dataclasses.dataclass
class GBuffer:
    """Render targets. depth: [H, W] float32 metres (inf = nothing hit); class_map: [H, W]
    uint8 RHD classes; prim_id: [H, W] int16 primitive index (-1 = none). For the N hit
    pixels (rows, cols: [N] int): normal [N, 3] outward unit normals (camera frame), albedo
    [N, 3] RGB 0..1, specular [N] strength multiplier."""

    depth: np.ndarray
    class_map: np.ndarray
    prim_id: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    specular: np.ndarray

    @property
    def foreground(self) -> np.ndarray:
        return self.prim_id >= 0


class _Target:
    """Z-buffer, id buffer and the pixel-ray tables of one render."""

    def __init__(self, K: np.ndarray, size: int):
        self.K, self.size = np.asarray(K, np.float64), size
        self.fx, self.fy = float(K[0, 0]), float(K[1, 1])
        self.cx, self.cy = float(K[0, 2]), float(K[1, 2])
        self.depth = np.full((size, size), np.inf, np.float32)
        self.ids = np.full((size, size), -1, np.int16)
        pix = np.arange(size, dtype=np.float32)
        self.du = (pix - np.float32(K[0, 2])) / np.float32(K[0, 0])  # [W]
        self.dv = (pix - np.float32(K[1, 2])) / np.float32(K[1, 1])  # [H]
        self.dd = self.du[None, :] ** 2 + self.dv[:, None] ** 2 + np.float32(1.0)

    def box(self, centres, radius: float):
        """Pixel box (r0, r1, c0, c1) covering spheres of ``radius`` at ``centres`` (1-2
        points [3]); None if off-image. Plain floats: this runs ~100 times per image."""
        fx, fy, cx, cy = self.fx, self.fy, self.cx, self.cy
        us, vs, zmin, slant = [], [], np.inf, 0.0
        for x, y, z in centres:
            us.append(fx * x / z + cx)
            vs.append(fy * y / z + cy)
            zmin = min(zmin, z)
            slant = max(slant, (x * x + y * y) / (z * z))
        # A sphere's image grows by sec^2 of its angle off the optical axis.
        margin = fx * radius / max(zmin - radius, NEAR) * (1.0 + slant) + 2.0
        c0 = max(int(math.floor(min(us) - margin)), 0)
        r0 = max(int(math.floor(min(vs) - margin)), 0)
        c1 = min(int(math.ceil(max(us) + margin)) + 1, self.size)
        r1 = min(int(math.ceil(max(vs) + margin)) + 1, self.size)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def rays(self, box):
        r0, r1, c0, c1 = box
        return self.du[None, c0:c1], self.dv[r0:r1, None], self.dd[r0:r1, c0:c1]

    def z_test(self, box, t: np.ndarray, prim_id: int) -> None:
        """Keep t where nearer than the z-buffer (NaN = miss never passes)."""
        r0, r1, c0, c1 = box
        zbuf = self.depth[r0:r1, c0:c1]
        nearer = t < zbuf
        zbuf[nearer] = t[nearer]
        self.ids[r0:r1, c0:c1][nearer] = prim_id


def _sphere(target: _Target, centre, radius: float, prim_id: int) -> None:
    x, y, z = (float(v) for v in centre)
    box = target.box(((x, y, z),), radius)
    if box is None:
        return
    du, dv, dd = target.rays(box)
    half_b = -(x * du + y * dv + z)
    c = x * x + y * y + z * z - radius * radius
    t = (-half_b - np.sqrt(half_b * half_b - dd * c)) / dd  # NaN where the ray misses
    if z - radius <= NEAR:  # reaches behind the near plane: drop hits there
        t[t <= NEAR] = np.nan
    target.z_test(box, t, prim_id)


def _round_cone(target: _Target, cap: Capsule, prim_id: int) -> None:
    """Two end spheres of their own radii and the cone tangent to both (version 2)."""
    ra, rb = float(cap.radius), float(cap.radius_b)
    if not cap.shares_a:
        _sphere(target, cap.a, ra, prim_id)
    _sphere(target, cap.b, rb, prim_id)
    near = NEAR if min(cap.a[2] - ra, cap.b[2] - rb) <= NEAR else 0.0
    smooth.cast_lateral(target, cap.a, cap.b, ra, rb, prim_id, near)


def _capsule(target: _Target, cap: Capsule, prim_id: int) -> None:
    """The union of a finite cylinder and two end spheres, each cast on its own pixel box."""
    if cap.radius_b is not None and cap.radius_b != cap.radius:
        _round_cone(target, cap, prim_id)
        return
    a = tuple(float(v) for v in cap.a)
    b = tuple(float(v) for v in cap.b)
    r = float(cap.radius)
    if not cap.shares_a:
        _sphere(target, a, r, prim_id)
    ba = (b[0] - a[0], b[1] - a[1], b[2] - a[2])
    baba = ba[0] * ba[0] + ba[1] * ba[1] + ba[2] * ba[2]
    if baba < 1e-12:
        return
    _sphere(target, b, r, prim_id)
    box = target.box((a, b), r)
    if box is None:
        return
    du, dv, dd = target.rays(box)
    baoa = -(ba[0] * a[0] + ba[1] * a[1] + ba[2] * a[2])
    oaoa = a[0] * a[0] + a[1] * a[1] + a[2] * a[2]
    bard = ba[0] * du + ba[1] * dv + ba[2]
    rdoa = -a[0] * du - a[1] * dv - a[2]
    qa = baba * dd - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * (oaoa - r * r) - baoa * baoa
    t = (-qb - np.sqrt(qb * qb - qa * qc)) / qa
    y = baoa + t * bard  # position along the axis, times |ba|^2
    t[(y <= 0) | (y >= baba)] = np.nan  # beyond the ends: the spheres cover it
    if min(a[2], b[2]) - r <= NEAR:
        t[t <= NEAR] = np.nan
    target.z_test(box, t, prim_id)


def _polygon(target: _Target, poly: Polygon, prim_id: int) -> None:
    verts = np.asarray(poly.vertices, np.float64)
    if np.any(verts[:, 2] <= NEAR):
        return
    box = target.box(verts, 0.0)
    if box is None:
        return
    r0, r1, c0, c1 = box
    K = target.K
    uv = verts[:, :2] / verts[:, 2:3] * [K[0, 0], K[1, 1]] + K[:2, 2]
    cover = np.zeros((r1 - r0, c1 - c0), np.uint8)
    pts = np.round((uv - [c0, r0]) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(cover, [pts], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    n = np.asarray(poly.normal, np.float64)
    du, dv, _ = target.rays(box)
    t = np.float32(n @ verts[0]) / (
        np.float32(n[0]) * du + np.float32(n[1]) * dv + np.float32(n[2])
    )
    t[cover == 0] = np.nan
    target.z_test(box, t, prim_id)


def _tables(primitives) -> dict:
    """Per-primitive parameters [P, ...] (float32) for the deferred normal/albedo pass.

    Capsules: a = first end, ba = b - a, inv_r = 1 / radius. Polygons: a = centre, ba = face
    normal, inv_r = bulge / extent (the cushion tilt per metre from the centre).
    """
    count = len(primitives)
    tab = {
        "a": np.zeros((count, 3)), "ba": np.zeros((count, 3)), "inv_baba": np.zeros(count),
        "inv_r": np.ones(count), "is_poly": np.zeros(count, bool),
        "colour": np.zeros((count, 3)), "palm_delta": np.zeros((count, 3)),
        "palmar": np.zeros((count, 3)), "nail": np.zeros((count, 3)),
        "has_nail": np.zeros(count, bool), "class_id": np.zeros(count, np.uint8),
        "specular": np.zeros(count),
    }  # fmt: skip
    for i, prim in enumerate(primitives):
        tab["colour"][i] = prim.colour
        tab["class_id"][i], tab["specular"][i] = prim.class_id, prim.specular
        if isinstance(prim, Polygon):
            verts = np.asarray(prim.vertices, np.float64)
            centre = verts.mean(axis=0)
            tab["is_poly"][i], tab["ba"][i] = True, prim.normal
            tab["a"][i] = centre if prim.cushion_centre is None else prim.cushion_centre
            tab["inv_r"][i] = prim.bulge / np.linalg.norm(verts - centre, axis=1).max()
            continue
        tab["a"][i], tab["ba"][i] = prim.a, np.asarray(prim.b) - np.asarray(prim.a)
        tab["inv_baba"][i] = 1.0 / max(float(tab["ba"][i] @ tab["ba"][i]), 1e-12)
        tab["inv_r"][i] = 1.0 / prim.radius
        if prim.palmar is not None and prim.palm_colour is not None:
            tab["palmar"][i] = prim.palmar
            tab["palm_delta"][i] = np.asarray(prim.palm_colour) - prim.colour
        if prim.nail is not None:
            tab["nail"][i], tab["has_nail"][i] = prim.nail, True
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in tab.items()}


def _is_v2(prim) -> bool:
    if isinstance(prim, Polygon):
        return bool(prim.blend)
    return prim.radius_b is not None or bool(prim.blend) or prim.cushion_centre is not None


def _surface(target: _Target, primitives):
    """Deferred pass over the hit pixels: rows, cols, normal, albedo, specular, class ids.

    Works on per-component [N] float32 vectors, the fastest layout for NumPy.
    """
    rows, cols = np.nonzero(target.ids >= 0)
    pid = target.ids[rows, cols]
    tab = _tables(primitives)
    t = target.depth[rows, cols]
    point = (t * target.du[cols], t * target.dv[rows], t)
    rel = [point[k] - tab["a"][pid, k] for k in range(3)]
    ba = [tab["ba"][pid, k] for k in range(3)]
    inv_r = tab["inv_r"][pid]
    s = np.clip((rel[0] * ba[0] + rel[1] * ba[1] + rel[2] * ba[2]) * tab["inv_baba"][pid], 0, 1)
    # Capsules: from the nearest axis point, already unit length.
    normal = np.stack([(rel[k] - s * ba[k]) * inv_r for k in range(3)], axis=1)
    poly = np.nonzero(tab["is_poly"][pid])[0]
    if poly.size:  # face normal tilted outwards from the centre: shades like a cushion
        cushion = np.stack([ba[k][poly] + rel[k][poly] * inv_r[poly] for k in range(3)], axis=1)
        normal[poly] = cushion / np.linalg.norm(cushion, axis=1, keepdims=True)
    if any(_is_v2(p) for p in primitives):
        smooth.refine_normals(list(point), pid, normal, smooth.cone_table(primitives))
    palmar = tab["palmar"][pid]
    towards = np.einsum("ij,ij->i", normal, palmar)
    albedo = tab["colour"][pid] + np.clip(towards, 0, 1)[:, None] * tab["palm_delta"][pid]
    nail = np.nonzero(tab["has_nail"][pid] & (towards < -0.55) & (s > 0.35))[0]
    albedo[nail] = tab["nail"][pid[nail]]
    return rows, cols, normal, albedo, tab["specular"][pid], tab["class_id"][pid]


def render(primitives, K: np.ndarray, size: int) -> GBuffer:
    """Ray-cast capsules and polygons (camera frame, metres) into a size x size GBuffer.

    Visibility first (depth + primitive id per pixel), then normals and albedo once for
    the pixels that survived (deferred), which keeps the per-primitive work small.
    """
    if len(primitives) > np.iinfo(np.int16).max:
        raise ValueError(f"at most 32767 primitives per render; received {len(primitives)}")
    target = _Target(K, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        for prim_id, prim in enumerate(primitives):
            if isinstance(prim, Capsule):
                _capsule(target, prim, prim_id)
            elif isinstance(prim, Polygon):
                _polygon(target, prim, prim_id)
            else:
                raise TypeError(
                    f"primitive must be a Capsule or Polygon; received {type(prim).__name__}"
                )
    rows, cols, normal, albedo, specular, classes = _surface(target, primitives)
    class_map = np.zeros((size, size), np.uint8)
    class_map[rows, cols] = classes
    return GBuffer(
        depth=target.depth,
        class_map=class_map,
        prim_id=target.ids,
        rows=rows,
        cols=cols,
        normal=normal,
        albedo=albedo,
        specular=specular,
    )


@dataclasses.dataclass(frozen=True)
class Light:
    """Directional light ``direction`` (unit, camera frame, pointing TO the light), RGB colour,
    ambient and diffuse strengths, Blinn-Phong specular strength and exponent; ``wrap``
    softens the terminator as skin scatters light under the surface; ``sky`` makes the
    ambient term brighter on surfaces facing image-up than on those facing down."""

    direction: np.ndarray
    colour: np.ndarray
    ambient: float
    diffuse: float
    specular: float
    shininess: float
    wrap: float = 0.3
    sky: float = 0.25


def shade(buf: GBuffer, light: Light) -> np.ndarray:
    """RGB [N, 3] float32 0..1 of the hit pixels (buf.rows, buf.cols).

    Wrapped Lambert + Blinn-Phong; the viewer is taken along -z for every pixel (a few
    degrees off at the image corners, invisible in a highlight).
    """
    direction = np.asarray(light.direction, np.float32)
    n_l = buf.normal @ direction
    diffuse = np.clip((n_l + light.wrap) / (1.0 + light.wrap), 0.0, 1.0)
    half = direction + np.array([0.0, 0.0, -1.0], np.float32)
    half /= max(float(np.linalg.norm(half)), 1e-6)
    n_h = np.clip(buf.normal @ half, 0.0, 1.0)
    spec = np.float32(light.specular) * buf.specular * n_h ** np.float32(light.shininess)
    spec *= n_l > 0
    colour = np.asarray(light.colour, np.float32)
    ambient = np.float32(light.ambient) * (1.0 - np.float32(light.sky) * buf.normal[:, 1])
    rgb = buf.albedo * (ambient + np.float32(light.diffuse) * diffuse)[:, None]
    rgb = (rgb + spec[:, None]) * colour
    return np.clip(rgb, 0.0, 1.0)


def project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """uv [N, 2] = (K xyz)[:2] / z for points [N, 3] (z = 0 gives inf)."""
    xyz = np.asarray(xyz, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xyz @ np.asarray(K, np.float64).T)[:, :2] / xyz[:, 2:3]


def keypoint_visibility(
    xyz: np.ndarray,
    K: np.ndarray,
    depth: np.ndarray,
    class_map: np.ndarray,
    class_ranges: np.ndarray,
    tolerance: np.ndarray,
    window: int = 1,
) -> np.ndarray:
    """[N] bool: inside the image, not hidden, and seen on its own hand.

    xyz: [N, 3] camera frame metres; depth: [H, W] z-buffer (inf = empty); class_ranges:
    [N, 2] inclusive class ids of each keypoint's hand; tolerance: [N] metres a surface may
    lie in front of the keypoint (its own skin: a joint sits on the bone's axis, one radius
    behind the surface). The hand's own classes must also appear within ``window`` pixels,
    so that a keypoint under another surface at almost the same depth does not count.
    """
    size_h, size_w = depth.shape
    uv = project(xyz, K)
    visible = np.zeros(len(xyz), bool)
    for k in range(len(xyz)):
        if not (xyz[k, 2] > NEAR and np.all(np.isfinite(uv[k]))):
            continue
        c, r = int(np.round(uv[k, 0])), int(np.round(uv[k, 1]))
        if not (0 <= r < size_h and 0 <= c < size_w):
            continue
        if xyz[k, 2] - depth[r, c] > tolerance[k]:
            continue
        patch = class_map[max(r - window, 0) : r + window + 1, max(c - window, 0) : c + window + 1]
        lo, hi = class_ranges[k]
        visible[k] = bool(np.any((patch >= lo) & (patch <= hi)))
    return visible
