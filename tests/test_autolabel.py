"""hand3d-autolabel (hand3d_tf/autolabel.py): masks, the RHD-format output and its use by the
readers and pipelines, errors and atomic writes; a stubbed teacher on photo-like fixtures
drawn here, and one real run on two bundled photographs (tests/data/real_hands/)."""

from __future__ import annotations

import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest

from hand3d_tf import autolabel as al
from hand3d_tf import teacher as tc
from tests.helpers import run_cli

REAL = pathlib.Path(__file__).parent / "data" / "real_hands"
SKIN = (205, 150, 120)


def draw_hand(h=240, w=320, background="plain", seed=0, flip=False):
    """A photo-like fixture: an upright hand (palm and five fingers in skin colour, with an
    arm below the wrist) on a plain lit wall or on clutter; returns (RGB image, hand pixels
    (bool, no arm), keypoints [21, 2] RHD order with the wrist first)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if background == "plain":
        wall = 200 + 25 * (xx / w) - 15 * (yy / h)
        image = np.stack([wall, wall * 0.97, wall * 0.92], -1)
    else:
        image = rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.float32)
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)
    wrist = np.array([w * 0.5, h * 0.78])
    hand = np.zeros((h, w), np.uint8)
    cv2.ellipse(hand, (int(wrist[0]), int(wrist[1] - 35)), (32, 38), 0, 0, 360, 1, -1)
    uv = np.zeros((21, 2))
    uv[0] = wrist
    bases_x = (-38, -18, 0, 18, 34)
    lengths = (45, 70, 78, 70, 55)
    for f in range(5):
        base = wrist + np.array([bases_x[f], -55.0 if f else -25.0])
        direction = np.array([-0.8, -0.6]) if f == 0 else np.array([bases_x[f] * 0.004, -1.0])
        direction /= np.linalg.norm(direction)
        tip = base + direction * lengths[f]
        cv2.line(hand, tuple(base.astype(int)), tuple(tip.astype(int)), 1, 15 if f else 17)
        for j in range(4):  # RHD: tip, dip, pip, mcp
            uv[1 + 4 * f + j] = tip + (base - tip) * (j / 3.0)
    arm = np.zeros((h, w), np.uint8)
    cv2.rectangle(arm, (int(wrist[0] - 28), int(wrist[1] + 10)), (int(wrist[0] + 28), h), 1, -1)
    skin = np.array(SKIN, np.float32) * (0.9 + 0.1 * rng.random((h, w, 1)))
    body = (hand | arm) > 0
    image[body] = skin[body]
    image = np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)
    hand_px = hand > 0
    if flip:
        image, hand_px = image[:, ::-1].copy(), hand_px[:, ::-1].copy()
        uv[:, 0] = w - 1 - uv[:, 0]
    return image, hand_px, uv


class StubTeacher:
    """Returns the fixture's own keypoints as a kept label (the side from the file name)."""

    def __init__(self, labels):
        self.labels = labels  # file stem -> (uv, side) or None (no hand)


def stub_label_hands(monkeypatch, labels):
    def label_hands(teacher, image, rule=None, max_hands=2):
        key = image.shape, int(image.sum())
        entry = labels.get(key)
        if entry is None:
            return []
        uv, side, kept = entry
        return [tc.HandLabel(uv=uv, side=side, right_prob=0.95 if side else 0.05, presence=0.99,
                             spread=0.01, size=tc.hand_size(uv), kept=kept,
                             reason="" if kept else "presence 0.20 < 0.9",
                             roi_source="palm")]  # fmt: skip

    monkeypatch.setattr(tc, "label_hands", label_hands)


@pytest.fixture
def photo_folder(tmp_path, monkeypatch):
    """Three drawn photos (plain left hand, plain right hand, cluttered), one unlabelled
    photo (no hand) and a corrupt file; the teacher is stubbed with the drawn keypoints."""
    folder = tmp_path / "photos"
    folder.mkdir()
    labels, truth = {}, {}
    specs = [("a_plain", "plain", False, 0), ("b_plain_right", "plain", True, 1),
             ("c_clutter", "clutter", False, 0)]  # fmt: skip
    for name, bg, flip, side in specs:
        image, hand_px, uv = draw_hand(background=bg, seed=len(name), flip=flip)
        cv2.imwrite(str(folder / f"{name}.png"), image[..., ::-1])
        labels[(image.shape, int(image.sum()))] = (uv, side, True)
        truth[name] = (hand_px, uv, side)
    empty = np.full((120, 160, 3), 180, np.uint8)
    cv2.imwrite(str(folder / "d_empty.png"), empty)
    (folder / "e_broken.jpg").write_bytes(b"not a jpeg")
    stub_label_hands(monkeypatch, labels)
    return folder, truth


def test_keyed_mask_is_trusted_on_a_plain_wall_and_follows_the_hand():
    image, hand_px, uv = draw_hand()
    fg, origin, trusted = al.make_mask(image, uv, "auto")
    assert origin == "key" and trusted
    hand, arm = al.split_arm(fg, uv)
    iou = (hand & hand_px).sum() / (hand | hand_px).sum()
    assert iou > 0.8, iou
    assert arm.sum() > 0 and not (arm & hand_px).any()  # the arm is cut off at the wrist


def test_clutter_gets_an_untrusted_grabcut_mask():
    image, hand_px, uv = draw_hand(background="clutter", seed=3)
    fg, origin, trusted = al.make_mask(image, uv, "auto")
    assert origin == "grabcut" and not trusted
    assert fg[hand_px].mean() > 0.5  # seeded by the keypoints: most of the hand is in it
    assert al.make_mask(image, uv, "key")[0] is None
    assert al.make_mask(image, uv, "none") == (None, "none", False)


def test_autolabel_writes_an_rhd_split_the_readers_use(photo_folder, tmp_path):
    folder, truth = photo_folder
    out = tmp_path / "out"
    config = al.AutolabelConfig(input=str(folder), output_dir=str(out))
    report = al.autolabel(config, teacher=object(), progress=False)
    assert (report.images, report.kept, report.no_hand, report.unreadable) == (5, 3, 1, 1)
    assert report.sides == {"left": 2, "right": 1}

    from hand3d_tf.data.rhd import RHDReader

    reader = RHDReader(out, "training")
    assert len(reader) == 3 and reader.manifest["generator"] == "hand3d-autolabel"
    np.testing.assert_array_equal(reader.hand_side, [0, 1, 0])
    np.testing.assert_array_equal(reader.mask_trusted, [True, True, False])
    assert not reader.has_xyz and np.isnan(reader.xyz).all()  # no 3D label is made up
    # Keypoints: letterboxed 240x320 -> 320x320 (scale 1, 40 px down), in the hand's slot.
    _, uv, _ = truth["a_plain"]
    np.testing.assert_allclose(reader.uv[0, :21], uv + [0, 40], atol=1e-4)
    assert reader.vis[0, :21].all() and not reader.vis[0, 21:].any()
    _, uv_r, _ = truth["b_plain_right"]
    np.testing.assert_allclose(reader.uv[1, 21:], uv_r + [0, 40], atol=1e-4)
    # The mask's hand class follows the side; the letterbox bars are background.
    mask = reader.sample(0)["mask"]
    assert set(np.unique(mask)) <= {0, 1, 2} and (mask == 2).sum() > 1000
    assert (reader.sample(1)["mask"] == 18).sum() > 1000
    assert not mask[:40].any() and not mask[280:].any()
    labels = json.loads((out / "training" / "labels.json").read_text())
    dropped = {
        pathlib.Path(s["source"]).name: s["dropped"] for s in labels["samples"] if "dropped" in s
    }
    assert dropped == {"d_empty.png": "no hand found", "e_broken.jpg": "unreadable image"}
    assert (out / "training" / "preview.png").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_labelled_photos_train_posenet_and_trusted_masks_only_handsegnet(photo_folder, tmp_path):
    folder, _ = photo_folder
    out = tmp_path / "out"
    al.autolabel(al.AutolabelConfig(input=str(folder), output_dir=str(out)), teacher=object(),
                 progress=False)  # fmt: skip
    import dataclasses

    from hand3d_tf.data import pipelines
    from hand3d_tf.data.rhd import RHDReader
    from hand3d_tf.training import inputs, presets

    source = RHDReader(out, "training").to_source()
    batch = next(
        iter(
            pipelines.posenet_dataset(source, pipelines.preset("posenet_rhd", batch_size=3, seed=0))
        )
    )
    maps = batch[1]["scoremap"].numpy()
    assert np.isfinite(maps).all() and maps.max() > 0.9  # the labelled keypoints make targets
    with pytest.raises(ValueError, match="2D-only"):
        next(iter(pipelines.lifting_dataset(source, pipelines.preset("lifting_rhd", batch_size=3))))
    base = presets.TrainConfig(net="handsegnet", dataset="rhd", data_dir=str(out), batch_size=2,
                               num_steps=1, output_dir=str(tmp_path / "run"), precision="float32")  # fmt: skip
    data = inputs.dataset_data(base)
    assert data.num_train == 2  # the grabCut mask of the cluttered photo is left out
    with pytest.raises(inputs.NoSamplesError, match="3D labels"):
        inputs.dataset_data(dataclasses.replace(base, net="lifting"))


def test_several_data_dirs_are_mixed(photo_folder, tmp_path):
    folder, _ = photo_folder
    out = tmp_path / "out"
    al.autolabel(al.AutolabelConfig(input=str(folder), output_dir=str(out)), teacher=object(),
                 progress=False)  # fmt: skip
    from hand3d_tf.data.samples import concat_sources
    from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset
    from hand3d_tf.training import inputs, presets

    synth = tmp_path / "synth"
    write_dataset(synth, "training", SyntheticConfig(), seed=0, count=4, progress=False)
    config = presets.TrainConfig(net="posenet", dataset="synthetic", data_dir=f"{synth},{out}",
                                 batch_size=2, num_steps=1, output_dir=str(tmp_path / "run"),
                                 precision="float32")  # fmt: skip
    source = inputs._open_split(config, "training")
    assert len(source) == 7 and source.hand_side is not None
    assert list(source.ids) == list(range(7))
    assert list(source.mask_trusted) == [True] * 6 + [False]
    with pytest.raises(ValueError, match="differ"):
        import dataclasses

        concat_sources([source, dataclasses.replace(source, image_hw=(240, 320))])


def test_bad_inputs_and_outputs_are_one_line_errors(tmp_path, monkeypatch):
    stub_label_hands(monkeypatch, {})
    with pytest.raises(al.AutolabelInputError, match="does not exist"):
        al.list_inputs(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(al.AutolabelInputError, match="holds no image"):
        al.list_inputs(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(al.AutolabelInputError, match="neither an image"):
        al.list_inputs(tmp_path / "notes.txt")
    # No photo gives a label: nothing is written.
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "x.png"), np.full((50, 60, 3), 99, np.uint8))
    out = tmp_path / "out"
    with pytest.raises(al.AutolabelInputError, match="no photo gave a label"):
        al.autolabel(al.AutolabelConfig(input=str(folder), output_dir=str(out)), teacher=object(),
                     progress=False)  # fmt: skip
    assert not (out / "training").exists() and not list(out.iterdir())
    with pytest.raises(ValueError, match="mask_mode"):
        al.AutolabelConfig(input="x", output_dir="y", mask_mode="magic")


def test_an_interrupted_run_leaves_the_previous_split(photo_folder, tmp_path, monkeypatch):
    folder, _ = photo_folder
    out = tmp_path / "out"
    config = al.AutolabelConfig(input=str(folder), output_dir=str(out))
    al.autolabel(config, teacher=object(), progress=False)
    before = (out / "training" / "anno_training.pickle").read_bytes()
    with pytest.raises(al.AutolabelInputError, match="already holds"):
        al.autolabel(config, teacher=object(), progress=False)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = al.label_sample
    monkeypatch.setattr(al, "label_sample", failing)
    import dataclasses

    with pytest.raises(KeyboardInterrupt):
        al.autolabel(dataclasses.replace(config, overwrite=True), teacher=object(), progress=False)
    assert (out / "training" / "anno_training.pickle").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["training"]


def test_cli_help_and_user_errors(tmp_path):
    out = run_cli("autolabel", "--help")
    assert out.returncode == 0 and "hand3d-autolabel --input=" in out.stdout
    out = run_cli("autolabel", f"--input={tmp_path / 'nope'}", f"--output_dir={tmp_path / 'o'}")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--input=" in out.stderr
    out = run_cli("autolabel", f"--input={tmp_path}", f"--output_dir={tmp_path / 'o'}")
    assert out.returncode == 2 and "holds no image" in out.stderr


def test_real_run_on_two_bundled_photographs(tmp_path):
    """The real teacher on two Apache-2.0 photos of plain walls: both labelled, keyed masks."""
    folder = tmp_path / "photos"
    shutil.copytree(REAL, folder, ignore=shutil.ignore_patterns("*.md"))
    out = run_cli("autolabel", f"--input={folder}", f"--output_dir={tmp_path / 'out'}",
                  "--noprogress")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2 labelled samples kept (0 left, 2 right)" in out.stdout
    from hand3d_tf.data.rhd import RHDReader

    reader = RHDReader(tmp_path / "out", "training")
    assert list(reader.hand_side) == [1, 1]
    # five.jpg: a plain wall, keyed and trusted; zero.jpg: the arm's shadow makes the wall
    # uneven (the fit's residual is too large), so its grabCut mask is kept but not trusted.
    assert list(reader.mask_trusted) == [True, False]
    for i in range(1):
        mask = reader.sample(i)["mask"]
        uv = reader.uv[i, 21:]
        inside = mask[np.clip(uv[:, 1].astype(int), 0, 319), np.clip(uv[:, 0].astype(int), 0, 319)]
        assert (inside == al.CLASS_RIGHT).mean() >= 0.8


def test_composites_paste_keyed_hands_with_labels_that_follow(photo_folder, tmp_path):
    folder, _ = photo_folder
    hands = tmp_path / "hands"
    al.autolabel(al.AutolabelConfig(input=str(folder), output_dir=str(hands)), teacher=object(),
                 progress=False)  # fmt: skip
    backgrounds = tmp_path / "bg"
    backgrounds.mkdir()
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    cv2.imwrite(str(backgrounds / "room.jpg"), photo)
    # A hand box covers the right side: crops come from the left 250 px (box - 25 %).
    (backgrounds / "room.xml").write_text(
        "<annotation><object><bndbox><xmin>290</xmin><ymin>0</ymin><xmax>399</xmax>"
        "<ymax>299</ymax></bndbox></object></annotation>"
    )
    (backgrounds / "full.jpg").write_bytes((backgrounds / "room.jpg").read_bytes())
    (backgrounds / "full.xml").write_text(  # no crop is clear of this hand: never used
        "<annotation><object><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>399</xmax>"
        "<ymax>299</ymax></bndbox></object></annotation>"
    )
    from hand3d_tf.data import composite
    from hand3d_tf.data.rhd import RHDReader

    crop = composite.background_crop(backgrounds / "room.jpg", np.random.default_rng(0))
    assert crop.shape == (320, 320, 3)
    assert composite.background_crop(backgrounds / "full.jpg", np.random.default_rng(0)) is None
    out = tmp_path / "comp"
    n = composite.write_composites([str(hands)], str(backgrounds), None, str(out), count=6, seed=0)
    reader = RHDReader(out, "training")
    assert n == len(reader) == 6 and reader.mask_trusted.all() and not reader.has_xyz
    labels = json.loads((out / "training" / "labels.json").read_text())
    assert {s["background"] for s in labels["samples"]} == {"room.jpg"}
    (backgrounds / "room.jpg").unlink()
    with pytest.raises(ValueError, match="clear of hands"):  # not an endless search
        composite.write_composites([str(hands)], str(backgrounds), None, str(tmp_path / "c2"), 2)
    for i in range(6):
        s = reader.sample(i)
        side = int(reader.hand_side[i])
        uv, vis = s["uv"][21 * side : 21 * side + 21], s["vis"][21 * side : 21 * side + 21]
        hand_class = al.CLASS_RIGHT if side else al.CLASS_LEFT
        assert (s["mask"] == hand_class).sum() > 200
        inside = uv[vis].astype(int)
        # The pasted keypoints land on the pasted hand (or its feathered edge).
        on_hand = s["mask"][inside[:, 1], inside[:, 0]] > 0
        assert on_hand.mean() >= 0.8, (i, on_hand.mean())
