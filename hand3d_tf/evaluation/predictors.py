"""Weights -> predictors: the network side of hand3d-evaluate (sources.py: the data side).

``WeightsSpec`` says where the weights come from (our own folder or the released pickles),
``load_pipeline`` builds the nets a protocol needs, and ``make_predictor`` turns the pipeline
into the one-call-per-batch predictor the protocols of :mod:`hand3d_tf.evaluation.protocols`
run (docs/original.md §7).

TF-free at import: TensorFlow comes in with the networks.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Callable

import numpy as np

from hand3d_tf import glue
from hand3d_tf.constants import LIFTING_VARIANTS
from hand3d_tf.evaluation import protocols as pr
from hand3d_tf.evaluation.sources import _choice
from hand3d_tf.pipeline import DEFAULT_WEIGHTS_DIR, ColorHandPose3D

NETS_NEEDED = {
    pr.POSE2D_GT_CROP: ("posenet",),
    pr.POSE2D_FULL: ("handsegnet", "posenet"),
    pr.LIFTING3D: ("lifting",),
    pr.FULL3D: ("handsegnet", "posenet", "lifting"),
    pr.SEGMENTATION: ("handsegnet",),
}
_SCOPES = {"handsegnet": ("HandSegNet/",), "posenet": ("PoseNet2D/",),
           "lifting": ("PosePrior/", "ViewpointNet/")}  # fmt: skip


# --- networks ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WeightsSpec:
    """Where the weights come from: our own folder, or the released pickles (docs/original.md §4).

    weights_dir: handsegnet / posenet / lifting .npz + .json (hand3d-convert-weights);
    None with no pickle = the bundled weights/default. Pickles: handsegnet_pickle
    (handsegnet-rhd), posenet_pickle (posenet-rhd-stb or posenet3d-*, which also hold the
    proposed lifting), lifting_pickle (lifting-<variant>). lifting_variant: checked against
    a folder's lifting.json; for pickles it defaults to the file name, then the keys.
    """

    weights_dir: str | None = None
    handsegnet_pickle: str | None = None
    posenet_pickle: str | None = None
    lifting_pickle: str | None = None
    lifting_variant: str | None = None

    def __post_init__(self):
        if self.lifting_variant is not None:
            _choice("lifting_variant", self.lifting_variant, LIFTING_VARIANTS)
        if self.weights_dir and self.pickles:
            raise ValueError("give either a weights directory or released pickles, not both")

    @property
    def pickles(self) -> dict:
        names = ("handsegnet", "posenet", "lifting")
        paths = (self.handsegnet_pickle, self.posenet_pickle, self.lifting_pickle)
        return {n: p for n, p in zip(names, paths) if p}


def infer_lifting_variant(path, keys) -> str:
    """Lifting variant of a pickle: from a lifting-<variant>.pickle name, else the keys."""
    match = re.fullmatch(r"lifting-(.+)\.pickle", pathlib.Path(path).name)
    if match and match.group(1) in LIFTING_VARIANTS:
        return match.group(1)
    if "PosePrior/fc_bottleneck/weights" in keys:
        return "bottleneck"
    if any(k.startswith("ViewpointNet/") for k in keys):
        return "proposed"
    raise ValueError(
        f"cannot tell the lifting variant of {path} (direct / local / local_w_xyz_loss share "
        f"their keys); give the lifting variant, one of {LIFTING_VARIANTS}"
    )


def _nets_from_dir(needed, spec: WeightsSpec) -> tuple[dict, dict]:
    from hand3d_tf import models, weights

    directory = pathlib.Path(spec.weights_dir or DEFAULT_WEIGHTS_DIR)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"weights directory not found: {directory} (give a weights directory written by "
            "hand3d-convert-weights, or the released pickles)"
        )
    nets, configs = {}, {}
    for net in needed:
        values, config = weights.load_weights(directory / net)
        if net == "lifting" and spec.lifting_variant:
            variant = (config or {}).get("variant", "proposed")
            if variant != spec.lifting_variant:
                raise ValueError(
                    f"{directory / 'lifting.json'} holds variant {variant!r}, not the requested "
                    f"{spec.lifting_variant!r}"
                )
        nets[net] = models.build(net, config)
        weights.assign_weights(nets[net], values, source=str(directory / f"{net}.npz"))
        configs[net] = config
    return nets, {"format": "hand3d_tf", "weights": str(directory), "configs": configs}


def _nets_from_pickles(needed, spec: WeightsSpec, protocol: str) -> tuple[dict, dict]:
    from hand3d_tf import models, weights

    paths = dict(spec.pickles)
    if "lifting" in needed and "lifting" not in paths and "posenet" in paths:
        paths["lifting"] = paths["posenet"]  # the posenet3d files hold the lifting too
    missing = [n for n in needed if n not in paths]
    if missing:
        raise ValueError(
            f"protocol {protocol!r} needs {[f'{n}_pickle' for n in missing]} "
            f"(networks {list(needed)})"
        )
    loaded: dict[str, dict] = {}
    nets, source = {}, {"format": "original pickles"}
    for net in needed:
        path = paths[net]
        if path not in loaded:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"weight pickle not found: {path}")
            loaded[path] = weights.load_original_weights(path)
        # Only the net's own scopes, like the original's exclusion lists (docs/original.md §4).
        values = {k: v for k, v in loaded[path].items() if k.startswith(_SCOPES[net])}
        config = None
        if net == "lifting":
            variant = spec.lifting_variant or infer_lifting_variant(path, values)
            config = {"variant": variant}
            source["lifting_variant"] = variant
        nets[net] = models.build(net, config)
        weights.assign_weights(nets[net], values, source=str(path))
        source[net] = str(path)
    return nets, source


def load_pipeline(protocol: str, spec: WeightsSpec) -> ColorHandPose3D:
    """A ColorHandPose3D holding the networks ``protocol`` needs (others None).

    Raises FileNotFoundError (missing file), ValueError (a missing pickle, a variant
    mismatch) or weights.WeightMismatchError (weights that do not fit the net).
    """
    needed = NETS_NEEDED[pr.check_protocol(protocol, pr.ALL_PROTOCOLS)]
    if spec.pickles:
        nets, source = _nets_from_pickles(needed, spec, protocol)
    else:
        nets, source = _nets_from_dir(needed, spec)
    return ColorHandPose3D(
        nets.get("handsegnet"), nets.get("posenet"), nets.get("lifting"), None, source
    )


# --- predictors ----------------------------------------------------------------------------


def run_pipeline(pipe: ColorHandPose3D, images, hand_side=None):
    """(uv [B, 21, 2] px, xyz_normed [B, 21, 3] or None without ``hand_side``) of
    ``ColorHandPose3D.run_normalized`` on the readers' -0.5...0.5 frames (no resize)."""
    out = pipe.run_normalized(images, hand_side)
    return out["keypoints_uv"], out.get("keypoints_xyz")


def crop_keypoints_uv(pipe: ColorHandPose3D, crops) -> np.ndarray:
    """PoseNet uv [B, 21, 2] in the 256 crop: argmax of the legacy-upsampled S3 (docs/original.md §5)."""
    rowcol, _ = glue.keypoints_from_scoremaps(pipe.pose2d(crops))
    return rowcol[..., ::-1].astype(np.float64)


def segment_masks(pipe: ColorHandPose3D, images) -> np.ndarray:
    """HandSegNet hand mask [B, H, W] bool on -0.5..0.5 frames: hand logit > background."""
    logits = pipe.segment_normalized(images)
    return logits[..., 1] > logits[..., 0]


def make_predictor(protocol: str, pipe: ColorHandPose3D) -> Callable[[dict], np.ndarray]:
    """predictor(sample batch) -> what :func:`protocols.prepare` expects for ``protocol``
    (segmentation: the hand mask [B, H, W] bool)."""
    if pr.check_protocol(protocol, pr.ALL_PROTOCOLS) == pr.SEGMENTATION:
        return lambda s: segment_masks(pipe, s["image"])
    if protocol == pr.POSE2D_GT_CROP:
        return lambda s: crop_keypoints_uv(pipe, s["image_crop"])
    if protocol == pr.POSE2D_FULL:
        return lambda s: run_pipeline(pipe, s["image"])[0]
    if protocol == pr.LIFTING3D:  # lift() turns the local variants' output into xyz
        return lambda s: pipe.lift(s["scoremap_pooled"], s["hand_side"])["xyz"]
    return lambda s: run_pipeline(pipe, s["image"], s["hand_side"])[1]
