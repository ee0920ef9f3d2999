"""HandSegNet: hand/background segmentation logits (docs/original.md §1)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.configs import HandSegNetConfig, scaled
from hand3d_tf.models.layers import LegacyBilinearResize, conv, float32_outputs, max_pool

__all__ = ["HandSegNet", "HANDSEG_LAYERS", "NUM_CLASSES"]

NUM_CLASSES = 2  # channel 0 background, channel 1 hand (docs/original.md §1)

# (layer name, kernel, output channels, max-pool after it?) for the 3x3 trunk, docs/original.md §1.
HANDSEG_LAYERS = (
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
    ("conv4_3", 3, 512, False),
    ("conv4_4", 3, 512, False),  # no pool after block 4: output stride 8
    ("conv5_1", 3, 512, False),
    ("conv5_2", 3, 128, False),
    ("conv6_1", 1, 512, False),
)


def HandSegNet(config: HandSegNetConfig | None = None) -> keras.Model:
    """Build HandSegNet.

    Input "image": [B, H, W, 3] float32, RGB pixel / 255 - 0.5 (H, W may be None).
    Output: logits [B, H, W, 2] (legacy-bilinear upsampled to the input size), or the
    stride-8 logits [B, floor(H/8), floor(W/8), 2] when ``config.upsample`` is False. No
    softmax: the glue applies it (docs/original.md §5).
    """
    cfg = config or HandSegNetConfig()
    image = keras.Input(shape=(None, None, 3), name="image")
    x = image
    pools = 0
    for name, kernel, channels, pool_after in HANDSEG_LAYERS:
        x = conv(x, scaled(channels, cfg.width), kernel, name)
        if pool_after:
            pools += 1
            x = max_pool(x, f"pool{pools}")
    logits = conv(x, NUM_CLASSES, 1, "conv6_2", activation=False)
    if cfg.upsample:
        logits = LegacyBilinearResize(name="upsample", **float32_outputs())([logits, image])
    return keras.Model(image, logits, name="HandSegNet")
