"""Round cones and smooth-union shading for generator version 2. NumPy only.

A round cone is the convex hull of two spheres (centre a, radius ra; centre b, radius rb):
two spheres joined by the cone tangent to both. Chained with shared radii at the joints they
give tapered fingers without the steps a chain of capsules shows. Its points satisfy
x cos(theta) + y sin(theta) = ra on the lateral surface, with y the position along the axis
from a, x the distance from the axis and sin(theta) = (ra - rb) / |b - a|; the sphere whose
surface touches a point sits at s = y - x tan(theta) on the axis, so the outward normal is
the direction from that centre. The ray-cast lateral surface and the spheres together are the
exact shape, so depth and masks stay exact.

Smooth union for shading only: near where a primitive meets a listed neighbour, its normal is
blended with the neighbour's distance-field gradient, weighted by exp(-distance / width).
The silhouettes and depth are the hard union (labels stay exact), but no seam shows in the
shading where a finger meets the palm or the forearm the wrist.
"""

from __future__ import annotations

import math

import numpy as np

# Neighbours per primitive whose normals blend in (finger base: two rim pieces; rim pieces:
# fingers and forearm; palm faces: the five finger bases and the forearm).
MAX_BLEND = 6


def cast_lateral(target, a, b, ra: float, rb: float, prim_id: int, near: float) -> None:
    """Z-test the lateral (conical) surface of a round cone; the caller casts the spheres.

    target: render._Target (box, rays, z_test); a, b: [3] floats; radii in metres.
    """
    ax, ay, az = (float(v) for v in a)
    bx, by, bz = (float(v) for v in b)
    length = math.sqrt((bx - ax) ** 2 + (by - ay) ** 2 + (bz - az) ** 2)
    if length <= abs(ra - rb) + 1e-9:  # one sphere holds the other: no lateral surface
        return
    ux, uy, uz = (bx - ax) / length, (by - ay) / length, (bz - az) / length
    sin = (ra - rb) / length
    cos2 = 1.0 - sin * sin
    tan = sin / math.sqrt(cos2)
    box = target.box(((ax, ay, az), (bx, by, bz)), max(ra, rb))
    if box is None:
        return
    du, dv, dd = target.rays(box)
    d_u = ux * du + uy * dv + uz  # ray direction . axis
    d_a = ax * du + ay * dv + az  # ray direction . a
    aa = ax * ax + ay * ay + az * az
    au = ax * ux + ay * uy + az * uz
    k = ra + sin * au
    qa = cos2 * dd - d_u * d_u
    half_b = cos2 * (d_u * au - d_a) + k * sin * d_u
    qc = cos2 * (aa - au * au) - k * k
    root = np.sqrt(half_b * half_b - qa * qc)
    best = np.full(dd.shape, np.nan, np.float32)
    for sign in (-1.0, 1.0):
        t = (-half_b + sign * root) / qa
        y = t * d_u - au
        x = np.sqrt(np.maximum(t * t * dd - 2.0 * t * d_a + aa - y * y, 0.0))
        s = y - x * tan
        # ra - y sin >= 0: the real cone, not its mirror image through the apex.
        ok = (s >= 0.0) & (s <= length) & (t > near) & (ra - y * sin >= 0.0)
        best = np.fmin(best, np.where(ok, t, np.float32(np.nan)))
    target.z_test(box, best, prim_id)


def cone_table(primitives) -> dict:
    """Per-primitive [P, ...] float32 parameters of the version-2 normal pass.

    a, u: [3, P] first end and unit axis; length; ra, sin, tan (0 for capsules and
    polygons); cushion_c [3, P] and cushion_s: cushion centre and scale; nb: [P, MAX_BLEND]
    int32 neighbour indices (-1 none); width: blend width, metres; mid [3, P], reach: a
    bounding sphere. Polygons: a = centre, u = face normal, length = extent.
    """
    count = len(primitives)
    index = {id(p): i for i, p in enumerate(primitives)}
    tab = {
        "a": np.zeros((count, 3)), "u": np.zeros((count, 3)), "length": np.zeros(count),
        "ra": np.zeros(count), "sin": np.zeros(count), "tan": np.zeros(count),
        "is_cone": np.zeros(count, bool), "cushion_c": np.zeros((count, 3)),
        "cushion_s": np.zeros(count), "width": np.ones(count),
        "nb": np.full((count, MAX_BLEND), -1, np.int32), "is_poly": np.zeros(count, bool),
        "mid": np.zeros((count, 3)), "reach": np.zeros(count),
    }  # fmt: skip

    def is_poly(j: int) -> bool:
        return not hasattr(primitives[j], "radius_b")

    for i, prim in enumerate(primitives):
        neighbours = [index[id(n)] for n in prim.blend if id(n) in index][:MAX_BLEND]
        tab["nb"][i, : len(neighbours)] = neighbours
        if not hasattr(prim, "radius_b"):  # a Polygon: a slab face bounded by a disc
            verts = np.asarray(prim.vertices, np.float64)
            centre = verts.mean(axis=0)
            extent = float(np.linalg.norm(verts - centre, axis=1).max())
            tab["is_poly"][i], tab["a"][i], tab["u"][i] = True, centre, prim.normal
            tab["length"][i] = extent
            tab["mid"][i], tab["reach"][i] = centre, extent
            if prim.bulge > 0:
                tab["cushion_s"][i] = prim.bulge / extent
                tab["cushion_c"][i] = centre if prim.cushion_centre is None else prim.cushion_centre
            if prim.blend_width is not None:
                tab["width"][i] = prim.blend_width
            elif neighbours:
                radii = [float(primitives[j].radius) for j in neighbours if not is_poly(j)]
                tab["width"][i] = 0.45 * min(radii, default=0.01)
            continue
        a, b = np.asarray(prim.a, np.float64), np.asarray(prim.b, np.float64)
        length = float(np.linalg.norm(b - a))
        ra = float(prim.radius)
        rb = ra if prim.radius_b is None else float(prim.radius_b)
        tab["a"][i], tab["length"][i], tab["ra"][i] = a, length, ra
        if length > 1e-9:
            tab["u"][i] = (b - a) / length
        if ra != rb and length > abs(ra - rb):  # (a cylinder's normals need no pass)
            sin = (ra - rb) / length
            tab["is_cone"][i], tab["sin"][i] = True, sin
            tab["tan"][i] = sin / math.sqrt(1.0 - sin * sin)
        if prim.cushion_centre is not None:
            tab["cushion_c"][i], tab["cushion_s"][i] = prim.cushion_centre, prim.cushion
        tab["width"][i] = 0.45 * min(ra, rb) if prim.blend_width is None else prim.blend_width
        tab["mid"][i], tab["reach"][i] = 0.5 * (a + b), 0.5 * length + max(ra, rb)
    # Vectors as [3, P]: gathering columns [:, j] gives contiguous rows per component.
    out = {
        k: np.ascontiguousarray(v.T if v.ndim == 2 and k != "nb" else v, np.float32)
        if v.dtype == np.float64
        else v
        for k, v in tab.items()
    }
    out["any_cushion"] = bool(np.any(tab["cushion_s"] > 0))
    return out


def _take(table: np.ndarray, j: np.ndarray) -> list:
    """Rows of a [3, P] table at primitives j: three contiguous [M] vectors."""
    return [row[j] for row in table]


def _sub(vectors: list, sel: np.ndarray) -> list:
    return [v[sel] for v in vectors]


def _closest(tab: dict, j: np.ndarray, p: list):
    """Distance [M] and outward unit gradient (3 x [M]) of primitives j at points p (3 x [M]).

    Round cones and capsules exactly; a polygon face approximately, as the half-space above
    it cut to a disc of its extent (its gradient is the face normal). Separate float32
    vectors per component: the fastest layout for NumPy.
    """
    u, a = _take(tab["u"], j), _take(tab["a"], j)
    rel = [p[k] - a[k] for k in range(3)]
    y = rel[0] * u[0] + rel[1] * u[1] + rel[2] * u[2]
    radial = [rel[k] - y * u[k] for k in range(3)]
    x = np.sqrt(radial[0] * radial[0] + radial[1] * radial[1] + radial[2] * radial[2])
    s = np.clip(y - x * tab["tan"][j], 0.0, tab["length"][j])
    off = [rel[k] - s * u[k] for k in range(3)]
    dist = np.sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2])
    inv = 1.0 / np.maximum(dist, 1e-9)
    grad = [c * inv for c in off]
    dist -= tab["ra"][j] - s * tab["sin"][j]
    poly = np.nonzero(tab["is_poly"][j])[0]
    if poly.size:
        dist[poly] = np.maximum(y[poly], x[poly] - tab["length"][j[poly]])
        for k in range(3):
            grad[k][poly] = u[k][poly]
    return dist, grad


def _tilt(tab: dict, j: np.ndarray, p: list, n: list) -> list:
    """Unit normals n (3 x [M]) tilted by the cushions of primitives j at points p."""
    scale, centre = tab["cushion_s"][j], _take(tab["cushion_c"], j)
    n = [n[k] + (p[k] - centre[k]) * scale for k in range(3)]
    inv = 1.0 / np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    return [c * inv for c in n]


def refine_normals(points: list, pid: np.ndarray, normal: np.ndarray, tab: dict) -> None:
    """Round-cone normals, cushion tilt and smooth-union blending, in place.

    points: 3 x [N] hit point coordinates (camera frame, metres); pid: [N] primitive ids;
    normal: [N, 3].
    """
    cone = np.nonzero(tab["is_cone"][pid])[0]
    if cone.size:
        _, grad = _closest(tab, pid[cone], _sub(points, cone))
        normal[cone] = np.stack(grad, axis=1)
    # Polygons got their cushion in the render pass; their cushion entries serve neighbours.
    cushion = np.nonzero((tab["cushion_s"][pid] > 0) & ~tab["is_poly"][pid])[0]
    if cushion.size:
        n = [np.ascontiguousarray(c) for c in normal[cushion].T]
        normal[cushion] = np.stack(_tilt(tab, pid[cushion], _sub(points, cushion), n), axis=1)
    nb = tab["nb"][pid]
    rows = np.nonzero(nb[:, 0] >= 0)[0]
    if not rows.size:
        return
    acc = [np.ascontiguousarray(c) for c in normal[rows].T]
    p = _sub(points, rows)
    width = tab["width"][pid[rows]]
    for k in range(MAX_BLEND):
        j = nb[rows, k]
        # Only points near the neighbour's bounding sphere can feel it (weight > e^-6).
        safe = np.maximum(j, 0)
        mid = _take(tab["mid"], safe)
        d2 = sum((p[c] - mid[c]) ** 2 for c in range(3))
        reach = tab["reach"][safe] + 6.0 * width
        sel = np.nonzero((j >= 0) & (d2 < reach * reach))[0]
        if not sel.size:
            continue
        jj, ps = j[sel], _sub(p, sel)
        dist, grad = _closest(tab, jj, ps)
        if tab["any_cushion"]:  # the neighbour shades as it would itself
            grad = _tilt(tab, jj, ps, grad)
        weight = np.exp(-np.maximum(dist, 0.0) / width[sel])
        for c in range(3):
            acc[c][sel] += weight * grad[c]
    inv = 1.0 / np.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
    normal[rows] = np.stack([c * inv for c in acc], axis=1)
