"""TensorBoard summaries of a training run: losses, learning rate and a few predictions.

Event files go to ``<output_dir>/logs``; only the chief worker writes (the others get a
no-op writer). Images come from one fixed probe batch so their change over time shows
what the network learns:
- HandSegNet: input image, ground-truth hand mask, predicted hand probability;
- PoseNet: input crop, ground-truth and predicted score maps (max over the 21 keypoints,
  the prediction upsampled with the legacy bilinear resize as in the loss);
- lifting: the input score maps (max over keypoints); its outputs are 3-D coordinates.

The summaries are written with the core ``tf.summary.write`` and the metadata of
TensorBoard's scalar and image plugins, so training does not need the ``tensorboard``
package installed (only viewing the logs does).
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from hand3d_tf.training.losses import legacy_resize
from hand3d_tf.training.presets import TrainConfig
from hand3d_tf.training.step import forward

LOG_SUBDIR = "logs"
MAX_IMAGES = 3


class SummaryLogger:
    def __init__(self, config: TrainConfig, chief: bool):
        self.config = config
        if chief:
            self.writer = tf.summary.create_file_writer(os.path.join(config.output_dir, LOG_SUBDIR))
        else:
            self.writer = tf.summary.create_noop_writer()

    def scalars(self, step: int, values: dict, learning_rate: float) -> None:
        """Loss components as ``loss/<name>`` and the learning rate, every log_every steps."""
        if step % self.config.log_every:
            return
        with self.writer.as_default(step=step):
            for name, value in values.items():
                write_scalar(f"loss/{name}", value)
            write_scalar("learning_rate", learning_rate)

    def images(self, step: int, model, inputs: dict, targets: dict) -> None:
        net = self.config.net
        n = MAX_IMAGES
        with self.writer.as_default(step=step):
            if net == "lifting":
                maps = tf.reduce_max(inputs["scoremap"][:n], axis=-1, keepdims=True)
                write_image("input_scoremap", _unit(maps), max_outputs=n)
                return
            image = inputs["image"][:n]
            write_image("input", tf.clip_by_value(image + 0.5, 0.0, 1.0), max_outputs=n)
            outputs = forward(model, net, {"image": image}, training=False)
            if net == "handsegnet":
                logits = tf.cast(outputs, tf.float32)
                if logits.shape[1:3] != image.shape[1:3]:
                    logits = legacy_resize(logits, tf.shape(image)[1:3])
                prob = tf.nn.softmax(logits, axis=-1)[..., 1:2]
                write_image("hand_probability", prob, max_outputs=n)
                write_image("hand_mask_gt", targets["hand_mask"][:n, :, :, 1:2], max_outputs=n)
                return
            last = legacy_resize(tf.cast(outputs[-1], tf.float32), tf.shape(image)[1:3])
            pred = tf.reduce_max(last, axis=-1, keepdims=True)
            gt = tf.reduce_max(targets["scoremap"][:n], axis=-1, keepdims=True)
            write_image("scoremap_pred", tf.clip_by_value(pred, 0.0, 1.0), max_outputs=n)
            write_image("scoremap_gt", gt, max_outputs=n)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def _metadata(plugin: str) -> summary_pb2.SummaryMetadata:
    # Empty plugin content = version 0 of the plugin's data proto, what TensorBoard's own
    # scalar/image summary ops write.
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = plugin
    return meta


def write_scalar(name: str, value) -> None:
    """A TensorBoard scalar at the default writer's step."""
    tf.summary.write(name, tf.cast(value, tf.float32), metadata=_metadata("scalars"))


def write_image(name: str, images, max_outputs: int = MAX_IMAGES) -> None:
    """TensorBoard images from [N, H, W, C] floats in 0..1 (C = 1 or 3)."""
    images = tf.convert_to_tensor(images)
    pixels = tf.image.convert_image_dtype(images[:max_outputs], tf.uint8, saturate=True)
    encoded = tf.map_fn(tf.image.encode_png, pixels, fn_output_signature=tf.string)
    shape = tf.shape(images)
    size = tf.stack([tf.as_string(shape[2]), tf.as_string(shape[1])])  # width, height
    tf.summary.write(name, tf.concat([size, encoded], 0), metadata=_metadata("images"))


def _unit(maps: tf.Tensor) -> tf.Tensor:
    """Scale each image to 0..1 for display."""
    lo = tf.reduce_min(maps, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(maps, axis=[1, 2, 3], keepdims=True)
    return (maps - lo) / tf.maximum(hi - lo, 1e-8)
