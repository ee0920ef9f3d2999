"""Synthetic hands in the RHD format (docs/data.md). NumPy + OpenCV only, no TensorFlow.

A kinematic hand (hand_model) is posed, placed in front of a random camera with an arm,
maybe a second hand and a body (scene; version 2: scene_v2, viewpoint, hand_surface),
ray-cast with a z-buffer (render, smooth), shaded over a random background (background,
sample; version 2: appearance, background_v2) and written exactly as RHD lays out its files
with a manifest (writer), so the same readers serve the real dataset and this one. Video:
sequence renders one scene with moving hands, sequence_index reads the per-split index.
SyntheticConfig.generator_version picks the generator: 2 (default) or 1 (kept bit-for-bit).

    from hand3d_tf.data.synthetic import SyntheticConfig, generate_sample, write_dataset
    sample = generate_sample(SyntheticConfig(), seed=0, index=7)
    write_dataset("data/synthetic", "training", SyntheticConfig(), seed=0, count=1000)
    frames = render_sequence(SyntheticConfig(), seed=0, index=3, length=60)
"""

from hand3d_tf.data.synthetic.config import SyntheticConfig
from hand3d_tf.data.synthetic.preview import view_statistics, write_preview
from hand3d_tf.data.synthetic.sample import generate_sample, iterate_samples
from hand3d_tf.data.synthetic.sequence import iter_sequence, render_sequence
from hand3d_tf.data.synthetic.sequence_index import (
    SEQUENCES_FILE,
    SequenceIndexError,
    read_sequences,
)
from hand3d_tf.data.synthetic.writer import (
    SPLITS,
    DatasetExistsError,
    check_target,
    dataset_manifest,
    encode_depth,
    split_seed,
    write_dataset,
)

__all__ = [
    "SEQUENCES_FILE",
    "SPLITS",
    "DatasetExistsError",
    "SequenceIndexError",
    "SyntheticConfig",
    "check_target",
    "dataset_manifest",
    "encode_depth",
    "generate_sample",
    "iter_sequence",
    "iterate_samples",
    "read_sequences",
    "render_sequence",
    "split_seed",
    "view_statistics",
    "write_dataset",
    "write_preview",
]
