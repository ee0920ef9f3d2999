"""Building the network of a TrainConfig and initialising it from existing weights.

``--init_weights`` accepts, for the net being trained:
- a released pickle (``*.pickle``, docs/original.md §4), converted on the fly;
- a project weights file (``<stem>.npz`` / ``.json`` from hand3d_tf.weights.save_weights);
- a project weights directory holding ``<net>.npz`` (also ``<dir>/weights/<net>.npz``, what
  a training run exports);
- a training output directory or checkpoint folder of this project (model weights only; the
  optimizer state is not taken, use ``--resume`` for that).
The returned report names every layer that was loaded and every key that was ignored.
"""

from __future__ import annotations

import os

import tensorflow as tf

from hand3d_tf import models
from hand3d_tf.training.checkpoints import (
    CheckpointCorruptError,
    CheckpointError,
    checkpoint_prefix,
    resolve_checkpoint,
)
from hand3d_tf.training.presets import TrainConfig

INIT_KINDS = ("released_pickle", "weights_file", "checkpoint")


def model_config(config: TrainConfig):
    """The models.* config dataclass for ``config`` (width, image size, variant, dropout)."""
    if config.net == "handsegnet":
        return models.HandSegNetConfig(width=config.width, upsample=True)
    if config.net == "posenet":
        return models.PoseNetConfig(width=config.width, input_size=config.image_size)
    return models.PosePriorConfig(
        width=config.width, variant=config.lifting_variant, dropout=config.effective_dropout()
    )


def build_model(config: TrainConfig):
    """Build the keras.Model being trained (call inside the strategy scope)."""
    return models.build(config.net, model_config(config))


def weighted_layers(model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


def _layers_of(keys) -> list[str]:
    return sorted({key.rsplit("/", 1)[0] for key in keys})


def _find_weights_file(path: str, net: str) -> str | None:
    for candidate in (
        os.path.join(path, f"{net}.npz"),
        os.path.join(path, "weights", f"{net}.npz"),
    ):
        if os.path.isfile(candidate):
            return candidate
    return None


def initialize(model, net: str, path: str) -> dict:
    """Load weights for ``net`` from ``path`` into ``model``; returns the report dict.

    Report keys: source, kind (one of INIT_KINDS), loaded_layers, not_loaded_layers,
    ignored_keys. Raises FileNotFoundError (naming what was looked for) or the weight /
    checkpoint mismatch error naming the conflicting keys.
    """
    from hand3d_tf import weights as weight_io

    if not os.path.exists(path):
        raise FileNotFoundError(f"--init_weights {path!r} does not exist")
    all_layers = weighted_layers(model)
    if os.path.isfile(path) and path.endswith(".pickle"):
        report = weight_io.assign_weights(model, weight_io.load_original_weights(path), source=path)
        kind, loaded, ignored = "released_pickle", _layers_of(report.loaded), report.unexpected
    elif os.path.isfile(path) and path.endswith((".npz", ".json")):
        arrays, _ = weight_io.load_weights(path)
        report = weight_io.assign_weights(model, arrays, source=path)
        kind, loaded, ignored = "weights_file", _layers_of(report.loaded), report.unexpected
    elif os.path.isdir(path) and _find_weights_file(path, net):
        file = _find_weights_file(path, net)
        arrays, _ = weight_io.load_weights(file)
        report = weight_io.assign_weights(model, arrays, source=file)
        kind, loaded, ignored = "weights_file", _layers_of(report.loaded), report.unexpected
        path = file
    elif os.path.isdir(path) and resolve_checkpoint(path):
        folder = resolve_checkpoint(path)
        try:
            status = tf.train.Checkpoint(model=model).read(checkpoint_prefix(folder))
        except (IndexError, OSError, tf.errors.OpError) as err:
            raise CheckpointCorruptError(f"checkpoint {folder} is damaged: {err}") from err
        try:
            status.assert_existing_objects_matched()
        except AssertionError as err:
            raise CheckpointError(
                f"checkpoint {folder} does not fit the {net} being trained: {err}"
            ) from err
        status.expect_partial()
        kind, loaded, ignored, path = "checkpoint", list(all_layers), [], folder
    else:
        raise FileNotFoundError(
            f"--init_weights {path!r}: expected a released *.pickle, a weights *.npz, a folder "
            f"with {net}.npz (or weights/{net}.npz), or a training output / checkpoint folder"
        )
    # Layer names in the report are the model's names (original keys drop the scope).
    loaded_names = {name.split("/")[-1] for name in loaded}
    return {
        "source": os.path.abspath(path),
        "kind": kind,
        "loaded_layers": sorted(loaded_names),
        "not_loaded_layers": sorted(n for n in all_layers if n not in loaded_names),
        "ignored_keys": list(ignored),
    }
