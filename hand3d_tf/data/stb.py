"""Stereo Hand Pose Tracking Benchmark (STB) as published (docs/original.md §8.4). No TF.

Layout read: ``<data_dir>/labels/<SEQ>_BB.mat`` / ``<SEQ>_SK.mat`` holding ``handPara``
[3, 21, N] in millimetres (STB joint order: palm, then little, ring, middle, index, thumb,
each base -> tip), and images under ``<data_dir>/images/<SEQ>/`` (the published layout) or
``<data_dir>/<SEQ>/``: ``BB_left_<i>.png``, ``BB_right_<i>.png``, ``SK_color_<i>.png``.

What the reader does (as the original's STB conversion, docs/original.md §8.4):
- camera "BB" (Bumblebee stereo, the original's evaluation set): per frame the left view,
  then the right view; right-view xyz = left-view xyz with x - 120.054 mm (the baseline);
  intrinsics fx = fy = 822.79041, cx = 318.47345, cy = 250.31296 for both views.
- camera "SK" (RealSense colour; **not used by the original**): colour intrinsics and the
  depth -> colour extrinsics are the calibration published with the STB dataset
  (restated in docs/data.md, STB SK camera): fx 607.92271, fy 607.88192,
  cx 314.78337, cy 236.42484; the labels are taken to be in the depth camera frame and moved
  to the colour frame with X_colour = R^-1 (X - T), R = Rodrigues([0.00531, -0.01196,
  0.00301]), T = [-24.0381, -0.4563, -1.2326] mm, as the dataset's own conversion script does.
  Unverified against images here (no STB data on this machine).
- STB -> RHD keypoint order (``keypoints.STB_TO_RHD``), mm -> m, keypoint 0 stays the palm
  centre, all keypoints visible, hand side always left, uv = perspective projection with K.
"""

from __future__ import annotations

import os

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.data.records import STB_BB_K, STB_IMAGE_HW, single_hand_source
from hand3d_tf.data.samples import BadSampleError, SkipLog, Source, check_png, read_png

CAMERAS = ("BB", "SK")
EVAL_SEQUENCES = ("B1Counting", "B1Random")  # the original's evaluation set (docs/original.md §8.4)
BB_BASELINE_MM = 120.054  # docs/original.md §8.4
SK_COLOR_K = np.array(
    [[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]], np.float32
)
SK_ROT_VEC = (0.00531, -0.01196, 0.00301)  # STB calibration, depth <- colour rotation
SK_TRANS_MM = (-24.0381, -0.4563, -1.2326)  # STB calibration, depth <- colour translation


def project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Perspective projection of [..., 21, 3] camera points with K [..., 3, 3] -> uv [..., 21, 2]."""
    hom = np.einsum("...ij,...kj->...ki", K, xyz)
    return (hom[..., :2] / hom[..., 2:3]).astype(np.float32)


def _sk_depth_to_colour(xyz_mm: np.ndarray) -> np.ndarray:
    """X_colour = R^-1 (X_depth - T) for [..., 3] row vectors (STB calibration, docs/data.md)."""
    import cv2

    rot, _ = cv2.Rodrigues(np.array(SK_ROT_VEC, np.float64))
    # (R^-1 v)^T = v^T R for a rotation matrix R.
    return (xyz_mm - np.array(SK_TRANS_MM)) @ rot


class STBReader:
    """STB sequences of one camera, validated at construction.

    Args:
      data_dir: the STB root (with ``labels/`` and ``images/``).
      sequences: sequence names, default the original's evaluation set B1Counting, B1Random.
      camera: "BB" (left and right views) or "SK" (colour; see the module docstring).
      skip_bad / check_images: as :class:`hand3d_tf.data.rhd.RHDReader`.
    """

    def __init__(
        self,
        data_dir,
        sequences=EVAL_SEQUENCES,
        camera: str = "BB",
        *,
        skip_bad: bool = False,
        check_images: str = "quick",
    ):
        if camera not in CAMERAS:
            raise ValueError(f"STB camera must be one of {CAMERAS}; received {camera!r}")
        if isinstance(sequences, str):
            sequences = (sequences,)
        self.data_dir = os.fspath(data_dir)
        self.camera = camera
        self.sequences = tuple(sequences)
        self.skip_bad = skip_bad
        self._skips = SkipLog(f"STB {self.data_dir}")
        if not os.path.isdir(self.data_dir):
            raise FileNotFoundError(f"STB data_dir does not exist: {self.data_dir}")
        if not self.sequences:
            raise ValueError("STB sequences must name at least one sequence, e.g. B1Counting")
        names, paths, xyz = [], [], []
        for seq in self.sequences:
            for name, path, x in self._sequence(seq, check_images):
                names.append(name)
                paths.append(path)
                xyz.append(x)
        if not names:
            raise ValueError(f"STB {self.data_dir}: every sample of {self.sequences} is bad")
        self.names = tuple(names)
        self._paths = tuple(paths)
        self.K = (STB_BB_K if camera == "BB" else SK_COLOR_K).copy()
        # STB -> RHD order and mm -> m (docs/original.md §8.4).
        self.xyz = (np.stack(xyz)[:, kp.STB_TO_RHD] / 1000.0).astype(np.float32)
        self.uv = project(self.xyz, self.K)
        self.vis = np.ones(self.xyz.shape[:2], bool)

    def _label_file(self, seq: str) -> str:
        path = os.path.join(self.data_dir, "labels", f"{seq}_{self.camera}.mat")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"STB label file not found: {path} (data_dir {self.data_dir} holds "
                f"{sorted(os.listdir(self.data_dir))[:10] or 'nothing'})"
            )
        return path

    def _image_dir(self, seq: str) -> str:
        for cand in (os.path.join(self.data_dir, "images", seq), os.path.join(self.data_dir, seq)):
            if os.path.isdir(cand):
                return cand
        raise FileNotFoundError(
            f"STB image folder for {seq} not found: neither {self.data_dir}/images/{seq} "
            f"nor {self.data_dir}/{seq} exists"
        )

    def _sequence(self, seq: str, check_images: str):
        """Yield (name, image path, xyz [21, 3] mm in STB order, camera frame) per sample."""
        import scipy.io

        label = self._label_file(seq)
        try:
            para = scipy.io.loadmat(label)["handPara"]
        except KeyError as err:
            raise ValueError(f"{label}: no 'handPara' array in the label file") from err
        except Exception as err:  # scipy raises several types for non-MAT files
            raise ValueError(f"{label}: not a readable MAT file ({err})") from err
        if para.ndim != 3 or para.shape[:2] != (3, kp.NUM_KEYPOINTS):
            raise ValueError(f"{label}: handPara has shape {para.shape}, expected [3, 21, N]")
        frames = np.transpose(para, (2, 1, 0)).astype(np.float64)  # [N, 21, 3] mm
        image_dir = self._image_dir(seq)
        views = ("left", "right") if self.camera == "BB" else ("color",)
        for i, x in enumerate(frames):
            for view in views:
                name = f"{seq}/{self.camera}_{view}_{i}"
                path = os.path.join(image_dir, f"{self.camera}_{view}_{i}.png")
                try:
                    if not np.all(np.isfinite(x)):
                        raise BadSampleError(label, name, "handPara has non-finite values")
                    check_png(path, name, check_images)
                except BadSampleError as err:
                    if not self.skip_bad:
                        raise
                    self._skips.add(err)
                    continue
                if view == "right":
                    x_view = x - np.array([BB_BASELINE_MM, 0.0, 0.0])
                elif view == "color":
                    x_view = _sk_depth_to_colour(x)
                else:
                    x_view = x
                yield name, path, x_view

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_skipped(self) -> int:
        return len(self._skips)

    @property
    def skipped(self) -> list:
        return list(self._skips.skipped)

    def image_path(self, i: int) -> str:
        return self._paths[i]

    def sample(self, i: int) -> dict:
        """Sample i: image uint8 [480, 640, 3], xyz [21, 3] m (RHD order, palm root),
        uv [21, 2] px, vis [21] bool (all True), K [3, 3], hand_side "left", id (= i), name."""
        if not 0 <= i < len(self):
            raise IndexError(f"STB {self.data_dir}: index {i} out of range [0, {len(self)})")
        image = read_png(self._paths[i], self.names[i], channels=3)
        if image.shape != (*STB_IMAGE_HW, 3):
            raise BadSampleError(
                self._paths[i],
                self.names[i],
                f"image has shape {image.shape}, expected {(*STB_IMAGE_HW, 3)}",
            )
        return {
            "image": image,
            "xyz": self.xyz[i].copy(),
            "uv": self.uv[i].copy(),
            "vis": self.vis[i].copy(),
            "K": self.K.copy(),
            "hand_side": kp.HAND_LEFT,
            "id": i,
            "name": self.names[i],
        }

    def __iter__(self):
        for i in range(len(self)):
            try:
                yield self.sample(i)
            except BadSampleError as err:
                if not self.skip_bad:
                    raise
                self._skips.add(err)

    def to_source(self) -> Source:
        """Left-hand-only :class:`~hand3d_tf.data.samples.Source` with PNG paths."""
        n = len(self)
        return single_hand_source(
            self.data_dir,
            self.xyz,
            self.uv,
            self.vis,
            np.broadcast_to(self.K, (n, 3, 3)),
            np.arange(n, dtype=np.int64),
            STB_IMAGE_HW,
            image_paths=self._paths,
        )
