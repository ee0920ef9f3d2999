"""Datasets -> protocol samples: the data side of hand3d-evaluate (predictors.py: the networks).

The four protocols of :mod:`hand3d_tf.evaluation.protocols` wired to the readers of
:mod:`hand3d_tf.data` and to the networks, as the original's scripts did (docs/original.md §7):

| protocol | script | network input | ground truth | networks |
|---|---|---|---|---|
| pose2d_gt_crop | eval2d_gt_cropped | the ground-truth 256x256 hand crop | uv in the crop, / crop scale | PoseNet |
| pose2d_full | eval2d | the frame resized to 240x320 (legacy bilinear) | uv scaled alike (v x 0.75 for RHD) | HandSegNet + PoseNet |
| lifting3d | eval3d | ground-truth score maps (256, sigma 25, avg-pooled to 32) + GT hand side | palm-relative xyz, all 21 counted | a lifting variant |
| full3d | eval_full | the frame resized to 240x320 + GT hand side | palm-relative xyz, STB visibility | all three |
| segmentation | (none) | the frame at its own size (RHD 320x320) | hand mask = class > 1, mask IoU | HandSegNet |

Every sample is a NumPy batch from ``data.pipelines.evaluation_dataset`` (no noise, palm
at index 0; ``pose2d_full --root=wrist`` reads with ``use_wrist_coord=True`` instead, the
eval2d setting behind the paper's Table 1), and every predictor makes one network call per
batch. Root and scale of the 3-D prediction always come from the ground truth.

TF-free at import: TensorFlow comes in with the data pipeline and the networks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

import numpy as np

from hand3d_tf import glue
from hand3d_tf import keypoints as kp
from hand3d_tf.constants import DATASETS, EVAL_FRAME_HW, SPLITS
from hand3d_tf.evaluation import protocols as pr

DEFAULT_BATCH_SIZE = 8
# What keypoint 0 of each dataset's raw annotation is (docs/original.md §8.1, §8.4).
DATASET_GT_INDEX0 = {"rhd": kp.ROOT_WRIST, "stb": kp.ROOT_PALM, "synthetic": kp.ROOT_WRIST}
# Fields of an evaluation_dataset batch each protocol keeps (network inputs + ground truth;
# xyz_normed / keypoint_scale let an oracle predictor be written in tests).
SAMPLE_KEYS = {
    pr.POSE2D_GT_CROP: ("image_crop", pr.KEY_UV_CROP, pr.KEY_VIS, pr.KEY_CROP_SCALE),
    pr.POSE2D_FULL: ("image", pr.KEY_UV, pr.KEY_VIS),
    pr.LIFTING3D: ("scoremap_pooled", "hand_side", pr.KEY_XYZ, pr.KEY_VIS, "xyz_normed",
                   "keypoint_scale"),
    pr.FULL3D: ("image", "hand_side", pr.KEY_XYZ, pr.KEY_VIS, "xyz_normed", "keypoint_scale"),
}  # fmt: skip


class InputError(ValueError):
    """Data, weights or predictions a caller named that cannot be used (a missing or empty
    path, weights that do not fit, a wrong setting for the data); the message names the
    file or the value and the rule. The CLIs show it as a one-line user error."""


@contextlib.contextmanager
def input_errors(prefix: str = ""):
    """Re-raise the FileNotFoundError / ValueError of the enclosed reading as InputError.

    Wrap only the code that opens what the caller named, so that the same exception types
    raised by a bug later on keep their traceback.
    """
    try:
        yield
    except InputError:
        raise
    except (FileNotFoundError, ValueError) as err:
        raise InputError(f"{prefix}{err}") from err


def _choice(name: str, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; received {value!r}")
    return value


# --- data ----------------------------------------------------------------------------------


def open_source(dataset: str, data_dir, split: str = "evaluation"):
    """The :class:`~hand3d_tf.data.samples.Source` of ``dataset`` at ``data_dir``.

    rhd / synthetic: an RHD-layout root (``<split>/anno_<split>.pickle``, what
    hand3d-make-synthetic writes) or an ``rhd_<split>.bin`` record file (docs/original.md §8.2).
    stb: an STB root (``labels/``, ``images/``; sequences B1Counting + B1Random) or
    ``stb_eval.bin`` (docs/original.md §8.4); only split "evaluation" exists. Missing or empty data
    raise FileNotFoundError / ValueError naming the path.
    """
    from hand3d_tf.data import records
    from hand3d_tf.data.samples import build_source

    _choice("dataset", dataset, DATASETS)
    _choice("split", split, SPLITS)
    if not data_dir:
        raise ValueError(f"a data directory (or record file) is needed for dataset {dataset!r}")
    path = os.fspath(data_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{dataset} data not found: {path}")
    if dataset == "stb":
        if split != "evaluation":
            raise ValueError(
                f"STB has only the split 'evaluation' (docs/original.md §8.4); received {split!r}"
            )
        if os.path.isfile(path):
            return build_source(records.read_stb_records(path))
        from hand3d_tf.data.stb import STBReader

        return build_source(STBReader(path))
    if os.path.isfile(path):
        return build_source(records.read_rhd_records(path))
    from hand3d_tf.data.rhd import RHDReader

    return build_source(RHDReader(path, split))


def take(source, max_samples: int | None):
    """The first ``max_samples`` samples of a Source (all when None), without reading pixels."""
    if max_samples is None or max_samples >= len(source):
        return source
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1 or None; received {max_samples}")
    n = int(max_samples)

    def head(value):
        return None if value is None else value[:n]

    return dataclasses.replace(
        source,
        **{k: head(getattr(source, k)) for k in ("xyz", "uv", "vis", "K", "ids", "hand_side")},
        image_paths=head(source.image_paths),
        mask_paths=head(source.mask_paths),
    )


def data_settings(protocol: str, dataset: str, root: str) -> tuple[bool, str]:
    """(use_wrist_coord for the reader, what keypoint 0 of the samples then is).

    Only pose2d_full accepts root "wrist" (eval2d's Table 1 setting, docs/original.md §11):
    the other protocols build their crops and score maps around the palm, as the original.
    """
    pr.check_protocol(protocol)
    _choice("root", root, kp.ROOTS)
    if root == kp.ROOT_PALM:
        return False, kp.ROOT_PALM
    if protocol != pr.POSE2D_FULL:
        raise ValueError(
            f"root 'wrist' is only supported by protocol {pr.POSE2D_FULL!r} (eval2d's Table 1 "
            f"setting); {protocol!r} compares against the palm, the networks' root"
        )
    if DATASET_GT_INDEX0[dataset] == kp.ROOT_PALM:
        raise ValueError(f"dataset {dataset!r} has no wrist keypoint (keypoint 0 is the palm)")
    return True, kp.ROOT_WRIST


def to_eval_frame(sample: dict, hw=EVAL_FRAME_HW) -> dict:
    """Resize ``image`` [B, H, W, 3] to ``hw`` with TF1's legacy bilinear resize (as the
    original's readers / scripts) and scale ``keypoints_uv`` alike: u x W'/W, v x H'/H."""
    out = dict(sample)
    src_hw = sample["image"].shape[1:3]
    if tuple(src_hw) != tuple(hw):
        out["image"] = glue.resize_bilinear_legacy(sample["image"], hw)
    if pr.KEY_UV in sample:
        factor = np.array([hw[1] / src_hw[1], hw[0] / src_hw[0]])  # (u, v), as eval2d
        out[pr.KEY_UV] = np.asarray(sample[pr.KEY_UV], np.float64) * factor
    return out


def protocol_samples(
    protocol: str, dataset: str, source, root: str = kp.ROOT_PALM, batch_size: int = 8
) -> tuple[Iterator[dict], str]:
    """(iterator of NumPy sample batches with :data:`SAMPLE_KEYS`, gt_index0 of them)."""
    from hand3d_tf.data import pipelines as pl

    use_wrist, gt_index0 = data_settings(protocol, dataset, root)
    name = "full_stb_eval" if dataset == "stb" else "posenet_rhd_eval"
    cfg = pl.preset(name, batch_size=int(batch_size), use_wrist_coord=use_wrist)
    ds = pl.evaluation_dataset(source, cfg)
    keys = SAMPLE_KEYS[protocol]

    def batches():
        for batch in ds.as_numpy_iterator():
            sample = {k: batch[k] for k in keys}
            if protocol in (pr.POSE2D_FULL, pr.FULL3D):
                sample = to_eval_frame(sample)
            yield sample

    return batches(), gt_index0


def segmentation_samples(source, batch_size: int = 8) -> Iterator[dict]:
    """NumPy batches {"image": [B, H, W, 3] float32 -0.5..0.5, "hand_mask": [B, H, W] bool}
    of the frames at their own size (RHD: 320x320), hand = class > 1 (docs/original.md §8.3 step 3)."""
    from hand3d_tf.data import pipelines as pl

    cfg = pl.preset("handsegnet_rhd_eval", batch_size=int(batch_size))
    for inputs, targets in pl.handsegnet_dataset(source, cfg).as_numpy_iterator():
        yield {"image": inputs["image"], "hand_mask": targets["hand_mask"][..., 1] > 0.5}


def evaluate_source(
    protocol: str,
    dataset: str,
    source,
    predictors: dict,
    root: str = kp.ROOT_PALM,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> dict:
    """{name: result} of each predictor on ``source`` with one pass of the data pipeline.

    result: an EvalSummary (keypoint protocols; px or m) or a MaskIoU summary dict
    (segmentation). predictors: {name: make_predictor(...) or baselines.make_predictor(...)}.
    """
    if pr.check_protocol(protocol, pr.ALL_PROTOCOLS) == pr.SEGMENTATION:
        config = pr.ProtocolConfig(progress=progress)
        samples = segmentation_samples(source, batch_size)
        return pr.run_segmentation(samples, predictors, config, total=len(source))
    samples, gt_index0 = protocol_samples(protocol, dataset, source, root, batch_size)
    config = pr.ProtocolConfig(root=root, gt_index0=gt_index0, progress=progress)
    return pr.run_protocol_many(protocol, samples, predictors, config, total=len(source))
