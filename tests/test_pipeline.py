"""ColorHandPose3D end to end on tiny random-weight networks (hand3d_tf/pipeline.py)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from hand3d_tf import glue
from hand3d_tf.pipeline import ColorHandPose3D, HandPoseResult, map_points, prepare_images
from tests.helpers import reference_cases

WIDTH = 0.125  # tiny nets: same interface, ~1/64 of the MACs


def smooth_images(seed: int, batch: int, hw=(240, 320)) -> np.ndarray:
    """uint8 RGB images of smooth random blobs (spatially coherent, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (batch, hw[0] // 16, hw[1] // 16, 3)).astype(np.float32)
    big = [cv2.resize(s, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC) for s in small]
    return np.clip(np.stack(big), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def nets():
    from hand3d_tf import models

    tf = pytest.importorskip("tensorflow")
    tf.random.set_seed(0)
    handsegnet = models.build("handsegnet", {"width": WIDTH})
    posenet = models.build("posenet", {"width": WIDTH})
    lifting = models.build("lifting", {"width": WIDTH})
    # Shift the hand logit so that about 15% of a textured image is "hand": a random
    # network otherwise tends to call everything or nothing a hand.
    logits = handsegnet(glue.normalize_image(smooth_images(0, 2)), training=False).numpy()
    head = handsegnet.get_layer("conv6_2")
    kernel, bias = head.get_weights()
    bias[1] -= np.quantile(logits[..., 1] - logits[..., 0], 0.85)
    head.set_weights([kernel, bias])
    return handsegnet, posenet, lifting


@pytest.fixture(scope="module")
def pipe(nets):
    return ColorHandPose3D(*nets)


def _assert_results_close(a: HandPoseResult, b: HandPoseResult):
    for field in dataclasses.fields(HandPoseResult):
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert x.shape == y.shape, field.name
        if x.dtype == bool:
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            np.testing.assert_allclose(x, y, atol=1e-4, rtol=1e-4, err_msg=field.name)


def test_batched_equals_per_image(pipe):
    images = smooth_images(1, 3)
    sides = ["left", "right", "left"]
    batched = pipe.predict(images, hand_side=sides)
    assert batched.hand_found.any(), "calibration should find a hand in some image"
    assert batched.hand_mask.mean() < 0.5
    for i, side in enumerate(sides):
        _assert_results_close(batched.take(i), pipe.predict(images[i], hand_side=side))


def test_result_shapes_and_frames(pipe):
    result = pipe.predict(smooth_images(2, 2))
    b = 2
    assert result.hand_scoremap.shape == (b, 240, 320, 2) and result.hand_mask.shape == (
        b,
        240,
        320,
    )
    assert result.crop.shape == (b, 256, 256, 3) and result.keypoint_scoremaps.shape == (
        b,
        32,
        32,
        21,
    )
    assert result.keypoints_uv.shape == (b, 21, 2) and result.keypoints_xyz.shape == (b, 21, 3)
    # uv = (x, y): back-projection of the crop arg-max, columns first.
    rowcol, scores = glue.keypoints_from_scoremaps(result.keypoint_scoremaps)
    center_rowcol = result.center_xy[:, ::-1]
    want = glue.crop_to_image(rowcol, center_rowcol, result.scale)
    np.testing.assert_allclose(result.keypoints_uv, want[..., ::-1])
    np.testing.assert_array_equal(result.keypoint_scores, scores)
    # Each stage alone gives what predict used.
    np.testing.assert_allclose(pipe.segment(smooth_images(2, 2)), result.hand_scoremap, atol=1e-5)
    np.testing.assert_allclose(pipe.pose2d(result.crop), result.keypoint_scoremaps, atol=1e-5)


def test_right_hand_xyz_is_the_left_formula_on_mirrored_canonical(pipe):
    scoremaps = pipe.predict(smooth_images(3, 2)).keypoint_scoremaps
    left, right = pipe.lift(scoremaps, "left"), pipe.lift(scoremaps, "right")
    mirror = np.array([1.0, 1.0, -1.0])
    np.testing.assert_allclose(left["xyz"], left["xyz_canonical"] @ left["rotation"], atol=1e-5)
    np.testing.assert_allclose(
        right["xyz"], (right["xyz_canonical"] * mirror) @ right["rotation"], atol=1e-5
    )
    assert np.abs(right["xyz"] - left["xyz"]).max() > 1e-3  # the hand side matters
    # predict() returns exactly the lifting output for its score maps.
    result = pipe.predict(smooth_images(3, 2), hand_side=np.array([[0, 1], [0, 1]]))
    np.testing.assert_allclose(result.keypoints_xyz, right["xyz"], atol=1e-5)


def test_blank_image_is_finite_with_hand_found_false(nets):
    from hand3d_tf import models

    no_hand = models.build("handsegnet", {"width": WIDTH})
    head = no_hand.get_layer("conv6_2")
    kernel, _ = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.array([5.0, -5.0], np.float32)])
    result = ColorHandPose3D(no_hand, *nets[1:]).predict(np.zeros((240, 320, 3), np.uint8))
    assert not result.hand_found[0] and not result.hand_mask.any()
    for field in dataclasses.fields(HandPoseResult):
        value = getattr(result, field.name)
        assert value.dtype == bool or np.all(np.isfinite(value)), field.name
    np.testing.assert_array_equal(result.center_xy[0], [160.0, 160.0])  # the original's fallback
    np.testing.assert_allclose(result.scale[0], 2.048, rtol=1e-6)
    assert result.record(0)["mask_bbox_xyxy"] is None


def test_pipeline_reproduces_the_original_glue_numbers(nets):
    """Fake networks return the reference's maps: predict must give the original's numbers."""
    cases = reference_cases("glue_cases.npz")

    def handsegnet(x, training=False):
        np.testing.assert_allclose(x, cases["images"] / 255.0 - 0.5, atol=1e-6)
        return cases["hand_scoremap"]

    def posenet(crops, training=False):
        np.testing.assert_allclose(crops, cases["crop"], atol=2e-5)
        return [cases["posenet_stage3"]]

    result = ColorHandPose3D(handsegnet, posenet, nets[2]).predict(
        cases["images"], cases["hand_side"]
    )
    np.testing.assert_array_equal(result.center_xy, cases["center_rowcol"][:, ::-1])
    np.testing.assert_allclose(result.scale, cases["scale"], rtol=1e-6)
    np.testing.assert_allclose(result.keypoints_uv, cases["keypoints_rowcol"][..., ::-1], atol=1e-5)
    np.testing.assert_array_equal(result.hand_found, [False, True, True, True, False])


def test_stride8_head_is_upsampled_by_the_glue(nets, pipe):
    from hand3d_tf import models

    coarse = models.build("handsegnet", {"width": WIDTH, "upsample": False})
    coarse.set_weights(nets[0].get_weights())
    images = smooth_images(4, 1)
    np.testing.assert_allclose(
        ColorHandPose3D(coarse, *nets[1:]).segment(images), pipe.segment(images), atol=1e-5
    )


def test_other_sizes_are_resized_and_mapped_back(pipe):
    small = smooth_images(5, 1)
    big = np.stack([cv2.resize(small[0], (640, 480), interpolation=cv2.INTER_NEAREST)])
    # INTER_LINEAR 2x down of a nearest 2x up is not the identity; compare against the
    # network run on exactly the image the pipeline feeds it.
    fed = cv2.resize(big[0], (320, 240), interpolation=cv2.INTER_LINEAR)
    at_size, resized = pipe.predict(fed), pipe.predict(big)
    assert resized.hand_scoremap.shape == (1, 480, 640, 2) and resized.hand_mask.shape == (
        1,
        480,
        640,
    )
    want_rowcol = map_points(at_size.keypoints_uv[..., ::-1], (240, 320), (480, 640))
    np.testing.assert_allclose(resized.keypoints_uv, want_rowcol[..., ::-1], atol=1e-6)
    np.testing.assert_allclose(resized.center_xy, 2 * at_size.center_xy + 0.5)
    np.testing.assert_allclose(resized.scale, at_size.scale / 2)
    np.testing.assert_allclose(resized.keypoints_xyz, at_size.keypoints_xyz)
    assert pipe._network_images(fed[None]) is not None
    np.testing.assert_array_equal(pipe._network_images(fed[None]), fed[None])  # no resize


def test_input_conversions_and_errors(pipe):
    rgb = smooth_images(6, 1)[0]
    gray = rgb[..., 0]
    images, single = prepare_images(gray)
    assert single and images.shape == (1, 240, 320, 3)
    np.testing.assert_array_equal(images[0, ..., 2], gray)
    rgba = np.concatenate([rgb, np.full((240, 320, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(prepare_images(rgba)[0][0], rgb)
    with pytest.raises(ValueError, match="uint8"):
        pipe.predict(rgb.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="empty"):
        pipe.predict(np.zeros((0, 240, 320, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        pipe.predict(np.zeros((240, 320, 5), np.uint8))
    with pytest.raises(ValueError, match="hand side"):
        pipe.predict(rgb, hand_side="up")
    with pytest.raises(ValueError, match="one-hot"):
        pipe.predict(rgb, hand_side=np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="rows for a batch"):
        pipe.predict(rgb, hand_side=np.array([[1, 0], [0, 1]]))


def test_missing_weights_name_the_path(tmp_path, monkeypatch):
    from hand3d_tf import pipeline

    monkeypatch.setattr(pipeline, "DEFAULT_WEIGHTS_DIR", tmp_path / "default")
    with pytest.raises(FileNotFoundError, match="default"):
        ColorHandPose3D.from_pretrained()
    with pytest.raises(FileNotFoundError, match="handsegnet.npz"):
        ColorHandPose3D.from_weights_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.pickle"):
        ColorHandPose3D.from_original_weights(tmp_path / "nope.pickle", tmp_path / "nope.pickle")


@pytest.mark.slow
def test_full_size_from_original_pickles(tmp_path):
    """Full-size nets through from_original_weights (pickles in the released key scheme)."""
    import pickle

    from hand3d_tf import models, weights

    nets = [models.HandSegNet(), models.PoseNet(), models.Lifting("proposed")]
    assert sum(n.count_params() for n in nets) == 34_996_515  # docs/original.md §12
    values = weights.model_weights(nets)
    hand = {k: v for k, v in values.items() if k.startswith("HandSegNet/")}
    rest = {k: v for k, v in values.items() if not k.startswith("HandSegNet/")}
    assert (len(hand), len(rest)) == (32, 102)  # docs/original.md §4
    for name, part in (("hand.pickle", hand), ("pose.pickle", rest)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump(part, f, protocol=2)
    loaded = ColorHandPose3D.from_original_weights(
        tmp_path / "hand.pickle", tmp_path / "pose.pickle"
    )
    image = smooth_images(7, 1)
    _assert_results_close(loaded.predict(image), ColorHandPose3D(*nets).predict(image))


# --- backends: which one from_pretrained / from_dir pick, and their errors -----------------


def _bundled_copy(tmp_path, pattern="*"):
    """A copy of the bundled weights/default files matching ``pattern``."""
    import shutil

    from hand3d_tf import pipeline

    folder = tmp_path / "default"
    folder.mkdir(parents=True)
    for path in pipeline.DEFAULT_WEIGHTS_DIR.glob(pattern):
        shutil.copy(path, folder / path.name)
    return folder


def test_backend_choice_auto_tflite_keras(tmp_path, monkeypatch):
    from hand3d_tf import pipeline
    from hand3d_tf.lite import backend

    bundled = pipeline.DEFAULT_WEIGHTS_DIR
    assert backend.has_tflite(bundled), "weights/default ships <net>_fp32.tflite (issue 17)"
    assert pipeline.resolve_backend(bundled) == "tflite"
    assert pipeline.resolve_backend(bundled, "keras") == "keras"
    npz_only = _bundled_copy(tmp_path, "*.npz")
    assert pipeline.resolve_backend(npz_only) == "keras"
    assert pipeline.resolve_backend(npz_only, "tflite") == "tflite"  # refused when loading
    assert pipeline.resolve_backend(bundled, mode="qat") == "keras"  # no qat files shipped
    # Fixed TFLite shapes: another input size, or any size (None), runs in Keras.
    assert pipeline.resolve_backend(bundled, input_size=(120, 160)) == "keras"
    assert pipeline.resolve_backend(bundled, input_size=None) == "keras"
    assert pipeline.resolve_backend(bundled, "tflite", input_size=None) == "tflite"
    monkeypatch.setattr(backend, "runtime_installed", lambda: False)
    assert pipeline.resolve_backend(bundled) == "keras"
    with pytest.raises(ValueError, match=r"backend must be one of \['auto', 'tflite', 'keras'\]"):
        pipeline.resolve_backend(bundled, "onnx")
    with pytest.raises(ValueError, match="TFLite mode must be one of .*'int4'"):
        pipeline.resolve_backend(bundled, mode="int4")


def test_from_pretrained_backends_and_errors(tmp_path, monkeypatch):
    from hand3d_tf import pipeline
    from hand3d_tf.lite.backend import TfliteBackendError

    lite = ColorHandPose3D.from_pretrained()  # auto: the TFLite files are bundled
    assert lite.source["backend"] == "tflite" and lite.source["mode"] == "fp32"
    assert lite.source["files"]["posenet"] == "posenet_fp32.tflite"
    assert lite.input_size == (240, 320)
    assert ColorHandPose3D.from_pretrained(backend="tflite").source["backend"] == "tflite"
    built = []
    monkeypatch.setattr(ColorHandPose3D, "from_weights_dir",
                        lambda path, input_size: built.append(path) or "keras pipe")  # fmt: skip
    assert ColorHandPose3D.from_pretrained(backend="keras") == "keras pipe"
    assert built == [pipeline.DEFAULT_WEIGHTS_DIR]
    with pytest.raises(ValueError, match="input_size .* differs from the TFLite HandSegNet"):
        ColorHandPose3D.from_pretrained(input_size=(120, 160), backend="tflite")
    assert ColorHandPose3D.from_pretrained(input_size=(120, 160)) == "keras pipe"  # auto
    assert ColorHandPose3D.from_pretrained(input_size=None) == "keras pipe"
    with pytest.raises(ValueError, match="backend must be one of"):
        ColorHandPose3D.from_pretrained(backend="tf")
    # A folder without the TFLite files: auto falls back to Keras, tflite names what lacks.
    monkeypatch.setattr(pipeline, "DEFAULT_WEIGHTS_DIR", _bundled_copy(tmp_path, "*.npz"))
    assert ColorHandPose3D.from_pretrained() == "keras pipe"
    with pytest.raises(TfliteBackendError, match=r"lacks \['handsegnet_fp32.tflite', "):
        ColorHandPose3D.from_pretrained(backend="tflite")


def test_tflite_files_that_do_not_fit_are_refused(tmp_path):
    from hand3d_tf.lite.backend import TfliteBackendError
    from hand3d_tf.lite.sidecar import SidecarError

    stale = _bundled_copy(tmp_path / "a")
    np.savez(stale / "posenet.npz", retrained=np.zeros(3))  # new weights, not re-exported
    with pytest.raises(TfliteBackendError, match="posenet_fp32.json was exported from other "
                       r"weights than .*posenet.npz .*re-export"):  # fmt: skip
        ColorHandPose3D.from_tflite_dir(stale)
    swapped = _bundled_copy(tmp_path / "b")
    (swapped / "lifting_fp32.tflite").write_bytes((swapped / "posenet_fp32.tflite").read_bytes())
    with pytest.raises(SidecarError, match="lifting_fp32.json: model_bytes"):
        ColorHandPose3D.from_tflite_dir(swapped)
    with pytest.raises(TfliteBackendError, match="not found"):
        ColorHandPose3D.from_tflite_dir(tmp_path / "nothing")
