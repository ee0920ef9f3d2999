"""Training data for the trainer: dataset pipelines or in-memory arrays, as a TrainData.

A TrainData gives
- ``train(start_step)``: an endless tf.data.Dataset of GLOBAL batches (inputs, targets),
  positioned at ``start_step`` so that a resumed run continues the same stream where it can
  (exactly for arrays; for file datasets see ``dataset_data``);
- ``evaluation()``: an iterable of NumPy (inputs, truth) batches of the held-out split for
  the final evaluation, or None.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

from hand3d_tf.training.presets import TrainConfig


class NoSamplesError(ValueError):
    """The data directory (or split) holds no usable sample."""


@dataclasses.dataclass
class TrainData:
    train: Callable[[int], tf.data.Dataset]
    evaluation: Callable[[], Iterable[tuple[dict, dict]]] | None
    num_train: int
    description: str


def _shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    # The streams are not built from files: under multi-worker training every worker builds
    # the same stream and keeps its own slice of each global batch.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def array_stream(
    inputs: dict, targets: dict, batch_size: int, seed: int, start_step: int = 0
) -> tf.data.Dataset:
    """Endless batches of (inputs, targets) drawn from arrays, reshuffled every epoch.

    Element i of the stream is sample index_shuffle(i mod N) of epoch i // N with a
    stateless seed, so the stream from ``start_step`` equals the tail of the stream from 0:
    an interrupted and resumed run sees exactly the batches an uninterrupted one sees.
    """
    n = len(next(iter(inputs.values())))
    if n < 1:
        raise NoSamplesError("no training samples were given")
    tensors = (
        {k: tf.constant(v) for k, v in inputs.items()},
        {k: tf.constant(v) for k, v in targets.items()},
    )

    def pick(i):
        epoch, position = i // n, i % n
        seed2 = tf.stack([tf.constant(seed, tf.int64), epoch])
        index = tf.random.experimental.index_shuffle(position, seed2, n - 1)
        return tf.nest.map_structure(lambda t: tf.gather(t, index), tensors)

    first = int(start_step) * int(batch_size)
    ds = tf.data.Dataset.range(first, np.iinfo(np.int64).max).map(pick)
    options = tf.data.Options()
    options.deterministic = True
    return _shard_by_data(ds.batch(batch_size, drop_remainder=True).prefetch(2)).with_options(
        options
    )


def array_data(
    inputs: dict,
    targets: dict,
    truth: dict | None,
    batch_size: int,
    seed: int = 0,
    eval_batch_size: int = 8,
    description: str = "arrays",
) -> TrainData:
    """TrainData over arrays; the final evaluation runs on the same samples (smoke only)."""
    n = len(next(iter(inputs.values())))

    def evaluation():
        for start in range(0, n, eval_batch_size):
            sl = slice(start, start + eval_batch_size)
            yield {k: v[sl] for k, v in inputs.items()}, {k: v[sl] for k, v in truth.items()}

    return TrainData(
        train=lambda start_step: array_stream(inputs, targets, batch_size, seed, start_step),
        evaluation=evaluation if truth is not None else None,
        num_train=n,
        description=description,
    )


def smoke_data(config: TrainConfig) -> TrainData:
    """A few samples for --smoke without a data_dir.

    With the synthetic generator available (hand3d_tf.data.synthetic), ``num_samples``
    training and evaluation images are rendered into <output_dir>/smoke_data (well under a
    second) and run through the real pipelines; otherwise generated arrays are used.
    """
    n = config.num_samples or 4
    try:
        from hand3d_tf.data.synthetic import SyntheticConfig, write_dataset
    except ImportError:
        from hand3d_tf.training.smoke_data import smoke_arrays

        inputs, targets, truth = smoke_arrays(config.net, n, config.image_size, config.seed)
        return array_data(
            inputs, targets, truth, config.batch_size, config.seed, description=f"{n} smoke arrays"
        )
    folder = os.path.join(config.output_dir, "smoke_data")
    if not os.path.isdir(folder):
        # Written aside and renamed into place: several workers of one run may share the
        # output dir; they generate identical samples (same seed) and one rename wins.
        tmp = f"{folder}.tmp-{uuid.uuid4().hex[:8]}"
        for split in ("training", "evaluation"):
            write_dataset(tmp, split, SyntheticConfig(), seed=config.seed, count=n, progress=False)
        try:
            os.rename(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return dataset_data(dataclasses.replace(config, data_dir=folder, dataset="synthetic"))


def make_data(config: TrainConfig) -> TrainData:
    """The data a config asks for: smoke samples, or the dataset pipelines on data_dir."""
    if config.smoke and not config.data_dir:
        return smoke_data(config)
    return dataset_data(config)


# STB ships only an evaluation split in the original (docs/original.md §8.4: B1Counting, B1Random).
# Training uses the remaining ten BB sequences, the usual STB split (15,000 frames x 2
# views); this choice is the project's, not the original code's.
STB_TRAIN_SEQUENCES = tuple(f"B{i}{kind}" for i in range(2, 7) for kind in ("Counting", "Random"))


def _subset(source, n: int | None):
    """The first ``n`` samples of a data Source (None: all)."""
    if n is None or n >= len(source):
        return source
    cut = {
        key: getattr(source, key)[:n]
        for key in (
            "xyz",
            "uv",
            "vis",
            "K",
            "ids",
            "hand_side",
            "image_paths",
            "mask_paths",
            "mask_trusted",
        )  # fmt: skip
        if getattr(source, key) is not None
    }
    return dataclasses.replace(source, **cut)


def data_dirs(data_dir: str) -> list[str]:
    """The folders of a ``--data_dir`` value: one path, or several joined by commas (their
    samples are mixed, e.g. synthetic renders and labelled photographs)."""
    return [part for part in (data_dir or "").split(",") if part]


def _open_split(config: TrainConfig, split: str):
    """The data Source of one split ("training" / "evaluation") of config.data_dir; several
    comma-separated folders are concatenated (samples.concat_sources)."""
    from hand3d_tf.data.samples import build_source, concat_sources

    if not config.data_dir:
        raise NoSamplesError(
            f"--data_dir is required for dataset {config.dataset!r} (or use --smoke without it)"
        )
    folders = data_dirs(config.data_dir)
    if len(folders) > 1:
        if config.dataset == "stb":
            raise NoSamplesError("--data_dir with several folders is for RHD-layout datasets only")
        opened, errors = [], []
        for folder in folders:
            try:
                opened.append(_open_split(dataclasses.replace(config, data_dir=folder), split))
            except NoSamplesError as err:
                if split == "training":
                    raise
                errors.append(str(err))
        if not opened:
            raise NoSamplesError("; ".join(errors))
        try:
            return concat_sources(opened, name=config.data_dir)
        except ValueError as err:
            raise NoSamplesError(f"--data_dir={config.data_dir}: {err}") from err
    try:
        if config.dataset == "stb":
            from hand3d_tf.data.stb import EVAL_SEQUENCES, STBReader

            seqs = STB_TRAIN_SEQUENCES if split == "training" else EVAL_SEQUENCES
            return build_source(STBReader(config.data_dir, sequences=seqs))
        from hand3d_tf.data.rhd import RHDReader

        return build_source(RHDReader(config.data_dir, split))
    except (FileNotFoundError, ValueError) as err:
        layout = (
            "labels/<SEQ>_BB.mat and images/<SEQ>/"
            if config.dataset == "stb"
            else f"{split}/anno_{split}.pickle, {split}/color/, {split}/mask/"
        )
        raise NoSamplesError(
            f"no {split} samples for dataset {config.dataset!r} in data_dir "
            f"{config.data_dir!r} (expected {layout}): {err}"
        ) from err


def dataset_data(config: TrainConfig) -> TrainData:
    """TrainData from the readers and tf.data pipelines of hand3d_tf.data.

    Augmentation follows the original's training scripts (pipelines presets
    ``<net>_rhd``: hue + random 256 crop for HandSegNet, uv / crop noises for PoseNet and
    lifting). Resuming: with ``deterministic`` the stream is the same one skipped by the
    steps already done (exact, but the skipped batches are decoded again); otherwise the
    resumed stream gets a new seed (seed + start_step) so it does not replay the first
    batches.
    """
    from hand3d_tf.data import pipelines
    from hand3d_tf.data.samples import select

    train_source = _subset(_open_split(config, "training"), config.num_samples)
    if config.net == "handsegnet" and not train_source.has_masks:
        raise NoSamplesError(
            f"HandSegNet needs hand masks; dataset {config.dataset!r} in {config.data_dir!r} "
            "has none (RHD and synthetic data do)"
        )
    if config.net == "handsegnet" and train_source.mask_trusted is not None:
        # Labelled photographs whose mask is not trusted train PoseNet only.
        if not train_source.mask_trusted.any():
            raise NoSamplesError(f"HandSegNet: no sample in {config.data_dir!r} has a trusted mask")
        train_source = select(train_source, train_source.mask_trusted)
    if config.net == "lifting" and not np.isfinite(train_source.xyz).all():
        raise NoSamplesError(
            f"the lifting needs 3D labels; {config.data_dir!r} holds 2D-only samples "
            "(labelled photographs): train the lifting on synthetic or RHD data"
        )
    build = {
        "handsegnet": pipelines.handsegnet_dataset,
        "posenet": pipelines.posenet_dataset,
        "lifting": pipelines.lifting_dataset,
    }[config.net]

    # Multi-worker training shards each global batch by position: every worker must build
    # the identical stream, so the maps keep their order (as in deterministic mode).
    ordered = config.deterministic or config.strategy == "multi_worker"

    def train(start_step: int) -> tf.data.Dataset:
        seed = config.seed if (config.deterministic or not start_step) else config.seed + start_step
        cfg = pipelines.preset(
            f"{config.net}_rhd",
            batch_size=config.batch_size,
            seed=seed,
            deterministic=ordered,
            **pipeline_overrides(config),
        )
        ds = build(train_source, cfg)
        if config.deterministic and start_step:
            ds = ds.skip(start_step)
        return _shard_by_data(ds)

    try:
        evaluation = evaluation_data(config)
    except NoSamplesError as err:
        import logging

        logging.getLogger(__name__).warning("no final evaluation: %s", err)
        evaluation = None

    return TrainData(
        train=train,
        evaluation=evaluation,
        num_train=len(train_source),
        description=f"{config.dataset} {config.data_dir} ({len(train_source)} training samples)",
    )


def evaluation_data(config: TrainConfig):
    """The held-out batches of ``config.data_dir``'s evaluation split (the first
    ``eval_max_samples``), as TrainData.evaluation: a function returning an iterator of
    (inputs, truth). Needs no training split (training/curves.py measures checkpoints on a
    separate held-out folder). NoSamplesError when the split has no samples."""
    from hand3d_tf.data import pipelines

    eval_source = _subset(_open_split(config, "evaluation"), config.eval_max_samples)

    def evaluation():
        preset = "full_stb_eval" if config.dataset == "stb" else f"{config.net}_rhd_eval"
        overrides = {k: v for k, v in pipeline_overrides(config).items() if "noise" not in k}
        overrides.pop("hue_max_delta", None)
        overrides.pop("random_crop_size", None)
        cfg = pipelines.preset(preset, batch_size=8, **overrides)
        for batch in pipelines.evaluation_dataset(eval_source, cfg).as_numpy_iterator():
            yield _eval_batch(config.net, batch)

    return evaluation


def pipeline_overrides(config: TrainConfig) -> dict:
    """PipelineConfig changes for ``config``: crop side and, for --smoke, no augmentation.

    PoseNet's crop is ``image_size`` pixels: a smaller crop (smoke: 64) shows the same
    source region as the 256 crop would, so the scale limits and the Gaussian width scale
    with it (docs/original.md §8.3: sigma 25 and scale >= 1 at 256). HandSegNet takes random crops of
    ``image_size``. The lifting input stays the 256 crop pooled to 32 x 32 (docs/original.md §3).
    """
    out = {}
    if config.net == "posenet" and config.image_size != 256:
        ratio = config.image_size / 256.0
        out.update(crop_size=config.image_size, scoremap_sigma=25.0 * ratio,
                   crop_scale_min=1.0 * ratio, crop_scale_max=10.0 * ratio)  # fmt: skip
    if config.net == "handsegnet":
        out["random_crop_size"] = config.image_size
    if config.smoke:
        # Overfitting a few samples: the same images every epoch, full frames for HandSegNet.
        out.update(hue_max_delta=0.0, uv_noise_sigma=0.0, crop_center_noise_sigma=0.0,
                   crop_scale_noise_max=1.0, crop_offset_noise_sigma=0.0)  # fmt: skip
        if config.net == "handsegnet":
            out["random_crop_size"] = None
    return out


def _eval_batch(net: str, batch: dict) -> tuple[dict, dict]:
    """(inputs, truth) of an evaluation_dataset batch for the net being trained."""
    if net == "handsegnet":
        return {"image": batch["image"]}, {"hand_mask": batch["hand_mask"]}
    if net == "posenet":
        truth = {k: batch[k] for k in ("keypoints_uv_crop", "keypoint_vis", "crop_scale")}
        return {"image": batch["image_crop"]}, truth
    inputs = {"scoremap": batch["scoremap_pooled"], "hand_side": batch["hand_side"]}
    return inputs, {k: batch[k] for k in ("keypoints_xyz", "keypoint_vis")}
