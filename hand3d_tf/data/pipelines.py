"""tf.data input pipelines of the three networks (docs/original.md §8.3, §9).

Usage::

    source = build_source(RHDReader("/data/RHD_published_v2", "training"))
    ds = posenet_dataset(source, preset("posenet_rhd"))      # (inputs, targets) batches
    ev = evaluation_dataset(source, preset("posenet_rhd_eval"))  # flat dicts, raw fields too

Element order of every pipeline, and why:
1. Indices: each epoch is a fresh permutation of the WHOLE sample list (a stateless shuffle
   of N integers, seeded by (seed, epoch)), so there is no 100-element queue bias.
2. ``enumerate``: the running element number seeds all per-sample randomness (stateless
   ops), so noise is reproducible whatever the map parallelism or the batch size.
3. Per-sample load map (parallel): gather annotations, decode PNGs with tf.io (or read a
   binary record), choose the hand from the mask pixel counts, normalise the image to
   -0.5..0.5, draw the noises; HandSegNet's random 256 crop and hue happen here too.
4. Batch, then a batched target map (vectorised): palm replacement, uv noise, hand
   selection, 3-D targets, ground-truth crop, score maps. 5. Prefetch.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from hand3d_tf import keypoints as kp
from hand3d_tf.data import geometry_tf as geo
from hand3d_tf.data import targets as tg
from hand3d_tf.data.samples import PNG_SIGNATURE, PNG_TRAILER, Source, build_source
from hand3d_tf.spec import targets as spec_targets

AUTOTUNE = tf.data.AUTOTUNE
HUE_SPACES = ("centred", "unit")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every option of the pipelines. Defaults: no augmentation; see :data:`PRESETS`.

    Batching: batch_size; shuffle (whole-set permutation per epoch); num_epochs (None =
    repeat forever); drop_remainder; seed (None = fresh, or 0 when deterministic);
    deterministic (fixed seeds and ordered maps: identical batches on every run);
    num_parallel_calls / prefetch (tf.data.AUTOTUNE = -1); skip_bad (drop samples whose
    PNG fails to decode instead of raising).
    Data (docs/original.md §8.3): use_wrist_coord (False: index 0 = palm centre); uv_truncate (cast
    uv to int as the RHD reader does); hue_max_delta (random hue, 0 = off) applied in
    hue_space "centred" (on the -0.5..0.5 image, as the original) or "unit" (on 0..1, then
    re-centred: a deliberate deviation); random_crop_size (HandSegNet's joint random crop,
    None = full image).
    Crop and targets: crop_size 256; uv_noise_sigma 2.5; crop_center_noise_sigma 20;
    crop_scale_noise_max (scale x uniform [1, max), 1 = off); crop_offset_noise_sigma 10
    (the original's values, truncated normals re-drawn beyond 2 sigma); crop size clamp
    [crop_size_min, crop_size_max] px with crop_size_fallback; scale clamp
    [crop_scale_min, crop_scale_max]; scoremap_sigma 25 (exp(-d^2 / sigma^2));
    lifting_pool 8 (256 -> 32 average pooling).
    """

    batch_size: int = 8
    shuffle: bool = True
    num_epochs: int | None = None
    drop_remainder: bool = True
    seed: int | None = None
    deterministic: bool = False
    num_parallel_calls: int = AUTOTUNE
    prefetch: int = AUTOTUNE
    skip_bad: bool = False
    use_wrist_coord: bool = False
    uv_truncate: bool = True
    hue_max_delta: float = 0.0
    hue_space: str = "centred"
    random_crop_size: int | None = None
    crop_size: int = spec_targets.CROP_SIZE
    uv_noise_sigma: float = 0.0
    crop_center_noise_sigma: float = 0.0
    crop_scale_noise_max: float = 1.0
    crop_offset_noise_sigma: float = 0.0
    crop_size_min: float = spec_targets.CROP_SIZE_MIN
    crop_size_max: float = spec_targets.CROP_SIZE_MAX
    crop_size_fallback: float = spec_targets.CROP_SIZE_FALLBACK
    crop_scale_min: float = spec_targets.CROP_SCALE_MIN
    crop_scale_max: float = spec_targets.CROP_SCALE_MAX
    scoremap_sigma: float = spec_targets.SCOREMAP_SIGMA
    lifting_pool: int = spec_targets.LIFTING_POOL

    def __post_init__(self):
        if self.hue_space not in HUE_SPACES:
            raise ValueError(f"hue_space must be one of {HUE_SPACES}; received {self.hue_space!r}")
        if not 0.0 <= self.hue_max_delta <= 0.5:
            raise ValueError(f"hue_max_delta must be in [0, 0.5]; received {self.hue_max_delta}")
        for name in ("batch_size", "crop_size", "lifting_pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; received {getattr(self, name)}")
        for name in ("uv_noise_sigma", "crop_center_noise_sigma", "crop_offset_noise_sigma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; received {getattr(self, name)}")
        if self.crop_scale_noise_max < 1.0:
            raise ValueError(
                f"crop_scale_noise_max must be >= 1; received {self.crop_scale_noise_max}"
            )
        if self.num_epochs is not None and self.num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1 or None; received {self.num_epochs}")

    @property
    def has_noise(self) -> bool:
        return bool(
            self.uv_noise_sigma
            or self.crop_center_noise_sigma
            or self.crop_offset_noise_sigma
            or self.crop_scale_noise_max > 1.0
            or self.hue_max_delta
        )


_EVAL = dict(shuffle=False, num_epochs=1, drop_remainder=False, deterministic=True)
# Per-network settings of the original's training scripts (docs/original.md §9 table, §8.3
# values; the augmentations live in spec.targets, which the JAX trainer reads too).
PRESETS: dict[str, dict] = {
    "handsegnet_rhd": dict(spec_targets.RHD_AUGMENTATION["handsegnet"]),
    "posenet_rhd": dict(spec_targets.RHD_AUGMENTATION["posenet"]),
    "lifting_rhd": dict(spec_targets.RHD_AUGMENTATION["lifting"]),
    "handsegnet_rhd_eval": dict(_EVAL),
    "posenet_rhd_eval": dict(_EVAL),
    "lifting_rhd_eval": dict(_EVAL),
    # STB: keypoint 0 is already the palm; whether the original's STB reader truncated uv
    # is not known, so the stored floats are kept (uv only matters for 2-D evaluation).
    "full_stb_eval": dict(_EVAL, uv_truncate=False),
}


def preset(name: str, **overrides) -> PipelineConfig:
    """The named :class:`PipelineConfig` with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown pipeline preset {name!r}; known: {', '.join(PRESETS)}")
    return PipelineConfig(**{**PRESETS[name], **overrides})


def _resolve_seed(cfg: PipelineConfig) -> int:
    if cfg.seed is not None:
        return int(cfg.seed)
    return 0 if cfg.deterministic else int(np.random.SeedSequence().entropy % (2**31))


def _check(source: Source, cfg: PipelineConfig) -> None:
    if cfg.use_wrist_coord and source.root == kp.ROOT_PALM:
        raise ValueError(
            f"source {source.name!r} has the palm centre at index 0 and no wrist; "
            "use_wrist_coord=True is not supported for it (the original extrapolated one, "
            "docs/original.md §8.4/§11.9)"
        )
    h, w = source.image_hw
    if cfg.random_crop_size and (cfg.random_crop_size > h or cfg.random_crop_size > w):
        raise ValueError(f"random_crop_size {cfg.random_crop_size} exceeds the image size {h}x{w}")


# ---------------------------------------------------------------- per-sample loading
def _read_png(path: tf.Tensor, channels: int, hw) -> tf.Tensor:
    """Decode one PNG with tf.io; a truncated / non-PNG file or a wrong size raises an
    InvalidArgumentError naming the path (a missing file: NotFoundError naming it)."""
    data = tf.io.read_file(path)
    ok = tf.logical_and(
        tf.strings.substr(data, 0, len(PNG_SIGNATURE)) == PNG_SIGNATURE,
        tf.strings.substr(data, -len(PNG_TRAILER), len(PNG_TRAILER)) == PNG_TRAILER,
    )
    check = tf.debugging.Assert(ok, ["corrupt or truncated PNG:", path])
    with tf.control_dependencies([check]):
        image = tf.io.decode_png(data, channels=channels)
    if channels == 0:
        image = image[..., :1]
    size_ok = tf.reduce_all(tf.shape(image)[:2] == tf.constant(hw, tf.int32))
    check = tf.debugging.Assert(size_ok, ["PNG has size", tf.shape(image), "expected", hw, path])
    with tf.control_dependencies([check]):
        image = tf.identity(image)
    return tf.ensure_shape(image, [hw[0], hw[1], max(channels, 1)])


def _pixel_reader(source: Source):
    """fn(index) -> (image uint8 [H, W, 3], mask uint8 [H, W] or None)."""
    hw = tuple(int(v) for v in source.image_hw)
    if source.image_paths is not None:
        images = tf.constant(source.image_paths)
        masks = tf.constant(source.mask_paths) if source.mask_paths is not None else None

        def read(index):
            image = _read_png(tf.gather(images, index), 3, hw)
            mask = None if masks is None else _read_png(tf.gather(masks, index), 0, hw)[..., 0]
            return image, mask

        return read
    from hand3d_tf.data import records

    opened = (
        records.read_rhd_records if source.records_layout == "rhd" else records.read_stb_records
    )(source.records_path)
    has_mask = source.records_layout == "rhd"

    def read_record(index):
        image, mask = opened.pixels(int(index))
        return (image, mask) if has_mask else (image,)

    def read(index):
        outs = tf.numpy_function(read_record, [index], [tf.uint8] * (2 if has_mask else 1))
        image = tf.ensure_shape(outs[0], [hw[0], hw[1], 3])
        return image, (tf.ensure_shape(outs[1], list(hw)) if has_mask else None)

    return read


def _hue(image: tf.Tensor, cfg: PipelineConfig, seed: tf.Tensor) -> tf.Tensor:
    """Random hue on the -0.5..0.5 image: literally (docs/original.md §11.10) or on 0..1 ("unit")."""
    if not cfg.hue_max_delta:
        return image
    if cfg.hue_space == "centred":
        return tf.image.stateless_random_hue(image, cfg.hue_max_delta, seed)
    return tf.image.stateless_random_hue(image + 0.5, cfg.hue_max_delta, seed) - 0.5


def make_load_fn(source: Source, cfg: PipelineConfig, kind: str, seed: int):
    """Per-sample map fn(counter, index) -> dict for ``kind`` in handsegnet / posenet /
    lifting / evaluation. Randomness is stateless, seeded by (seed, counter)."""
    read = _pixel_reader(source)
    hw = tuple(int(v) for v in source.image_hw)
    const = {
        "xyz": tf.constant(source.xyz, tf.float32),
        "uv": tf.constant(source.uv, tf.float32),
        "vis": tf.constant(source.vis, tf.bool),
        "K": tf.constant(source.K, tf.float32),
        "id": tf.constant(source.ids, tf.int64),
    }
    fixed_side = None if source.hand_side is None else tf.constant(source.hand_side, tf.int32)
    want_image = kind != "lifting"
    want_mask = (
        kind == "handsegnet" or (fixed_side is None) or (kind == "evaluation" and source.has_masks)
    )
    n_points = kp.RHD_NUM_POINTS

    def normal(shape, seed_pair, sigma):
        if not sigma:
            return tf.zeros(shape, tf.float32)
        return tf.random.stateless_truncated_normal(shape, seed_pair, stddev=sigma)

    def load(counter, index):
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(seed, tf.int64), counter]), 7
        )
        image, mask = read(index) if (want_image or want_mask) else (None, None)
        if kind == "handsegnet":
            crop = cfg.random_crop_size
            if crop:  # one offset for image and mask (the original crops them jointly)
                top = tf.random.stateless_uniform([], seeds[4], 0, hw[0] - crop + 1, tf.int32)
                left = tf.random.stateless_uniform([], seeds[6], 0, hw[1] - crop + 1, tf.int32)
                image = image[top : top + crop, left : left + crop]
                mask = mask[top : top + crop, left : left + crop]
            image = _hue(tf.cast(image, tf.float32) / 255.0 - 0.5, cfg, seeds[5])
            return {"image": image, "hand_mask": tg.hand_mask_one_hot(mask)}
        out = {key: tf.gather(value, index) for key, value in const.items()}
        if fixed_side is not None:
            out["hand_side"] = tf.gather(fixed_side, index)
        else:
            out["hand_side"] = tg.hand_side_from_mask(mask)
        if want_image:
            out["image"] = _hue(tf.cast(image, tf.float32) / 255.0 - 0.5, cfg, seeds[5])
        if kind == "evaluation" and source.has_masks:
            out["hand_mask"] = tg.hand_mask_one_hot(mask)
        out["uv_noise"] = normal([n_points, 2], seeds[0], cfg.uv_noise_sigma)
        out["center_noise"] = normal([2], seeds[1], cfg.crop_center_noise_sigma)
        out["offset_noise"] = normal([2], seeds[2], cfg.crop_offset_noise_sigma)
        if cfg.crop_scale_noise_max > 1.0:
            out["scale_noise"] = tf.random.stateless_uniform(
                [], seeds[3], 1.0, cfg.crop_scale_noise_max
            )
        else:
            out["scale_noise"] = tf.ones([], tf.float32)
        return out

    return load


# ---------------------------------------------------------------- batched targets
def make_target_fn(source: Source, cfg: PipelineConfig, kind: str):
    """Batched map fn(batch dict) -> (inputs, targets) for posenet / lifting, or a flat
    dict of every field for evaluation (docs/original.md §8.3 steps 1-8)."""
    hw = tuple(int(v) for v in source.image_hw)
    replace_wrist = source.root == kp.ROOT_WRIST and not cfg.use_wrist_coord
    size = cfg.crop_size

    def derive(b):
        xyz, uv, vis = b["xyz"], b["uv"], b["vis"]
        if cfg.uv_truncate:  # the RHD reader casts uv to int before anything else
            uv = tg.truncate(uv)
        if replace_wrist:
            xyz, _ = tg.palm_replace(xyz)
            uv, vis = tg.palm_replace(uv, vis)
        uv_gt = uv
        uv = uv + b["uv_noise"]
        side = b["hand_side"]
        xyz21, uv21, vis21 = (tg.select_hand(t, side) for t in (xyz, uv, vis))
        center, scale = tg.crop_center_and_scale(
            uv21, vis21, hw, cfg, b["center_noise"], b["scale_noise"], b["offset_noise"]
        )
        uv21_crop = tg.uv_to_crop(uv21, center, scale, size)
        rowcol_crop = tf.reverse(uv21_crop, axis=[-1])
        one_hot = tf.one_hot(side, 2, dtype=tf.float32)
        if kind == "posenet":
            inputs = {"image": tg.crop_images(b["image"], center, scale, size)}
            maps = tg.scoremaps(rowcol_crop, vis21, size, cfg.scoremap_sigma)
            return inputs, {"scoremap": maps, "keypoint_vis": vis21}
        normed, bone = geo.normalize(xyz21)
        canonical, rot = geo.canonical_frame(normed)
        lifting_targets = {
            "xyz_normed": normed,
            # Right hands are mirrored in the canonical frame only (docs/original.md §6).
            "xyz_canonical": geo.flip_right_hand(canonical, side == 1),
            "rot_mat": geo.rotation_target(rot),
            "keypoint_scale": bone,
            "xyz_local": geo.bone_relative(normed),
        }
        pooled = tg.pooled_scoremaps(rowcol_crop, vis21, size, cfg.scoremap_sigma, cfg.lifting_pool)
        if kind == "lifting":
            return {"scoremap": pooled, "hand_side": one_hot}, lifting_targets
        out = dict(lifting_targets)
        out.update(
            id=b["id"],
            image=b["image"],
            image_crop=tg.crop_images(b["image"], center, scale, size),
            scoremap=tg.scoremaps(rowcol_crop, vis21, size, cfg.scoremap_sigma),
            scoremap_pooled=pooled,
            hand_side=one_hot,
            keypoints_uv=tg.select_hand(uv_gt, side),
            keypoints_uv_crop=uv21_crop,
            keypoints_xyz=xyz21,
            keypoint_vis=vis21,
            crop_center=center,
            crop_scale=scale,
            K=b["K"],
            K_crop=tg.intrinsics_to_crop(b["K"], center, scale, size),
        )
        if "hand_mask" in b:
            out["hand_mask"] = b["hand_mask"]
        return out

    return derive


# ---------------------------------------------------------------- datasets
def _index_dataset(n: int, cfg: PipelineConfig, seed: int) -> tf.data.Dataset:
    """(counter, index) pairs: whole-set permutations per epoch, or the plain order."""
    if cfg.shuffle:
        epochs = tf.data.Dataset.range(cfg.num_epochs if cfg.num_epochs else 2**62)
        order = tf.range(n, dtype=tf.int64)

        def permutation(epoch):
            pair = tf.stack([tf.constant(seed, tf.int64), epoch])
            return tf.data.Dataset.from_tensor_slices(
                tf.random.experimental.stateless_shuffle(order, seed=pair)
            )

        ds = epochs.flat_map(permutation)
    else:
        ds = tf.data.Dataset.range(n).repeat(cfg.num_epochs)
    return ds.enumerate()


def _build(source, cfg: PipelineConfig, kind: str) -> tf.data.Dataset:
    source = build_source(source)
    _check(source, cfg)
    seed = _resolve_seed(cfg)
    det = cfg.deterministic
    ds = _index_dataset(len(source), cfg, seed)
    ds = ds.map(
        make_load_fn(source, cfg, kind, seed),
        num_parallel_calls=cfg.num_parallel_calls,
        deterministic=det,
    )
    if cfg.skip_bad:
        ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(
        cfg.batch_size,
        drop_remainder=cfg.drop_remainder,
        num_parallel_calls=cfg.num_parallel_calls,
        deterministic=det,
    )
    if kind == "handsegnet":
        ds = ds.map(lambda b: ({"image": b["image"]}, {"hand_mask": b["hand_mask"]}))
    else:
        ds = ds.map(
            make_target_fn(source, cfg, kind),
            num_parallel_calls=cfg.num_parallel_calls,
            deterministic=det,
        )
    options = tf.data.Options()
    options.deterministic = det
    return ds.with_options(options).prefetch(cfg.prefetch)


def handsegnet_dataset(source, cfg: PipelineConfig) -> tf.data.Dataset:
    """Batches ({"image": [B, S, S, 3] float32 -0.5..0.5}, {"hand_mask": [B, S, S, 2]
    one-hot (background = class <= 1, hand = class > 1)}); S = random_crop_size (256) or
    the full image. Needs masks (RHD)."""
    source = build_source(source)
    if not source.has_masks:
        raise ValueError(f"handsegnet_dataset needs hand masks; source {source.name!r} has none")
    return _build(source, cfg, "handsegnet")


def posenet_dataset(source, cfg: PipelineConfig) -> tf.data.Dataset:
    """Batches ({"image": crop [B, 256, 256, 3]}, {"scoremap": [B, 256, 256, 21] float32,
    "keypoint_vis": [B, 21] bool})."""
    return _build(source, cfg, "posenet")


def lifting_dataset(source, cfg: PipelineConfig) -> tf.data.Dataset:
    """Batches ({"scoremap": [B, 32, 32, 21] (the 256 ground-truth map average-pooled 8x8),
    "hand_side": [B, 2] one-hot}, {"xyz_normed", "xyz_canonical" (right hands z-mirrored),
    "xyz_local": [B, 21, 3]; "rot_mat": [B, 3, 3] = R_gt = M^T; "keypoint_scale": [B] m}).
    A source with 2D-only labels (NaN xyz: labelled photographs) raises ValueError."""
    source = build_source(source)
    if not np.isfinite(source.xyz).all():
        raise ValueError(
            f"source {source.name!r} holds 2D-only labels (no xyz): the lifting needs 3D labels"
        )
    return _build(source, cfg, "lifting")


def evaluation_dataset(source, cfg: PipelineConfig) -> tf.data.Dataset:
    """Batches of flat dicts with every field the evaluation protocols need.

    Ground truth (index 0 = palm unless use_wrist_coord): keypoints_uv [B, 21, 2] px in the
    full image, keypoints_xyz [B, 21, 3] m camera frame, keypoint_vis [B, 21], hand_side
    [B, 2]; crop: crop_center [B, 2] (row, col), crop_scale [B], keypoints_uv_crop, K,
    K_crop, image [B, H, W, 3] and image_crop [B, 256, 256, 3] (-0.5..0.5); targets:
    scoremap [B, 256, 256, 21], scoremap_pooled [B, 32, 32, 21], xyz_normed,
    xyz_canonical, rot_mat, keypoint_scale, xyz_local; id [B]; hand_mask if the source has
    masks. Use an ``*_eval`` preset (no noise, no shuffle, one epoch).
    """
    return _build(source, cfg, "evaluation")


def steps_per_epoch(source, cfg: PipelineConfig) -> int:
    """Batches per epoch of a pipeline built with ``cfg`` on ``source``."""
    n = len(build_source(source))
    return n // cfg.batch_size if cfg.drop_remainder else math.ceil(n / cfg.batch_size)
