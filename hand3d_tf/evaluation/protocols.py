"""The four evaluation protocols of the paper (docs/original.md §7) as plain functions. TF-free.

A protocol turns (sample, prediction) pairs into (gt, vis, pred) for the
:class:`~hand3d_tf.evaluation.KeypointEvaluator`. Readers and pipelines plug in from outside:
``run_protocol(protocol, samples, predictor, config)`` iterates ``samples`` (dicts, one hand
or a batch), calls ``predictor(sample)`` and returns an :class:`EvalSummary`.

| protocol | original script | sample keys | predictor returns | unit |
|---|---|---|---|---|
| pose2d_gt_crop | eval2d_gt_cropped | keypoints_uv_crop [21, 2], keypoint_vis [21], crop_scale [] | uv in the 256 crop [21, 2] | px of the source image (both / crop_scale) |
| pose2d_full | eval2d | keypoints_uv [21, 2], keypoint_vis [21] | uv in the same image frame [21, 2] | px |
| lifting3d | eval3d | keypoints_xyz [21, 3] m | xyz_normed [21, 3] | m (all 21 keypoints counted) |
| full3d | eval_full | keypoints_xyz [21, 3] m, keypoint_vis [21] | xyz_normed [21, 3] | m |

uv is (x = column, y = row). Batched samples add a leading B to every array. Keypoint 0 of
the ground truth is converted to ``config.root`` with ``evaluation.set_root`` (from what the
reader delivers, ``config.gt_index0``); 3-D protocols use ``evaluation.align_3d``.

``run_protocol_many`` scores several predictors (a network and its baseline) on one pass
over the samples. The fifth protocol, ``segmentation``, is not a keypoint protocol: samples
hold ``hand_mask`` [B, H, W] bool (class > 1), predictors return a mask, and
:class:`MaskIoU` gives the IoU summed over the set and the mean per-image IoU.

``hand3d_tf.evaluation.sources`` wires these protocols to the datasets and the networks;
this module also evaluates stored predictions files and writes the report (JSON + PCK PNG)
that hand3d-evaluate prints.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import zipfile
from collections.abc import Callable, Iterable

import numpy as np

from hand3d_tf import keypoints as kp
from hand3d_tf.evaluation import metrics as ev

POSE2D_GT_CROP = "pose2d_gt_crop"
POSE2D_FULL = "pose2d_full"
LIFTING3D = "lifting3d"
FULL3D = "full3d"
PROTOCOLS = (POSE2D_GT_CROP, POSE2D_FULL, LIFTING3D, FULL3D)
# Mask IoU of HandSegNet; not a keypoint protocol (no EvalSummary), see run_segmentation.
SEGMENTATION = "segmentation"
ALL_PROTOCOLS = (*PROTOCOLS, SEGMENTATION)
KIND = {POSE2D_GT_CROP: "2d", POSE2D_FULL: "2d", LIFTING3D: "3d", FULL3D: "3d"}

KEY_UV = "keypoints_uv"
KEY_UV_CROP = "keypoints_uv_crop"
KEY_XYZ = "keypoints_xyz"
KEY_VIS = "keypoint_vis"
KEY_CROP_SCALE = "crop_scale"
# Stored predictions (hand3d-evaluate --predictions): 2d px, 3d m root-relative, 3d_normed.
PREDICTION_KINDS = ("2d", "3d", "3d_normed")
CHUNK = 256  # samples per feed() when evaluating a predictions file


@dataclasses.dataclass(frozen=True)
class ProtocolConfig:
    """How to run a protocol.

    root: what keypoint 0 of the ground truth is compared as ("palm", the networks' root,
    or "wrist" to reproduce eval2d's Table 1 setting); gt_index0: what keypoint 0 of the
    samples is ("wrist": raw RHD, the default; "palm": STB and palm-setting readers — getting
    this wrong silently averages the palm with keypoint 12); preset: (lo, hi, steps)
    or None for PRESET_2D / PRESET_3D; max_samples: stop after this many hands (a batch
    of B counts B; the last batch is cut to fit).
    """

    root: str = kp.ROOT_PALM
    gt_index0: str = kp.ROOT_WRIST
    preset: tuple | None = None
    max_samples: int | None = None
    progress: bool = True


def check_protocol(protocol: str, allowed=PROTOCOLS) -> str:
    if protocol not in allowed:
        raise ValueError(f"protocol must be one of {tuple(allowed)}; received {protocol!r}")
    return protocol


def default_preset(protocol: str) -> tuple:
    return ev.PRESET_2D if KIND[check_protocol(protocol)] == "2d" else ev.PRESET_3D


def _get(sample: dict, key: str, protocol: str) -> np.ndarray:
    if key not in sample:
        raise KeyError(
            f"protocol {protocol!r} needs sample key {key!r}; sample has {sorted(sample)}"
        )
    return np.asarray(sample[key], dtype=np.float64)


def _vis(sample: dict, protocol: str) -> np.ndarray:
    if KEY_VIS not in sample:
        raise KeyError(
            f"protocol {protocol!r} needs sample key {KEY_VIS!r}; sample has {sorted(sample)}"
        )
    return np.asarray(sample[KEY_VIS], dtype=bool)


def prepare(protocol: str, sample: dict, prediction, config: ProtocolConfig):
    """(gt, vis, pred) for the evaluator from one sample (or batch) and its prediction."""
    check_protocol(protocol)
    pred = np.asarray(prediction, dtype=np.float64)
    if protocol == POSE2D_GT_CROP:
        gt = _get(sample, KEY_UV_CROP, protocol)
        scale = _get(sample, KEY_CROP_SCALE, protocol)[..., None, None]
        gt, vis = ev.set_root(gt, _vis(sample, protocol), config.root, config.gt_index0)
        # Errors in source-image pixels: both sides divided by the crop scale (docs/original.md §7).
        return gt / scale, vis, pred / scale
    if protocol == POSE2D_FULL:
        gt, vis = ev.set_root(
            _get(sample, KEY_UV, protocol), _vis(sample, protocol), config.root, config.gt_index0
        )
        return gt, vis, pred
    gt = _get(sample, KEY_XYZ, protocol)
    # eval3d counts all 21 keypoints (visibility forced to 1, docs/original.md §7).
    vis = np.ones(gt.shape[:-1], bool) if protocol == LIFTING3D else _vis(sample, protocol)
    return ev.align_3d(gt, vis, pred, root=config.root, gt_index0=config.gt_index0)


def num_samples_in(protocol: str, sample: dict) -> int | None:
    """B for a batched sample, None for a single hand (from its vis or ground-truth key)."""
    gt_key = {POSE2D_GT_CROP: KEY_UV_CROP, POSE2D_FULL: KEY_UV}.get(protocol, KEY_XYZ)
    if KEY_VIS in sample:
        arr, single_ndim = np.asarray(sample[KEY_VIS]), 1
    else:
        arr, single_ndim = np.asarray(_get(sample, gt_key, protocol)), 2
    return None if arr.ndim == single_ndim else int(arr.shape[0])


def _head(sample: dict, batch: int, n: int) -> dict:
    """The first n samples of a batch of ``batch`` (arrays with another length stay)."""
    return {
        k: v[:n] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == batch else v
        for k, v in sample.items()
    }


def run_protocol(
    protocol: str,
    samples_iterable: Iterable[dict],
    predictor: Callable[[dict], np.ndarray],
    config: ProtocolConfig | None = None,
    total: int | None = None,
) -> ev.EvalSummary:
    """Evaluate ``predictor`` on ``samples_iterable`` with one of :data:`PROTOCOLS`.

    Items are single hands or batches (one predictor call each); ``config.max_samples``
    counts hands and cuts the last batch to fit; ``total`` (hands) sizes the progress bar.
    Returns the summary in the protocol's native unit (px, or m for the 3-D protocols; use
    ``summary.in_units(1000)`` for mm).
    """
    return run_protocol_many(protocol, samples_iterable, {"": predictor}, config, total)[""]


def _limited(samples_iterable, protocol, config, total, count_fn):
    """Yield (sample, count) with ``config.max_samples`` applied, updating a progress bar."""
    from tqdm import tqdm

    limit = config.max_samples
    if limit is not None:
        total = limit if total is None else min(total, limit)
    seen = 0
    with tqdm(total=total, desc=protocol, disable=not config.progress, unit="sample") as bar:
        for sample in samples_iterable:
            if limit is not None and seen >= limit:
                break
            batch = count_fn(sample)
            count = 1 if batch is None else batch
            if limit is not None and seen + count > limit:
                count = limit - seen
                sample = _head(sample, batch, count)
            yield sample
            seen += count
            bar.update(count)


def run_protocol_many(
    protocol: str,
    samples_iterable: Iterable[dict],
    predictors: dict,
    config: ProtocolConfig | None = None,
    total: int | None = None,
) -> dict:
    """:func:`run_protocol` for several predictors on ONE pass over the samples.

    predictors: {name: predictor}; returns {name: EvalSummary}. The data pipeline runs once,
    so a network and its baseline see identical batches.
    """
    check_protocol(protocol)
    config = config or ProtocolConfig()
    evaluators = {name: ev.KeypointEvaluator() for name in predictors}
    counter = lambda s: num_samples_in(protocol, s)  # noqa: E731
    for sample in _limited(samples_iterable, protocol, config, total, counter):
        for name, predictor in predictors.items():
            evaluators[name].feed(*prepare(protocol, sample, predictor(sample), config))
    preset = config.preset or default_preset(protocol)
    return {name: e.summary(*preset) for name, e in evaluators.items()}


# --- segmentation ----------------------------------------------------------------------------


class MaskIoU:
    """Accumulates hand-mask intersections and unions (hand = class > 1, both hands).

    iou_total = sum(intersection) / sum(union) over all images; iou_mean_per_image = mean of
    the per-image IoUs over images whose union is not empty (an image with neither a
    ground-truth nor a predicted hand pixel has no IoU; counted in num_empty).
    """

    def __init__(self):
        self.intersections: list[np.ndarray] = []
        self.unions: list[np.ndarray] = []

    def feed(self, gt_mask, pred_mask) -> None:
        """gt_mask, pred_mask: [B, H, W] (or [H, W]) bool, same shape."""
        gt, pred = np.asarray(gt_mask, bool), np.asarray(pred_mask, bool)
        if gt.shape != pred.shape or gt.ndim not in (2, 3):
            raise ValueError(
                f"gt and predicted masks must both be [B, H, W] or [H, W]; received {gt.shape}, "
                f"{pred.shape}"
            )
        if gt.ndim == 2:
            gt, pred = gt[None], pred[None]
        self.intersections.append(np.count_nonzero(gt & pred, axis=(1, 2)))
        self.unions.append(np.count_nonzero(gt | pred, axis=(1, 2)))

    def summary(self) -> dict:
        if not self.unions:
            raise ValueError("no masks were fed to the IoU evaluator")
        inter = np.concatenate(self.intersections).astype(np.float64)
        union = np.concatenate(self.unions).astype(np.float64)
        used = union > 0
        return {
            "iou_total": float(inter.sum() / union.sum()) if union.sum() else None,
            "iou_mean_per_image": float(np.mean(inter[used] / union[used])) if used.any() else None,
            "num_samples": int(union.size),
            "num_empty": int(np.sum(~used)),
            "intersection_px": int(inter.sum()),
            "union_px": int(union.sum()),
        }


def run_segmentation(samples_iterable, predictors: dict, config=None, total=None) -> dict:
    """Mask IoU of each predictor: {name: MaskIoU.summary()} on one pass over the samples.

    Samples: {"image": [B, H, W, 3], "hand_mask": [B, H, W] bool}; a predictor returns the
    predicted hand mask [B, H, W] bool. ``config`` supplies max_samples and progress.
    """
    config = config or ProtocolConfig()
    evaluators = {name: MaskIoU() for name in predictors}
    counter = lambda s: int(np.shape(s["hand_mask"])[0])  # noqa: E731
    for sample in _limited(samples_iterable, SEGMENTATION, config, total, counter):
        for name, predictor in predictors.items():
            evaluators[name].feed(sample["hand_mask"], predictor(sample))
    return {name: e.summary() for name, e in evaluators.items()}


def write_segmentation_report(result: dict, name: str, output_dir, meta: dict):
    """Print the IoUs and write <output_dir>/<name>.json; returns its path."""
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"name": name, "kind": "mask_iou", **meta, **result}, indent=2))

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    print(
        f"{name}: {result['num_samples']} images ({result['num_empty']} without hand pixels)\n"
        f"  IoU total          {fmt(result['iou_total'])} (sum of intersections / sum of unions)\n"
        f"  IoU mean per image {fmt(result['iou_mean_per_image'])}\nwrote {path}"
    )
    return path


# --- stored predictions and the report -------------------------------------------------


def load_predictions(path) -> dict:
    """Read a predictions npz: gt [N, 21, D], vis [N, 21], pred [N, 21, D], kind, gt_index0?

    D is 2 for kind "2d", else 3; a single sample may drop the N axis. Raises
    FileNotFoundError, or ValueError naming the file and the array when the file is not an
    npz, an array is missing, not numeric or of the wrong shape, the kind is unknown, or
    there is nothing to score (0 samples, no visible keypoint).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile) as err:
        # AttributeError: a plain .npy, which has no named arrays
        raise ValueError(
            f"{path} is not an .npz of predictions ({type(err).__name__}: {err})"
        ) from err
    missing = [k for k in ("gt", "vis", "pred", "kind") if k not in data]
    if missing:
        raise ValueError(f"{path} lacks arrays {missing}; it has {sorted(data)}")
    data["kind"] = str(data["kind"])
    if data["kind"] not in PREDICTION_KINDS:
        raise ValueError(
            f"{path}: kind must be one of {PREDICTION_KINDS}; received {data['kind']!r}"
        )
    dims = 2 if data["kind"] == "2d" else 3
    for key in ("gt", "vis", "pred"):
        if not (np.issubdtype(data[key].dtype, np.number) or data[key].dtype == bool):
            raise ValueError(f"{path}: array {key!r} must be numeric; it is {data[key].dtype}")
    gt, vis, pred = data["gt"], data["vis"], data["pred"]
    if gt.ndim not in (2, 3) or gt.shape[-2:] != (kp.NUM_KEYPOINTS, dims):
        raise ValueError(
            f"{path}: array 'gt' must be [N, {kp.NUM_KEYPOINTS}, {dims}] for kind "
            f"{data['kind']!r}; received shape {gt.shape}"
        )
    if pred.shape != gt.shape:
        raise ValueError(f"{path}: array 'pred' has shape {pred.shape}; 'gt' has {gt.shape}")
    if vis.shape != gt.shape[:-1]:
        raise ValueError(f"{path}: array 'vis' must be {list(gt.shape[:-1])}; received {vis.shape}")
    # Nothing to score is a mistake in the file, not an empty report.
    samples = 1 if gt.ndim == 2 else gt.shape[0]
    if samples == 0:
        raise ValueError(f"{path} holds 0 samples (arrays 'gt', 'vis', 'pred' are empty)")
    if not np.any(vis):
        raise ValueError(
            f"{path} has no visible keypoint (array 'vis' is all false in its {samples} "
            "samples): nothing to score"
        )
    if "gt_index0" in data:
        data["gt_index0"] = str(data["gt_index0"])
    return data


def evaluate_predictions(data: dict, root: str, default_gt_index0: str, progress: bool = True):
    """EvalSummary (px or m) of stored predictions (:func:`load_predictions`).

    kind "2d" / "3d": gt and pred already in one frame (px / m, root-relative for 3d);
    keypoint 0 is re-rooted only if the file names ``gt_index0``. kind "3d_normed": gt in
    camera metres, pred scale-normalised; aligned with ``evaluation.align_3d`` using
    ``root`` and ``gt_index0`` (file key, else ``default_gt_index0``).
    """
    from tqdm import tqdm

    gt, vis, pred = data["gt"], data["vis"], data["pred"]
    if gt.ndim == 2:
        gt, vis, pred = gt[None], np.asarray(vis)[None], pred[None]
    kind = data["kind"]
    gt_index0 = data.get("gt_index0")
    evaluator = ev.KeypointEvaluator()
    for start in tqdm(range(0, gt.shape[0], CHUNK), desc="evaluate", disable=not progress):
        sl = slice(start, start + CHUNK)
        g, v, p = gt[sl], vis[sl], pred[sl]
        if kind == "3d_normed":
            g, v, p = ev.align_3d(g, v, p, root=root, gt_index0=gt_index0 or default_gt_index0)
        elif gt_index0 is not None:
            g, v = ev.set_root(g, v, root, gt_index0)
            if kind == "3d":  # keep both root-relative after re-rooting the ground truth
                g = g - g[:, :1]
        evaluator.feed(g, v, p)
    return evaluator.summary(*(ev.PRESET_2D if kind == "2d" else ev.PRESET_3D))


def write_report(
    summary: ev.EvalSummary, kind: str, name: str, output_dir, meta: dict, reference=None
):
    """Print the numbers, write <name>.json and <name>_pck.png; returns (json, png) paths.

    kind "2d" reports px; otherwise mm, plus eval_full's sub-range AUC from threshold
    index 8 (21.05-50 mm, docs/original.md §7). reference="stb" adds Zhang et al.'s STB curves.
    """
    from hand3d_tf.evaluation import plots

    is_3d = kind != "2d"
    unit = "mm" if is_3d else "px"
    shown = summary.in_units(ev.METRES_TO_MM) if is_3d else summary
    result = {"name": name, "kind": kind, "unit": unit, **meta, **shown.to_dict()}
    lines = [
        f"{name}: {summary.num_samples} samples ({summary.num_invalid} non-finite predictions)",
        f"  EPE mean   {shown.epe_mean:.3f} {unit}",
        f"  EPE median {shown.epe_median:.3f} {unit} (mean of per-keypoint medians)",
        f"  AUC        {shown.auc:.3f} ({shown.thresholds[0]:g}-{shown.thresholds[-1]:g} {unit})",
    ]
    if is_3d:
        start = ev.STB_SUBRANGE_START
        result["auc_subrange"] = shown.auc_between(start)
        result["auc_subrange_from_mm"] = float(shown.thresholds[start])
        lines.append(
            f"  AUC        {result['auc_subrange']:.3f} ({shown.thresholds[start]:.2f}-"
            f"{shown.thresholds[-1]:g} mm, eval_full's sub-range)"
        )
    print("\n".join(lines))
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=2))
    title = f"{name} ({meta['dataset']})" if "dataset" in meta else name
    png_path = plots.plot_pck(
        {name: (shown.thresholds, shown.pck_curve)},
        out / f"{name}_pck.png",
        unit=unit,
        title=title,
        reference=reference,
    )
    print(f"wrote {json_path} and {png_path}")
    return json_path, png_path
