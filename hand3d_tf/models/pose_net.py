"""PoseNet2D: CPM-style 2-D keypoint score maps, three stages (docs/original.md §2)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.configs import PoseNetConfig, scaled
from hand3d_tf.models.layers import conv, max_pool

__all__ = ["PoseNet", "POSENET_TRUNK", "POSENET_STAGE"]

# (layer name, kernel, output channels, max-pool after it?) up to the encoding E, docs/original.md §2.
POSENET_TRUNK = (
    ("conv1_1", 3, 64, False),
    ("conv1_2", 3, 64, True),
    ("conv2_1", 3, 128, False),
    ("conv2_2", 3, 128, True),
    ("conv3_1", 3, 256, False),
    ("conv3_2", 3, 256, False),
    ("conv3_3", 3, 256, False),
    ("conv3_4", 3, 256, True),
    ("conv4_1", 3, 512, False),
    ("conv4_2", 3, 512, False),
    ("conv4_3", 3, 256, False),
    ("conv4_4", 3, 256, False),
    ("conv4_5", 3, 256, False),
    ("conv4_6", 3, 256, False),
    ("conv4_7", 3, 128, False),  # encoding E
)

# Hidden layers of a refinement stage: (suffix, kernel, output channels); the stage ends
# with a linear 1x1 conv to the score maps, docs/original.md §2.
POSENET_STAGE = ((1, 7, 128), (2, 7, 128), (3, 7, 128), (4, 7, 128), (5, 7, 128), (6, 1, 128))


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
    x = conv(encoding, scaled(512, cfg.width), 1, "conv5_1")
    scoremaps = [conv(x, cfg.num_keypoints, 1, "conv5_2", activation=False)]
    for stage in (6, 7):  # stages 2 and 3 use the layer prefixes conv6_ and conv7_
        # [previous score map, encoding] in this order: the first K input channels of
        # convX_1 belong to the score map in the released weights (docs/original.md §2, §4).
        x = keras.layers.Concatenate(axis=-1, name=f"stage{stage - 4}_input")(
            [scoremaps[-1], encoding]
        )
        for suffix, kernel, channels in POSENET_STAGE:
            x = conv(x, scaled(channels, cfg.width), kernel, f"conv{stage}_{suffix}")
        scoremaps.append(conv(x, cfg.num_keypoints, 1, f"conv{stage}_7", activation=False))
    return keras.Model(image, scoremaps, name="PoseNet2D")
