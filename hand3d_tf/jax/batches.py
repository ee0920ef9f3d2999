"""Training batches of prepared samples with the original's augmentations, on the device.

The JAX twin of hand3d_tf.data.pipelines with the ``<net>_rhd`` presets
(spec.targets.RHD_AUGMENTATION, docs/original.md §8.3): ``samples`` is a dict of
samples.FIELDS arrays with a leading batch axis; ``augment=False`` draws no noise (the
pipelines with every noise at zero and no random crop or hue).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hand3d_tf.jax import targets as tg
from hand3d_tf.keypoints import NUM_KEYPOINTS
from hand3d_tf.spec.targets import NOISE_TRUNCATION, RHD_AUGMENTATION

__all__ = ["handsegnet_batch", "posenet_batch", "lifting_batch"]


def _normal(key, shape, sigma: float):
    """Truncated normal noise (re-drawn beyond NOISE_TRUNCATION sigma), as the pipelines'."""
    return jax.random.truncated_normal(key, -NOISE_TRUNCATION, NOISE_TRUNCATION, shape) * sigma


def _centred(image):
    return image.astype(jnp.float32) / 255.0 - 0.5


def handsegnet_batch(samples: dict, key, augment: bool = True):
    """-> image [B, S, S, 3] (pixel / 255 - 0.5, random hue), hand mask [B, S, S, 2]:
    one random S x S crop of both (S = random_crop_size), or the whole frame unaugmented."""
    image, hand = samples["image"], samples["hand"]
    if augment:
        aug = RHD_AUGMENTATION["handsegnet"]
        side = aug["random_crop_size"]
        k1, k2, k3 = jax.random.split(key, 3)
        n, h, w = hand.shape
        top = jax.random.randint(k1, (n,), 0, h - side + 1)
        left = jax.random.randint(k2, (n,), 0, w - side + 1)

        def crop(img, mask, t, lf):
            return (
                jax.lax.dynamic_slice(img, (t, lf, 0), (side, side, img.shape[-1])),
                jax.lax.dynamic_slice(mask, (t, lf), (side, side)),
            )

        image, hand = jax.vmap(crop)(image, hand, top, left)
        limit = aug["hue_max_delta"]
        delta = jax.random.uniform(k3, (n,), minval=-limit, maxval=limit)
        return tg.adjust_hue(_centred(image), delta), tg.hand_mask_one_hot(hand)
    return _centred(image), tg.hand_mask_one_hot(hand)


def _crop(samples: dict, key, net: str, augment: bool):
    """The ground-truth hand crop with ``net``'s noises: (center, scale, crop rowcol [B, 21, 2])."""
    uv, vis = samples["uv21"], samples["vis21"]
    n = uv.shape[0]
    center_noise, scale_noise, offset_noise = jnp.zeros((n, 2)), jnp.ones(n), jnp.zeros((n, 2))
    if augment:
        aug = RHD_AUGMENTATION[net]
        k1, k2, k3, k4 = jax.random.split(key, 4)
        uv = uv + _normal(k1, (n, NUM_KEYPOINTS, 2), aug["uv_noise_sigma"])
        center_noise = _normal(k2, (n, 2), aug["crop_center_noise_sigma"])
        if aug.get("crop_scale_noise_max", 1.0) > 1.0:
            high = aug["crop_scale_noise_max"]
            scale_noise = jax.random.uniform(k3, (n,), minval=1.0, maxval=high)
        if aug.get("crop_offset_noise_sigma"):
            offset_noise = _normal(k4, (n, 2), aug["crop_offset_noise_sigma"])
    hw = samples["image"].shape[1:3]
    center, scale = tg.crop_center_and_scale(uv, vis, hw, center_noise, scale_noise, offset_noise)
    return center, scale, tg.uv_to_crop(uv, center, scale)[..., ::-1]


def posenet_batch(samples: dict, key, augment: bool = True):
    """-> crops [B, 256, 256, 3], score maps [B, 256, 256, 21], visibility [B, 21]."""
    center, scale, rowcol = _crop(samples, key, "posenet", augment)
    crops = tg.crop_images(_centred(samples["image"]), center, scale)
    return crops, tg.scoremaps(rowcol, samples["vis21"]), samples["vis21"]


def lifting_batch(samples: dict, key, augment: bool = True):
    """-> pooled score maps [B, 32, 32, 21], hand side [B, 2] one-hot, and the "proposed"
    targets {"xyz_canonical" [B, 21, 3], "rot_mat" [B, 3, 3]}."""
    _, _, rowcol = _crop(samples, key, "lifting", augment)
    targets = {"xyz_canonical": samples["xyz_canonical"], "rot_mat": samples["rot_mat"]}
    side = jax.nn.one_hot(samples["side"], 2)
    return tg.pooled_scoremaps(rowcol, samples["vis21"]), side, targets
