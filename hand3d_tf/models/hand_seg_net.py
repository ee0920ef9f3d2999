"""HandSegNet: hand/background segmentation logits (docs/original.md §1; tables in spec.nets)."""

from __future__ import annotations

from hand3d_tf.keras import keras
from hand3d_tf.models.layers import LegacyBilinearResize, conv, float32_outputs, max_pool
from hand3d_tf.spec.configs import HandSegNetConfig, scaled
from hand3d_tf.spec.nets import HANDSEG_LAYERS, HANDSEG_OUTPUT, HANDSEGNET_SCOPE, NUM_CLASSES

__all__ = ["HandSegNet", "HANDSEG_LAYERS", "NUM_CLASSES"]


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
    logits = conv(x, NUM_CLASSES, 1, HANDSEG_OUTPUT, activation=False)
    if cfg.upsample:
        logits = LegacyBilinearResize(name="upsample", **float32_outputs())([logits, image])
    return keras.Model(image, logits, name=HANDSEGNET_SCOPE)
