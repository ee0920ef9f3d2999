"""Training of HandSegNet, PoseNet and the lifting networks (docs/original.md §9).

    from hand3d_tf.training import make_config, train
    result = train(make_config("posenet_rhd", data_dir="RHD_published_v2", output_dir="runs/pn"))

``make_config`` / ``TrainConfig`` / the presets import no TensorFlow; ``train`` and
``TrainResult`` load the trainer (and TensorFlow) on first access.
"""

from hand3d_tf.training.presets import (
    PRESETS,
    TrainConfig,
    default_preset,
    make_config,
    preset_names,
)

__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "default_preset",
    "make_config",
    "preset_names",
    "train",
]


def __getattr__(name):
    if name in ("train", "TrainResult"):
        from hand3d_tf.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'hand3d_tf.training' has no attribute {name!r}")
