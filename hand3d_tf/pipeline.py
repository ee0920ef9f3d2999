"""ColorHandPose3D: RGB image -> hand mask -> crop -> 2D keypoints -> 3D keypoints (docs/original.md §5).

    from hand3d_tf import ColorHandPose3D
    pipe = ColorHandPose3D.from_original_weights("handsegnet-rhd.pickle",
                                                 "posenet3d-rhd-stb-slr-finetuned.pickle")
    result = pipe.predict(images, hand_side="left")   # uint8 RGB [H, W, 3] or [B, H, W, 3]

The networks sit behind a backend (hand3d_tf/runtime/backends.py): tf_keras models (the
"keras" backend: ``from_weights_dir``, ``from_original_weights``) or exported model files
(the "tflite" backend: ``from_tflite_dir``, no TensorFlow at all; ONNX files in the
benchmark harness); ``from_pretrained(backend="auto")`` picks tflite when the bundled folder
holds the files. Every backend runs the one stage sequence of hand3d_tf/runtime/stages.py
(the NumPy glue of ``hand3d_tf.glue`` between the networks, so the numbers are the original
TF 1.3 code's, quirks included; each stage once per batch), and every constructor is a thin
wrapper over the one loader, ``hand3d_tf.runtime.load``. This module imports no TensorFlow
itself: the Keras backend imports the model and weight modules on demand.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import sys

import cv2
import numpy as np

from hand3d_tf import glue
from hand3d_tf import keypoints as kp
from hand3d_tf.constants import DEFAULT_INPUT_SIZE
from hand3d_tf.runtime import backends, loader, stages
from hand3d_tf.runtime.loader import WEIGHT_STEMS  # noqa: F401 (re-exported)

# Smallest image side predict() accepts: a smaller image, upscaled to the network input,
# holds no hand detail (a 1x1 image gives confident-looking garbage), and HandSegNet's
# stride-8 trunk needs several cells per side when run at the image's own size.
MIN_IMAGE_SIDE = 32


def bundled_weights_root() -> pathlib.Path:
    """The folder holding the bundled model (``default/``), its card and the demo image.

    ``weights/`` of a source checkout (the Makefile's editable install), else the copy a wheel
    installs under ``<sys.prefix>/share/hand3d_tf/weights`` (setup.py ``data_files``). When
    neither holds ``default/`` the checkout path is returned, so errors name where it belongs.
    """
    checkout = pathlib.Path(__file__).resolve().parent.parent / "weights"
    installed = pathlib.Path(sys.prefix) / "share" / "hand3d_tf" / "weights"
    for root in (checkout, installed):
        if (root / "default").is_dir():
            return root
    return checkout


BUNDLED_WEIGHTS_ROOT = bundled_weights_root()
DEFAULT_WEIGHTS_DIR = BUNDLED_WEIGHTS_ROOT / "default"


@dataclasses.dataclass(frozen=True)
class HandPoseResult:
    """What ``ColorHandPose3D.predict`` returns; every field has the batch axis first.

    Pixel quantities are in the caller's image frame (the image given to ``predict``).
      hand_scoremap: [B, H, W, 2] float32 HandSegNet logits (0 background, 1 hand).
      hand_mask: [B, H, W] bool, the single hand blob.
      hand_found: [B] bool; False = empty mask, the original's fallback crop was used.
      center_xy: [B, 2] float64 crop centre (x = column, y = row) in pixels.
      scale: [B] float64 crop pixels per image pixel (crop side = 256 / scale pixels).
      crop: [B, 256, 256, 3] float32 in -0.5...0.5, the PoseNet input.
      keypoint_scoremaps: [B, 32, 32, 21] float32 PoseNet's last stage, raw.
      keypoints_uv: [B, 21, 2] float64 (x, y) pixels, RHD order (hand3d_tf.keypoints).
      keypoint_scores: [B, 21] float32 maximum of each upsampled score map (not calibrated).
      keypoints_xyz: [B, 21, 3] float32 root-relative (palm centre) coordinates in camera
        axes, scaled so that bone 12->11 has length 1 (docs/original.md §3, §6).
    """

    hand_scoremap: np.ndarray
    hand_mask: np.ndarray
    hand_found: np.ndarray
    center_xy: np.ndarray
    scale: np.ndarray
    crop: np.ndarray
    keypoint_scoremaps: np.ndarray
    keypoints_uv: np.ndarray
    keypoint_scores: np.ndarray
    keypoints_xyz: np.ndarray

    def __len__(self) -> int:
        return int(self.hand_found.shape[0])

    def take(self, index: int) -> HandPoseResult:
        """The result of one image, batch axis kept (size 1)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a batch of {len(self)}")
        sl = slice(index, index + 1) if index != -1 else slice(-1, None)
        return HandPoseResult(
            **{f.name: getattr(self, f.name)[sl] for f in dataclasses.fields(self)}
        )

    def record(self, index: int = 0) -> dict:
        """A JSON-ready dict of one image's result; non-finite numbers become None.

        Keys: hand_found, center_xy, scale, mask_bbox_xyxy (inclusive pixels or None),
        keypoint_names, keypoints_uv, keypoint_scores, keypoints_xyz (normalised,
        root-relative; root = palm centre).
        """
        mask = self.hand_mask[index]
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        bbox = (
            None if rows.size == 0 else [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]
        )
        return {
            "hand_found": bool(self.hand_found[index]),
            "center_xy": _finite_list(self.center_xy[index]),
            "scale": _finite_list(self.scale[index]),
            "mask_bbox_xyxy": bbox,
            "keypoint_names": list(kp.KEYPOINT_NAMES),
            "keypoint_root": kp.ROOT_PALM,
            "keypoints_uv": _finite_list(self.keypoints_uv[index]),
            "keypoint_scores": _finite_list(self.keypoint_scores[index]),
            "keypoints_xyz": _finite_list(self.keypoints_xyz[index]),
        }


def _finite_list(values):
    """Nested lists of Python floats with NaN/inf replaced by None (strict JSON)."""
    array = np.asarray(values, np.float64)
    if array.ndim == 0:
        return float(array) if np.isfinite(array) else None
    return [_finite_list(v) for v in array]


# --- input checks and frames ---------------------------------------------------------------


def prepare_images(images) -> tuple[np.ndarray, bool]:
    """Validate images and convert them to uint8 RGB [B, H, W, 3].

    Accepted: uint8 arrays [H, W, 3] or [B, H, W, 3]; grayscale [H, W], [H, W, 1] or
    [B, H, W, 1] is repeated to RGB; RGBA drops its alpha channel (not composited).
    Float or other integer images are refused (their value range is ambiguous), and so
    are images with a side below MIN_IMAGE_SIDE (32) pixels.
    Returns (images, was_single_image).
    """
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 RGB (0..255); received dtype {array.dtype}. Convert float "
            "images in [0, 1] with (image * 255).round().astype(np.uint8)"
        )
    if array.size == 0:
        raise ValueError(f"images is empty; received shape {array.shape}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim not in (3, 4) or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "images must be [H, W], [H, W, C] or [B, H, W, C] with C in (1, 3, 4) "
            f"(gray, RGB, RGBA); received shape {array.shape}"
        )
    single = array.ndim == 3
    array = array[None] if single else array
    if min(array.shape[1:3]) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"images must be at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels; received "
            f"{array.shape[1]}x{array.shape[2]} (too small to hold a hand at the network's "
            "resolution)"
        )
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]
    return np.ascontiguousarray(array), single


def hand_side_batch(hand_side, batch: int) -> np.ndarray:
    """ "left" / "right" / a sequence of them / one-hot [2] or [B, 2] -> float32 [B, 2]."""
    if isinstance(hand_side, str):
        return np.repeat(kp.hand_side_one_hot(hand_side)[None], batch, axis=0)
    if (
        isinstance(hand_side, (list, tuple))
        and hand_side
        and all(isinstance(s, str) for s in hand_side)
    ):
        sides = np.stack([kp.hand_side_one_hot(s) for s in hand_side])
    else:
        try:
            sides = np.asarray(hand_side, dtype=np.float32)
        except (TypeError, ValueError):
            sides = np.zeros((0,), np.float32)  # reported as not one-hot below
        if sides.shape == (2,):
            sides = np.repeat(sides[None], batch, axis=0)
    one_hot = sides.ndim == 2 and sides.shape[1:] == (2,) and np.all((sides == 0) | (sides == 1))
    if not one_hot or not np.all(sides.sum(axis=-1) == 1):
        raise ValueError(
            f"hand_side must be 'left', 'right', a list of them, or one-hot [B, 2] "
            f"(left = [1, 0]); received {hand_side!r}"
        )
    if sides.shape[0] != batch:
        raise ValueError(f"hand_side has {sides.shape[0]} rows for a batch of {batch} images")
    return sides.astype(np.float32)


def check_finite(name: str, values) -> np.ndarray:
    """``values`` as an array; ValueError naming ``name`` if it holds NaN or inf."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} holds {bad} NaN or inf values; give finite inputs")
    return array


def check_weights_dir(path) -> pathlib.Path:
    """``path`` if it holds the three nets' .npz + .json with sound metadata (cheap: reads
    the json files and hashes the npz files, builds nothing; no TensorFlow).

    Raises:
      FileNotFoundError: the folder or a file is missing (the message lists what it needs).
      hand3d_tf.weights.WeightsFileError (a ValueError): a json that is not valid, describes
        another net or does not match its npz.
    """
    folder = loader.WeightsFolder(path)
    folder.check_keras()
    return folder.path


def resolve_backend(path, backend="auto", mode="fp32", input_size=DEFAULT_INPUT_SIZE) -> str:
    """The backend, "tflite" or "keras", for the weights folder ``path`` (cheap: file names
    and one sidecar; ``hand3d_tf.runtime.loader.resolve_backend``).

    "auto" is "tflite" when ``path`` holds ``<net>_<mode>.tflite`` + sidecars of the three
    nets, a TFLite runtime is installed and the HandSegNet model runs at ``input_size``
    (TFLite shapes are fixed; None, any size, needs Keras), else "keras". ValueError for
    another backend or mode.
    """
    return loader.resolve_backend(path, backend, mode, input_size)


def _resize_each(arrays: np.ndarray, hw, interpolation) -> np.ndarray:
    out = [cv2.resize(a, (int(hw[1]), int(hw[0])), interpolation=interpolation) for a in arrays]
    return np.stack(out).reshape((len(arrays), int(hw[0]), int(hw[1])) + arrays.shape[3:])


def map_points(points_rowcol, from_hw, to_hw) -> np.ndarray:
    """(row, col) [..., 2] between two frames related by cv2.resize (pixel-centre aligned)."""
    factor = np.asarray(to_hw, np.float64) / np.asarray(from_hw, np.float64)
    return (np.asarray(points_rowcol, np.float64) + 0.5) * factor - 0.5


# --- the pipeline --------------------------------------------------------------------------


class ColorHandPose3D:
    """HandSegNet + PoseNet + lifting (PosePrior and ViewPointNet) with the original glue.

    The networks run behind ``backend`` (hand3d_tf/runtime/backends.py: Keras callables, or
    exported .tflite / .onnx files), every backend through the one stage sequence of
    hand3d_tf/runtime/stages.py; ``timer`` (a ``stages.StageTimer``) times each stage of
    the last call in ``timer.times`` (ms).

    Args:
      handsegnet: Keras model, [B, H, W, 3] pixel/255 - 0.5 -> logits [B, H, W, 2] (or the
        stride-8 logits, which are then upsampled with the legacy bilinear resize).
      posenet: Keras model, crop [B, 256, 256, 3] -> [S1, S2, S3] (or S3 alone).
      lifting: Keras model, [scoremap [B, 32, 32, 21], hand_side [B, 2]] -> dict with "xyz"
        (and "xyz_canonical", "rotation" for the proposed variant).
      input_size: (height, width) the networks run at (default 240x320, the released demo).
        Other images are resized to it with cv2.INTER_LINEAR (the original used PIL
        bilinear) and every output is mapped back; None runs at each batch's own size.
      source: free-form description of the weights (written into predict's JSON).
      backend: instead of the three models, a backend object (``runtime.backends``).
      timer: a ``runtime.stages.StageTimer``; default none (no timing).
    """

    def __init__(self, handsegnet=None, posenet=None, lifting=None, input_size=DEFAULT_INPUT_SIZE,
                 source=None, *, backend=None, timer=None):  # fmt: skip
        if input_size is not None:
            if len(tuple(input_size)) != 2 or min(int(v) for v in input_size) < 8:
                raise ValueError(
                    f"input_size must be (height, width) >= 8 or None; received {input_size!r}"
                )
            input_size = (int(input_size[0]), int(input_size[1]))
        if backend is None:
            backend = backends.KerasBackend(handsegnet, posenet, lifting)
        self.backend = backend
        self.handsegnet, self.posenet, self.lifting = (
            backend.handsegnet,
            backend.posenet,
            backend.lifting,
        )
        self.input_size = input_size
        self.source = dict(source or {"weights": "given models"})
        self.timer = timer or stages.NO_TIMER

    # --- constructors: thin wrappers over hand3d_tf.runtime.loader (TensorFlow on demand) ---

    @classmethod
    def from_loaded(cls, loaded: loader.Loaded, timer=None) -> ColorHandPose3D:
        """From ``hand3d_tf.runtime.load(...)`` (or ``runtime.loader.load``): the one way
        every constructor below builds a pipeline."""
        return cls(input_size=loaded.input_size, source=loaded.source, backend=loaded.backend,
                   timer=timer)  # fmt: skip

    @classmethod
    def from_original_weights(
        cls, handsegnet_pickle, posenet_pickle, input_size=DEFAULT_INPUT_SIZE
    ):
        """Full-size networks with the released TF 1.3 pickles (docs/original.md §4)."""
        return cls.from_loaded(loader.load(None, "keras", input_size=input_size,
                                           handsegnet_pickle=handsegnet_pickle,
                                           posenet_pickle=posenet_pickle))  # fmt: skip

    @classmethod
    def from_weights_dir(cls, path, input_size=DEFAULT_INPUT_SIZE):
        """The project's own format: handsegnet/posenet/lifting .npz + .json in ``path``.
        Needs TensorFlow (the ``[tf]`` extra); ModuleNotFoundError naming it otherwise."""
        return cls.from_loaded(loader.load(path, "keras", input_size=input_size))

    @classmethod
    def from_tflite_dir(cls, path, mode="fp32", input_size=None, threads=None):
        """The TFLite backend: ``<net>_<mode>.tflite`` + sidecars in ``path`` (no TensorFlow).

        input_size: None takes the HandSegNet model's (its sidecar); another size than the
        model's is a ValueError (TFLite shapes are fixed). threads: interpreter threads
        (default: every core). Errors: hand3d_tf.lite.backend.TfliteBackendError (missing,
        mismatched or stale files), ImportError (no TFLite runtime installed).
        """
        return cls.from_loaded(loader.load(path, "tflite", mode, input_size, threads))

    @classmethod
    def from_pretrained(cls, input_size=DEFAULT_INPUT_SIZE, backend="auto", mode="fp32"):
        """The bundled default model, ``weights/default/`` (see weights/README.md).

        backend: "tflite" (the shipped ``<net>_<mode>.tflite``, no TensorFlow), "keras"
        (the ``.npz`` weights in tf_keras models) or "auto": tflite when the folder holds
        the TFLite files of ``mode`` for ``input_size`` and a TFLite runtime is installed,
        else keras (``resolve_backend``).
        """
        if not DEFAULT_WEIGHTS_DIR.is_dir():
            raise FileNotFoundError(
                f"no bundled default weights at {DEFAULT_WEIGHTS_DIR}; use from_weights_dir(DIR) "
                "or from_original_weights(handsegnet_pickle, posenet_pickle)"
            )
        return cls.from_dir(DEFAULT_WEIGHTS_DIR, input_size, backend, mode)

    @classmethod
    def from_dir(cls, path, input_size=DEFAULT_INPUT_SIZE, backend="auto", mode="fp32"):
        """A weights folder with either backend (``resolve_backend``)."""
        folder = loader.WeightsFolder(path)
        if loader.resolve_backend(folder, backend, mode, input_size) == "tflite":
            return cls.from_loaded(loader.load(folder, "tflite", mode, input_size))
        return cls.from_weights_dir(path, input_size=input_size)

    # --- stages ---

    def _network_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 [B, H, W, 3] -> uint8 at the network input size (unchanged if equal)."""
        if self.input_size is None or images.shape[1:3] == self.input_size:
            return images
        return _resize_each(images, self.input_size, cv2.INTER_LINEAR)

    def _segment_network(self, net_images: np.ndarray) -> np.ndarray:
        with self.timer.stage("glue_segment"):
            frames = glue.normalize_image(net_images)
        return stages.segment(self.backend, frames, self.timer)

    def segment_normalized(self, frames) -> np.ndarray:
        """HandSegNet logits [B, H, W, 2] float32 on frames already in -0.5...0.5, at their
        own size (no resize; a stride-8 head is upsampled with the legacy bilinear)."""
        with self.timer.frame():
            return stages.segment(self.backend, np.asarray(frames, np.float32), self.timer)

    def run_normalized(self, frames, hand_side=None) -> dict[str, np.ndarray]:
        """Networks and glue on frames [B, H, W, 3] float32 in -0.5...0.5, in their own frame.

        The evaluation protocols use this on the readers' float frames, so nothing is
        resized or rounded to uint8. ``predict`` runs the same steps after its resize.
        Returns "logits", "crop", "scoremaps", "keypoints_uv" [B, 21, 2] (x, y) px,
        "keypoint_scores", "location" (glue.HandLocation) and, when ``hand_side`` is given,
        "keypoints_xyz". Frames holding NaN or inf raise ValueError.
        """
        frames = np.asarray(check_finite("frames", frames), np.float32)
        sides = None if hand_side is None else hand_side_batch(hand_side, frames.shape[0])
        with self.timer.frame():
            return stages.run(self.backend, frames, sides, self.timer)

    def segment(self, images) -> np.ndarray:
        """HandSegNet logits [B, H, W, 2] float32 in the caller's frame (one network call)."""
        images, single = prepare_images(images)
        with self.timer.frame():
            logits = self._segment_network(self._network_images(images))
        if logits.shape[1:3] != images.shape[1:3]:
            logits = _resize_each(logits, images.shape[1:3], cv2.INTER_LINEAR)
        return logits[0] if single else logits

    def pose2d(self, crops) -> np.ndarray:
        """PoseNet's last stage S3 [B, 32, 32, 21] for crops [B, 256, 256, 3].

        crops: float32 in -0.5...0.5 (as ``HandPoseResult.crop``) or uint8 RGB; NaN or inf
        raises ValueError.
        """
        crops = np.asarray(check_finite("crops", crops))
        if crops.ndim == 3:
            crops = crops[None]
        if crops.ndim != 4 or crops.shape[1:] != (glue.CROP_SIZE, glue.CROP_SIZE, 3):
            raise ValueError(f"crops must be [B, 256, 256, 3]; received shape {crops.shape}")
        crops = glue.normalize_image(crops) if crops.dtype == np.uint8 else crops.astype(np.float32)
        with self.timer.frame():
            return stages.pose2d(self.backend, crops, self.timer)

    def lift(self, scoremaps, hand_side="left") -> dict[str, np.ndarray]:
        """Lifting on raw 32x32 score maps [B, 32, 32, 21] and the hand side.

        Returns NumPy arrays: "xyz" [B, 21, 3] normalised root-relative camera-axis
        coordinates, plus "xyz_canonical" [B, 21, 3] and "rotation" [B, 3, 3] when the
        lifting model provides them (the proposed variant). NaN or inf raises ValueError.
        """
        scoremaps = stages.check_scoremaps(check_finite("scoremaps", scoremaps))
        sides = hand_side_batch(hand_side, scoremaps.shape[0])
        with self.timer.frame():
            return stages.lift(self.backend, scoremaps, sides, self.timer)

    def predict(self, images, hand_side="left") -> HandPoseResult:
        """The full pipeline on uint8 RGB [H, W, 3] or [B, H, W, 3] images (docs/original.md §5).

        hand_side: "left", "right", a list of them, or one-hot [B, 2] (left = [1, 0]).
        A single image gives a result with batch size 1.
        """
        images, _ = prepare_images(images)
        sides = hand_side_batch(hand_side, images.shape[0])
        with self.timer.frame():
            with self.timer.stage("glue_segment"):
                net_images = self._network_images(images)
                frames = glue.normalize_image(net_images)
            out = stages.run(self.backend, frames, sides, self.timer)
        loc = out["location"]
        center_rowcol = loc.center_rowcol.astype(np.float64)
        scale = loc.scale.astype(np.float64)
        return self._result(images, net_images, out, center_rowcol, scale, out["logits"],
                            loc.mask, loc.hand_found.copy())  # fmt: skip

    def predict_at(self, images, center_xy, scale, hand_side="left") -> HandPoseResult:
        """PoseNet + lifting on the crop at a given centre and scale; HandSegNet is skipped.

        The tracker's entry point (hand3d_tf/tracking.py, docs/tracking.md): the crop comes
        from the previous frame's keypoints instead of this frame's hand mask. Everything
        after the crop is ``predict``'s, so the crop ``predict`` derived from the mask gives
        ``predict``'s keypoints exactly.

        images: uint8 RGB [H, W, 3] or [B, H, W, 3]; center_xy: [2] or [B, 2] (x, y) pixels
        and scale: scalar or [B] crop pixels per image pixel, both in the caller's frame (as
        ``HandPoseResult.center_xy`` / ``scale``). The result's hand_scoremap is read-only
        zeros, hand_mask all False and hand_found True (no segmentation ran).
        """
        images, _ = prepare_images(images)
        batch = images.shape[0]
        sides = hand_side_batch(hand_side, batch)
        center_xy = check_finite("center_xy", np.asarray(center_xy, np.float64))
        scale = check_finite("scale", np.asarray(scale, np.float64))
        if center_xy.shape not in ((2,), (batch, 2)) or scale.shape not in ((), (1,), (batch,)):
            raise ValueError(
                f"center_xy must be [2] or [{batch}, 2] and scale a number or [{batch}] for "
                f"{batch} images; received shapes {center_xy.shape} and {scale.shape}"
            )
        if np.any(scale <= 0):
            raise ValueError(f"scale must be > 0; received {scale.tolist()}")
        center_rowcol = np.broadcast_to(center_xy[..., ::-1], (batch, 2)).astype(np.float32)
        scale = np.broadcast_to(scale.reshape(-1), (batch,)).astype(np.float32)
        net_images = self._network_images(images)
        net_hw, hw = net_images.shape[1:3], images.shape[1:3]
        net_rowcol, net_scale = center_rowcol, scale
        if net_hw != hw:  # into the network's frame, the inverse of predict's mapping back
            net_rowcol = map_points(center_rowcol, hw, net_hw).astype(np.float32)
            factor = math.sqrt(net_hw[0] * net_hw[1] / (hw[0] * hw[1]))
            net_scale = (scale.astype(np.float64) / factor).astype(np.float32)
        with self.timer.frame():
            with self.timer.stage("glue_segment"):
                frames = glue.normalize_image(net_images)
            out = stages.pose_at(self.backend, frames, net_rowcol, net_scale, sides, self.timer)
        return self._result(images, net_images, out, net_rowcol.astype(np.float64),
                            net_scale.astype(np.float64), None, None,
                            np.ones(batch, bool))  # fmt: skip

    def _result(self, images, net_images, out, center_rowcol, scale, logits, mask, found):
        """A HandPoseResult in the caller's frame from a network-frame ``_pose_at`` output.

        logits and mask None (``predict_at``): read-only zero logits, an empty mask.
        """
        crop, scoremaps = out["crop"], out["scoremaps"]
        xyz, scores = out["keypoints_xyz"], out["keypoint_scores"]
        keypoints_rowcol = out["keypoints_uv"][..., ::-1]
        net_hw, hw = net_images.shape[1:3], images.shape[1:3]
        if net_hw != hw:  # back to the caller's frame
            keypoints_rowcol = map_points(keypoints_rowcol, net_hw, hw)
            center_rowcol = map_points(center_rowcol, net_hw, hw)
            # Crop pixels per caller pixel; geometric mean if the aspect ratio changed.
            scale = scale * math.sqrt(net_hw[0] * net_hw[1] / (hw[0] * hw[1]))
            if logits is not None:
                logits = _resize_each(logits, hw, cv2.INTER_LINEAR)
                mask = _resize_each(mask.astype(np.uint8), hw, cv2.INTER_NEAREST).astype(bool)
        if logits is None:
            logits = np.broadcast_to(np.float32(0), (len(images), *hw, 2))
            mask = np.zeros((len(images), *hw), bool)
        return HandPoseResult(
            hand_scoremap=logits,
            hand_mask=mask,
            hand_found=found,
            center_xy=center_rowcol[:, ::-1].copy(),
            scale=scale,
            crop=crop,
            keypoint_scoremaps=scoremaps,
            keypoints_uv=keypoints_rowcol[..., ::-1].copy(),
            keypoint_scores=scores,
            keypoints_xyz=xyz,
        )
