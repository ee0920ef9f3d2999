"""Synthetic hands in the RHD format (issue 5). NumPy + OpenCV only, no TensorFlow.

A kinematic hand (hand_model) is posed, placed in front of a random camera with an arm,
maybe a second hand and a body (scene), ray-cast with a z-buffer (render), shaded over a
random background (background, sample) and written exactly as RHD lays out its files
(writer), so the same readers serve the real dataset and this one.

    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample, write_dataset
    sample = generate_sample(SyntheticConfig(), seed=0, index=7)
    write_dataset("data/synthetic", "training", SyntheticConfig(), seed=0, count=1000)
"""

from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.sample import generate_sample, iterate_samples
from hand3d_tf.data.synthetic.writer import (
    SPLITS,
    encode_depth,
    split_seed,
    write_dataset,
    write_preview,
)

__all__ = [
    "SPLITS",
    "SyntheticConfig",
    "encode_depth",
    "generate_sample",
    "iterate_samples",
    "split_seed",
    "write_dataset",
    "write_preview",
]
