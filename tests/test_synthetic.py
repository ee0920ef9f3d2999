"""Synthetic RHD-format generator (docs/data.md): labels right by construction, files as RHD."""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
import pickle
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from hand3d_tf import keypoints as kp
from hand3d_tf.data import synthetic
from hand3d_tf.data.rhd import RHDReader
from hand3d_tf.data.synthetic import (
    SyntheticConfig,
    generate_sample,
    hand_model,
    hand_surface,
    render,
    scene,
    scenes,
    smooth,
    split_seed,
    viewpoint,
    write_dataset,
)

CONFIG = SyntheticConfig()
NUM_SAMPLES = 12
V1_HASHES = pathlib.Path(__file__).parent / "data" / "synthetic_v1_sha256.json"


@pytest.fixture(scope="session", params=[1, 2], ids=["v1", "v2"])
def samples(request):
    """Label tests run on both generator versions."""
    config = SyntheticConfig(generator_version=request.param)
    return [generate_sample(config, 11, i) for i in range(NUM_SAMPLES)]


def test_sample_fields(samples):
    s = samples[0]
    expected = {
        "color": ((320, 320, 3), np.uint8),
        "mask": ((320, 320), np.uint8),
        "depth": ((320, 320), np.float32),
        "xyz": ((42, 3), np.float32),
        "uv_vis": ((42, 3), np.float32),
        "K": ((3, 3), np.float32),
    }
    assert set(s) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert s[key].shape == shape and s[key].dtype == dtype, key
    for s in samples:
        assert set(np.unique(s["mask"])) <= set(range(kp.MASK_NUM_CLASSES))
        assert set(np.unique(s["uv_vis"][:, 2])) <= {0.0, 1.0}
        assert np.all((s["depth"] > 0) & (s["depth"] < 5.0))
        # Some hand is in every frame (RHD frames always show one).
        assert np.any(s["mask"] >= kp.MASK_LEFT_FIRST)


def test_reprojection(samples):
    for s in samples:
        xyz = s["xyz"].astype(np.float64)
        K = s["K"].astype(np.float64)
        front = xyz[:, 2] > 0
        assert front.sum() >= 21  # at least the hand in view
        u = K[0, 0] * xyz[front, 0] / xyz[front, 2] + K[0, 2]
        v = K[1, 1] * xyz[front, 1] / xyz[front, 2] + K[1, 2]
        np.testing.assert_allclose(s["uv_vis"][front, 0], u, atol=0.5)
        np.testing.assert_allclose(s["uv_vis"][front, 1], v, atol=0.5)
        # The principal point is near the centre and fx = fy lies in the configured range.
        assert abs(K[0, 2] - 159.5) <= CONFIG.principal_jitter + 1e-3
        assert CONFIG.focal_range[0] <= K[0, 0] <= CONFIG.focal_range[1]


def test_visible_keypoints_lie_on_their_hand(samples):
    total_visible = 0
    for s in samples:
        mask = np.pad(s["mask"], 2)  # 2 px slack at the border
        for hand, (lo, hi) in enumerate(
            [(kp.MASK_LEFT_FIRST, kp.MASK_LEFT_PALM), (kp.MASK_RIGHT_FIRST, kp.MASK_RIGHT_PALM)]
        ):
            uv_vis = s["uv_vis"][21 * hand : 21 * hand + 21]
            for u, v, vis in uv_vis:
                if vis < 0.5:
                    continue
                total_visible += 1
                c, r = int(round(u)) + 2, int(round(v)) + 2
                patch = mask[r - 2 : r + 3, c - 2 : c + 3]
                assert np.any((patch >= lo) & (patch <= hi)), (u, v)
    assert total_visible >= 5 * NUM_SAMPLES  # visibility is not trivially all-false


def _flat_hand(side: str):
    """An open, flat hand (all angles 0) of a fixed mid-range size."""
    rng = np.random.default_rng(0)
    shape = hand_model.sample_shape(rng)
    return hand_model.build_hand(shape, np.zeros((5, 4)), side)


# Hand frame -> camera: palm normal (+z) towards the camera (-z), fingers up (-y in image).
PALM_TO_CAMERA = np.diag([1.0, -1.0, -1.0])
K_TEST = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 159.5], [0.0, 0.0, 1.0]])
RANGES = {kp.HAND_LEFT: (2, 17), kp.HAND_RIGHT: (18, 33)}


def _visibility(placed, rotation=PALM_TO_CAMERA):
    """Render the given (hand, xyz) pairs and return their [21 * n] visibility."""
    prims, xyz, tol, ranges = [], [], [], []
    for hand, points in placed:
        ranges += [RANGES[hand.side]] * 21
        prims += scene.hand_primitives(hand, rotation, points, np.array([0.8, 0.6, 0.5]))
        xyz.append(points)
        tol.append(scene.joint_tolerance(hand, 0.025, CONFIG.visibility_margin))
    buf = render.render(prims, K_TEST, 320)
    xyz = np.concatenate(xyz)
    return render.keypoint_visibility(
        xyz, K_TEST, buf.depth, buf.class_map, np.array(ranges), np.concatenate(tol)
    )


def test_keypoint_behind_palm_is_not_visible():
    front, back = _flat_hand(kp.HAND_LEFT), _flat_hand(kp.HAND_RIGHT)
    front_xyz = scene.place_hand(front, PALM_TO_CAMERA, [0.0, 0.0, 0.45])
    # The second hand 12 cm straight behind the first: its wrist and knuckles sit behind
    # the first hand's palm by construction.
    back_xyz = scene.place_hand(back, PALM_TO_CAMERA, [0.0, 0.0, 0.57])
    alone = _visibility([(back, back_xyz)])
    both = _visibility([(front, front_xyz), (back, back_xyz)])
    hidden = [0, 8, 12, 16]  # wrist, index/middle/ring MCP
    assert alone[hidden].all()  # visible without the occluder ...
    assert not both[21:][hidden].any()  # ... hidden behind the palm
    assert both[:21].all()  # an open hand facing the camera shows all its keypoints


def test_finger_pointing_away_hides_its_own_joints():
    # Back of the hand to the camera, index bent 90 deg at the knuckle: the finger points
    # straight away, so its PIP, DIP and tip lie behind its own base segment. The surface
    # seen there is the same hand, so only the depth test can hide them.
    back_to_camera = np.diag([-1.0, -1.0, 1.0])
    angles = np.zeros((5, 4))
    angles[1, 1] = np.pi / 2
    hand = hand_model.build_hand(_flat_hand(kp.HAND_RIGHT).shape, angles, kp.HAND_RIGHT)
    xyz = scene.place_hand(hand, back_to_camera, [0.0, 0.0, 0.45])
    vis = _visibility([(hand, xyz)], rotation=back_to_camera)
    assert vis[8] and not vis[[5, 6, 7]].any()
    assert vis[[0, 9, 10, 11, 12, 13, 17]].all()


def test_render_sphere_depth_matches_analytic():
    centre, radius = np.array([0.05, -0.03, 0.8]), 0.04
    cap = scene.Capsule(centre, centre, radius, 5, np.array([0.5, 0.5, 0.5]))
    buf = render.render([cap], K_TEST, 320)
    rows, cols = np.nonzero(np.isfinite(buf.depth))
    # Independent ray-sphere intersection for every hit pixel.
    d = np.stack([(cols - 159.5) / 300.0, (rows - 159.5) / 300.0, np.ones(rows.size)], axis=1)
    b = d @ centre
    dd = np.sum(d * d, axis=1)
    t = (b - np.sqrt(b * b - dd * (centre @ centre - radius**2))) / dd
    # float32 rendering: within 0.1 mm, finer than the depth PNG's 76 um step.
    np.testing.assert_allclose(buf.depth[rows, cols], t, atol=1e-4)
    assert np.all(buf.class_map[rows, cols] == 5) and np.all(
        buf.class_map[~np.isfinite(buf.depth)] == 0
    )
    # The disc covers the projected silhouette area: pi (f r / z)^2 within 10 %.
    assert rows.size == pytest.approx(np.pi * (300 * radius / 0.8) ** 2, rel=0.1)
    np.testing.assert_allclose(np.linalg.norm(buf.normal, axis=1), 1.0, atol=1e-4)


def test_hand_model_ranges_and_mirror():
    rng = np.random.default_rng(5)
    grips = set()
    for i in range(200):
        side = kp.HAND_SIDES[i % 2]
        hand = hand_model.sample_hand(rng, side)
        grips.add(hand.grip)
        lengths = hand_model.bone_lengths(hand.joints)
        lo, hi = hand_model.BONE_LENGTH_RANGES[..., 0], hand_model.BONE_LENGTH_RANGES[..., 1]
        assert np.all((lengths >= lo - 1e-9) & (lengths <= hi + 1e-9))
        palm = np.linalg.norm(hand.joints[12] - hand.joints[0])
        assert (
            hand_model.PALM_LENGTH_RANGE[0] - 1e-9 <= palm <= hand_model.PALM_LENGTH_RANGE[1] + 1e-9
        )
        limits = hand_model.JOINT_LIMITS
        assert np.all(
            (hand.angles >= limits[..., 0] - 1e-9) & (hand.angles <= limits[..., 1] + 1e-9)
        )
        # Middle and tip joints are pure hinges: the angle between consecutive bones IS the
        # sampled flexion (measured from the joints, independently of the model's frames).
        for f, name in enumerate(kp.FINGER_NAMES):
            tip, dip, pip, mcp = kp.FINGERS[name]
            bones = np.diff(hand.joints[[mcp, pip, dip, tip]], axis=0)
            bones /= np.linalg.norm(bones, axis=1, keepdims=True)
            measured = np.arccos(np.clip(np.sum(bones[:-1] * bones[1:], axis=1), -1, 1))
            np.testing.assert_allclose(measured, np.abs(hand.angles[f, 2:]), atol=1e-6)
    assert grips >= {"open", "fist", "point", "pinch"}
    # Left and right are mirror images.
    shape = hand_model.sample_shape(rng)
    angles, _ = hand_model.sample_angles(rng)
    left = hand_model.build_hand(shape, angles, kp.HAND_LEFT)
    right = hand_model.build_hand(shape, angles, kp.HAND_RIGHT)
    np.testing.assert_allclose(left.joints, right.joints * [-1.0, 1.0, 1.0])


def test_scenes_cover_sides_and_views():
    sides, palm_views, both = set(), set(), 0
    for i in range(200):
        s = scenes.sample_scene(np.random.default_rng([3, i]), CONFIG)
        present = [h for h in s.hands if h.present]
        assert present
        both += len(present) == 2
        for h in present:
            sides.add(h.side)
            palm_views.add(h.palm_towards_camera)
        for h in s.hands:  # absent hands still carry finite coordinates, out of view
            assert np.all(np.isfinite(h.xyz))
    assert sides == {kp.HAND_LEFT, kp.HAND_RIGHT} and palm_views == {True, False}
    assert 0.15 * 200 < both < 0.6 * 200


def _read_rhd_split(split_dir: pathlib.Path, split: str):
    """A plain RHD reader (docs/original.md §8.1): pickle, cv2.imread, depth decoding."""
    with open(split_dir / f"anno_{split}.pickle", "rb") as f:
        anno = pickle.load(f)
    out = {}
    for sid, entry in anno.items():
        name = f"{sid:05d}.png"
        color = cv2.imread(str(split_dir / "color" / name), cv2.IMREAD_UNCHANGED)[..., ::-1]
        mask = cv2.imread(str(split_dir / "mask" / name), cv2.IMREAD_UNCHANGED)
        depth_bgr = cv2.imread(str(split_dir / "depth" / name), cv2.IMREAD_UNCHANGED)
        out[sid] = dict(entry, color=color, mask=mask, depth_bgr=depth_bgr)
    return out


def test_workers_deterministic_and_rhd_round_trip(tmp_path):
    count = 4
    dirs = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        path = write_dataset(
            root, "training", CONFIG, seed=7, count=count, workers=workers, progress=False
        )
        assert path == root / "training" / "anno_training.pickle"
        dirs.append(root / "training")
    files = sorted(p.relative_to(dirs[0]) for p in dirs[0].rglob("*") if p.is_file())
    assert len(files) == 3 * count + 2  # PNGs, annotation pickle, manifest
    for rel in files:
        assert (dirs[0] / rel).read_bytes() == (dirs[1] / rel).read_bytes(), rel

    data = _read_rhd_split(dirs[0], "training")
    assert sorted(data) == list(range(count))
    stream = split_seed(7, "training")
    for sid, entry in data.items():
        assert set(entry) == {"xyz", "uv_vis", "K", "color", "mask", "depth_bgr"}
        for key, shape in (("xyz", (42, 3)), ("uv_vis", (42, 3)), ("K", (3, 3))):
            assert entry[key].dtype == np.float32 and entry[key].shape == shape
        assert entry["color"].shape == (320, 320, 3) and entry["color"].dtype == np.uint8
        assert entry["mask"].shape == (320, 320) and entry["mask"].dtype == np.uint8
        assert entry["depth_bgr"].shape == (320, 320, 3) and entry["depth_bgr"].dtype == np.uint8
        assert np.all(entry["depth_bgr"][..., 0] == 0)  # blue channel unused
        r = entry["depth_bgr"][..., 2].astype(np.float64)
        g = entry["depth_bgr"][..., 1].astype(np.float64)
        depth = (r * 256.0 + g) / (2**16 - 1) * 5.0
        ref = generate_sample(CONFIG, stream, sid)
        np.testing.assert_allclose(depth, ref["depth"], atol=0.5 * 5.0 / (2**16 - 1) + 1e-6)
        np.testing.assert_array_equal(entry["color"], ref["color"])
        np.testing.assert_array_equal(entry["mask"], ref["mask"])
        for key in ("xyz", "uv_vis", "K"):
            np.testing.assert_array_equal(entry[key], ref[key])


def test_splits_use_different_streams():
    train, evaluation = split_seed(0, "training"), split_seed(0, "evaluation")
    assert train != evaluation
    a, b = generate_sample(CONFIG, train, 0), generate_sample(CONFIG, evaluation, 0)
    assert not np.array_equal(a["xyz"], b["xyz"])
    with pytest.raises(ValueError, match="split must be one of"):
        split_seed(0, "validation")


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="second_hand_probability"):
        SyntheticConfig(second_hand_probability=1.5)
    with pytest.raises(ValueError, match="focal_range"):
        SyntheticConfig(focal_range=(400.0, 200.0))


def test_make_dataset_writes_rhd_layout_with_photo_backgrounds(tmp_path, monkeypatch):
    from hand3d_tf.data.synthetic import background, make

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(photos / f"p{i}.jpg"), rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    # Photos are drawn with probability 0.6 per sample: record which ones were really read
    # (one worker, so in this process; the seed makes the draws deterministic).
    loaded, load = [], background._load_photo

    def spy(path):
        loaded.append(path)
        return load(path)

    monkeypatch.setattr(background, "_load_photo", spy)
    out, preview = tmp_path / "synth", tmp_path / "preview.png"
    config = SyntheticConfig(generator_version=1, background_files=make.background_files(photos))
    logged = []
    written = make.make_dataset(out, 2, 1, seed=4, config=config, preview=preview,
                                preview_views=40, log=logged.append)  # fmt: skip
    assert written["preview"] == preview and len(logged) == 3
    assert "samples/s" in logged[0] and str(written["training"]) in logged[0]
    for split, count in (("training", 2), ("evaluation", 1)):
        assert len(list((out / split / "color").glob("*.png"))) == count
        assert (out / split / f"anno_{split}.pickle").is_file()
        manifest = json.loads((out / split / "manifest.json").read_text())
        assert manifest["generator_version"] == 1 and manifest["seed"] == 4
        assert manifest["count"] == count and manifest["split"] == split
        assert manifest["config"]["background_files"] == sorted(str(p) for p in photos.iterdir())
    sheet = cv2.imread(str(preview))
    # 16 samples as image | overlay pairs, then a row of view histograms.
    assert sheet.shape == (5 * 320, 4 * 2 * 320, 3)
    assert not list(out.glob(".*"))  # no temporary folders left behind
    assert loaded and set(loaded) <= {str(photos / "p0.jpg"), str(photos / "p1.jpg")}


def test_unreadable_background_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    config = SyntheticConfig(background_files=(str(bad),), background_image_probability=1.0)
    with pytest.raises(ValueError, match="broken.jpg"):
        generate_sample(config, 0, 0)


def test_v1_reproduces_recorded_samples():
    # Recorded before version 2 existed: version 1 must stay bit-for-bit the same.
    config = SyntheticConfig(generator_version=1)
    for entry in json.loads(V1_HASHES.read_text())["samples"]:
        sample = generate_sample(config, entry["seed"], entry["index"])
        for key, digest in entry["sha256"].items():
            got = hashlib.sha256(np.ascontiguousarray(sample[key]).tobytes()).hexdigest()
            assert got == digest, (entry["seed"], entry["index"], key)


def test_generator_version_is_validated_and_v2_is_default():
    assert SyntheticConfig().generator_version == 2
    with pytest.raises(ValueError, match="generator_version"):
        SyntheticConfig(generator_version=3)
    with pytest.raises(ValueError, match="off_axis_max_deg"):
        SyntheticConfig(off_axis_max_deg=0.0)


def _binomial_close(observed: float, expected: float, n: int) -> bool:
    """Within 4 standard deviations of a binomial proportion (and 0.01 slack)."""
    return abs(observed - expected) <= 4.0 * math.sqrt(expected * (1 - expected) / n) + 0.01


@pytest.mark.parametrize(
    "overrides",
    [{}, {"roll_sigma_deg": 20.0, "roll_uniform_probability": 0.3, "palm_probability": 0.8}],
    ids=["default", "narrow-roll-palm"],
)
def test_v2_view_distribution_matches_config(overrides):
    config = SyntheticConfig(**overrides)
    n = 600
    rolls, palms, off_axis, partial = [], [], [], 0
    for i in range(n):
        s = scenes.sample_scene(np.random.default_rng([21, i]), config)
        main = next(h for h in s.hands if h.side == s.main_side)
        assert main.present
        # Measured from the placed keypoints, not from the sampled angles.
        rolls.append(viewpoint.measured_roll_deg(render.project(main.xyz, s.K)))
        palms.append(main.palm_towards_camera)
        if main.partial:
            partial += 1
        else:
            off_axis.append(viewpoint.measured_off_axis_deg(main.xyz))
    rolls = np.abs(rolls)
    for limit in (45.0, 90.0, 135.0):
        expected = viewpoint.expected_roll_within(config, limit)
        assert _binomial_close(np.mean(rolls <= limit), expected, n), limit
    assert np.mean(rolls > 135.0) > 0.0  # the full range is still present
    assert _binomial_close(np.mean(palms), viewpoint.expected_palm_fraction(config), n)
    assert _binomial_close(partial / n, config.partial_probability, n)
    # Off-axis angle: truncated half-normal; perspective moves the palm centre a little.
    off_axis = np.array(off_axis)
    assert off_axis.max() <= config.off_axis_max_deg + 0.5
    assert 0.4 * config.off_axis_sigma_deg < np.median(off_axis) < config.off_axis_sigma_deg


def test_v2_is_nearer_the_axis_than_v1():
    def off_axis(version):
        config = SyntheticConfig(generator_version=version, partial_probability=0.0)
        angles = []
        for i in range(150):
            s = scenes.sample_scene(np.random.default_rng([22, i]), config)
            angles += [viewpoint.measured_off_axis_deg(h.xyz) for h in s.hands if h.present]
        return np.percentile(angles, 90)

    assert off_axis(2) < 0.75 * off_axis(1)


def test_round_cone_surface_is_exact():
    # A tapered finger segment: every hit pixel lies on the round cone's surface (distance
    # field 0) and the normal is the distance field's gradient.
    a, b = np.array([-0.05, 0.03, 0.5]), np.array([0.06, -0.04, 0.58])
    cone = scene.Capsule(a, b, 0.03, 5, np.full(3, 0.5), radius_b=0.012)
    buf = render.render([cone], K_TEST, 320)
    t = buf.depth[buf.rows, buf.cols]
    points = [t * (buf.cols - 159.5) / 300.0, t * (buf.rows - 159.5) / 300.0, t]
    table = smooth.cone_table([cone])
    dist, grad = smooth._closest(table, np.zeros(len(t), int), [np.float32(c) for c in points])
    assert len(t) > 1000
    assert np.abs(dist).max() < 2e-5  # metres; float32 ray casting
    np.testing.assert_allclose(np.stack(grad, axis=1), buf.normal, atol=1e-4)
    # The narrow end is narrower: fewer pixels near b than near a in the image.
    uv_a, uv_b = render.project(np.stack([a, b]), K_TEST)
    near_a = np.hypot(buf.cols - uv_a[0], buf.rows - uv_a[1]) < 15
    near_b = np.hypot(buf.cols - uv_b[0], buf.rows - uv_b[1]) < 15
    assert near_a.sum() > 1.5 * near_b.sum()


def test_v2_fingers_have_no_joint_seams():
    # An open flat hand facing the camera. Version 1's capsules change radius at each joint,
    # a step in the normals along the finger; version 2's round cones share the joint radius.
    hand = _flat_hand(kp.HAND_RIGHT)
    xyz = scene.place_hand(hand, PALM_TO_CAMERA, [0.0, 0.0, 0.35])
    skin = np.full(3, 0.7)
    jumps = {}
    for version in (1, 2):
        if version == 1:
            prims = scene.hand_primitives(hand, PALM_TO_CAMERA, xyz, skin)
        else:
            prims, *_ = hand_surface.hand_primitives(hand, PALM_TO_CAMERA, xyz, skin, nails=False)
        buf = render.render(prims, K_TEST, 320)
        normal = np.zeros((320, 320, 3), np.float32)
        normal[buf.rows, buf.cols] = buf.normal
        worst = []
        for finger in range(1, 5):
            classes = kp.MASK_RIGHT_FIRST + 3 * finger + np.arange(3)
            inside = np.isin(buf.class_map, classes).astype(np.uint8)
            inner = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # no silhouette pixels
            pairs = inner[1:] & inner[:-1]  # vertical neighbours: along the finger
            worst.append(np.linalg.norm(normal[1:] - normal[:-1], axis=2)[pairs].max())
        jumps[version] = max(worst)
    assert jumps[2] < 0.3 < jumps[1], jumps


def _split_files(split_dir: pathlib.Path) -> dict:
    return {p.relative_to(split_dir): p.read_bytes() for p in split_dir.rglob("*") if p.is_file()}


def test_writer_refuses_another_dataset_unless_overwrite(tmp_path):
    root = tmp_path / "d"
    write_dataset(root, "training", CONFIG, seed=0, count=2, progress=False)
    manifest = json.loads((root / "training" / "manifest.json").read_text())
    assert manifest["generator_version"] == 2 and manifest["seed"] == 0
    assert manifest["count"] == 2 and manifest["config"]["roll_sigma_deg"] == CONFIG.roll_sigma_deg
    before = _split_files(root / "training")
    with pytest.raises(synthetic.DatasetExistsError, match=r"training.*seed 0, 2 samples"):
        write_dataset(root, "training", CONFIG, seed=1, count=2, progress=False)
    assert _split_files(root / "training") == before
    # The same dataset may be written again; another one only with overwrite.
    write_dataset(root, "training", CONFIG, seed=0, count=2, progress=False)
    assert _split_files(root / "training") == before
    write_dataset(root, "training", CONFIG, seed=1, count=3, progress=False, overwrite=True)
    assert json.loads((root / "training" / "manifest.json").read_text())["seed"] == 1
    # A folder of files without a manifest (an older dataset, anything else) is refused too.
    (tmp_path / "old" / "training").mkdir(parents=True)
    (tmp_path / "old" / "training" / "anno_training.pickle").write_bytes(b"x")
    with pytest.raises(synthetic.DatasetExistsError, match="without a manifest"):
        write_dataset(tmp_path / "old", "training", CONFIG, seed=0, count=1, progress=False)
    assert not list(root.glob(".*")) and not list((tmp_path / "old").glob(".*"))


def test_make_dataset_checks_paths_and_existing_data_before_generating(tmp_path):
    from hand3d_tf.data.synthetic import make

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    cases = [
        (dict(preview=blocker / "preview.png"), ValueError, "cannot be written"),
        (dict(preview=tmp_path), ValueError, "is a folder"),
        (dict(preview=tmp_path / "p.jpg"), ValueError, r"must end in \.png"),
        (dict(seed=-1), ValueError, "seed must be non-negative"),
    ]
    out = tmp_path / "out"
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            make.make_dataset(out, 1, 0, **kwargs)
        assert not out.exists()  # nothing was generated, not even the folder
    with pytest.raises(ValueError, match="not_a_folder.*exists and is not a folder"):
        make.make_dataset(blocker, 1, 0)
    with pytest.raises(ValueError, match="holds no"):
        make.background_files(tmp_path)
    with pytest.raises(ValueError, match="is not a folder"):
        make.background_files(blocker)
    write_dataset(tmp_path / "existing", "training", CONFIG, seed=0, count=1, progress=False)
    existing = tmp_path / "existing"
    with pytest.raises(synthetic.DatasetExistsError, match="overwrite"):
        make.make_dataset(existing, 1, 1, seed=5)
    assert not (existing / "evaluation").exists()


def test_cli_in_a_subprocess_success_and_user_error(tmp_path):
    cli = [sys.executable, "-m", "hand3d_tf.cli.make_synthetic"]
    ok = subprocess.run([*cli, f"--output_dir={tmp_path / 'd'}", "--num_train=1", "--num_eval=0"],
                        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "training: 1 samples" in ok.stdout
    assert (tmp_path / "d" / "training" / "color" / "00000.png").is_file()
    bad = subprocess.run([*cli, f"--output_dir={tmp_path / 'e'}", f"--preview={tmp_path}"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"hand3d-make-synthetic: error: --preview: preview {str(tmp_path)!r} is a folder; "
        "give a .png file path"
    ]
    assert not (tmp_path / "e").exists()


def test_killed_writer_leaves_the_previous_dataset_intact(tmp_path):
    # A real hand3d-make-synthetic process replacing a dataset is SIGKILLed while it writes
    # images: the old split must stay complete, and its images must still match its labels.
    root = tmp_path / "d"
    write_dataset(root, "training", CONFIG, seed=0, count=3, progress=False)
    before = _split_files(root / "training")
    command = [
        sys.executable, "-m", "hand3d_tf.cli.make_synthetic", f"--output_dir={root}",
        "--num_train=3000", "--num_eval=0", "--seed=1", "--overwrite",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            temp = list(root.glob(".training.writing-*"))
            if temp and len(list((temp[0] / "color").glob("*.png"))) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the writer ended before it could be killed"
        assert temp, "the writer did not write into a temporary folder"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _split_files(root / "training") == before
    reader = RHDReader(root, "training", check_images="full")
    assert len(reader) == 3 and reader.manifest["seed"] == 0
    stream = split_seed(0, "training")
    for i in range(3):
        np.testing.assert_array_equal(
            reader.sample(i)["image"], generate_sample(CONFIG, stream, i)["color"]
        )
    # The next writer removes the dead one's temporary folder.
    write_dataset(root, "training", CONFIG, seed=0, count=3, progress=False)
    assert not list(root.glob(".training.*"))
