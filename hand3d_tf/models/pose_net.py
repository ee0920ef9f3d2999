"""PoseNet2D: CPM-style 2-D keypoint score maps, three stages (docs/original.md §2; tables in spec.nets)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.layers import conv, max_pool
from hand3d_tf.spec.configs import PoseNetConfig, scaled
from hand3d_tf.spec.nets import (
    POSENET_HEAD,
    POSENET_HEAD_OUTPUT,
    POSENET_REFINEMENTS,
    POSENET_SCOPE,
    POSENET_STAGE,
    POSENET_TRUNK,
)

__all__ = ["PoseNet", "POSENET_TRUNK", "POSENET_STAGE"]


def PoseNet(config: PoseNetConfig | None = None) -> keras.Model:
    """Build PoseNet2D.

    Input "image": [B, S, S, 3] float32 hand crop, pixel / 255 - 0.5 (S = 256).
    Outputs: [S1, S2, S3], each [B, S/8, S/8, K] raw (linear) score maps, K = 21; S3 is
    the one used at inference (docs/original.md §2).
    """
    cfg = config or PoseNetConfig()
    size = cfg.input_size
    image = keras.Input(shape=(size, size, 3), name="image")
    x = image
    pools = 0
    for name, kernel, channels, pool_after in POSENET_TRUNK:
        x = conv(x, scaled(channels, cfg.width), kernel, name)
        if pool_after:
            pools += 1
            x = max_pool(x, f"pool{pools}")
    encoding = x
    name, kernel, channels = POSENET_HEAD
    x = conv(encoding, scaled(channels, cfg.width), kernel, name)
    scoremaps = [conv(x, cfg.num_keypoints, 1, POSENET_HEAD_OUTPUT, activation=False)]
    for stage in POSENET_REFINEMENTS:
        # [previous score map, encoding] in this order (spec.nets.POSENET_REFINEMENTS).
        x = keras.layers.Concatenate(axis=-1, name=f"stage{stage - 4}_input")(
            [scoremaps[-1], encoding]
        )
        for suffix, kernel, channels in POSENET_STAGE:
            x = conv(x, scaled(channels, cfg.width), kernel, f"conv{stage}_{suffix}")
        scoremaps.append(conv(x, cfg.num_keypoints, 1, f"conv{stage}_7", activation=False))
    return keras.Model(image, scoremaps, name=POSENET_SCOPE)
