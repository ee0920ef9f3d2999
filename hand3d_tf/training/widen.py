"""Widen a trained net to a larger width multiplier, keeping what it computes (Net2WiderNet).

A net trained at width 0.125 is the starting point of one at width 0.25 instead of random
weights: every hidden unit of the wide net copies a unit of the narrow one (new unit j
copies old unit j mod C_old), and each layer that reads a copied unit divides that input's
weights by the number of copies. Leaky ReLU, max pooling, concatenation, flattening and
resizing act channel-wise, so the wide net computes exactly the narrow net's function
(tested to float32 rounding). Output layers (score maps, logits, coordinates) keep their
sizes. Copies stay identical under gradient descent, so ``noise`` adds a small Gaussian
perturbation (relative to each kernel's standard deviation) to break the symmetry.

    python -m hand3d_tf.training.widen --weights=weights/default --net=posenet \
        --width=0.25 --output_dir=/tmp/widened

writes ``<output_dir>/<net>.npz/.json`` for ``hand3d-train --init_weights``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

# Layers with no weights that map each input channel to the same output channel.
_CHANNELWISE = ("LeakyReLU", "MaxPooling2D", "Dropout", "LegacyBilinearResize", "Activation")


@dataclasses.dataclass
class _ChannelMap:
    """For a tensor of the wide net: source[i] = the narrow net's channel that wide channel i
    copies; copies[k] = how many wide channels copy narrow channel k."""

    source: np.ndarray
    copies: np.ndarray

    @classmethod
    def identity(cls, size: int) -> _ChannelMap:
        return cls(np.arange(size), np.ones(size, np.int64))

    @classmethod
    def replicate(cls, old: int, new: int) -> _ChannelMap:
        if new < old:
            raise ValueError(f"cannot narrow a layer from {old} to {new} units")
        source = np.arange(new) % old
        return cls(source, np.bincount(source, minlength=old))


def _tensors(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def widen_model(narrow, wide, noise: float = 0.0, seed: int = 0) -> dict:
    """Set ``wide``'s weights from ``narrow`` (same net, same layer names, larger widths).

    Returns {layer name: (old units, new units)} for the widened layers. Raises ValueError
    for a layer kind it cannot map (naming it) or layers that do not correspond.
    """
    rng = np.random.default_rng(seed)
    narrow_layers = {layer.name: layer for layer in narrow.layers}
    maps: dict[str, _ChannelMap] = {}
    widened = {}
    for layer in wide.layers:
        kind = type(layer).__name__
        old = narrow_layers.get(layer.name)
        if old is None:
            raise ValueError(f"layer {layer.name!r} of the wide net is not in the narrow net")
        outputs = _tensors(layer.output)
        if kind == "InputLayer":
            maps[outputs[0].name] = _ChannelMap.identity(int(outputs[0].shape[-1]))
            continue
        inputs = [maps[t.name] for t in _tensors(layer.input)]
        if kind in ("Conv2D", "Dense"):
            kernel, bias = old.get_weights()
            in_map = inputs[0]
            if kind == "Dense" and in_map.source.size != layer.kernel.shape[0]:
                raise ValueError(f"{layer.name}: input map does not match its kernel")
            out_map = _ChannelMap.replicate(kernel.shape[-1], int(layer.kernel.shape[-1]))
            new_kernel = kernel[..., in_map.source, :][..., out_map.source]
            new_kernel = new_kernel / in_map.copies[in_map.source][:, None].astype(np.float32)
            if noise > 0.0:
                scale = noise * float(np.std(kernel))
                new_kernel = new_kernel + rng.normal(0.0, scale, new_kernel.shape)
            layer.set_weights([new_kernel.astype(np.float32), bias[out_map.source]])
            if new_kernel.shape[-1] != kernel.shape[-1]:
                widened[layer.name] = (int(kernel.shape[-1]), int(new_kernel.shape[-1]))
            maps[outputs[0].name] = out_map
        elif layer.weights:
            raise ValueError(f"cannot widen layer {layer.name!r} of kind {kind}")
        elif kind in _CHANNELWISE:
            maps[outputs[0].name] = inputs[0]
        elif kind == "Concatenate":
            sizes = np.cumsum([0] + [m.copies.size for m in inputs[:-1]])
            maps[outputs[0].name] = _ChannelMap(
                np.concatenate([m.source + off for m, off in zip(inputs, sizes)]),
                np.concatenate([m.copies for m in inputs]),
            )
        elif kind == "Flatten":
            # [H, W, C] -> H*W*C, channel fastest: the spatial positions are unchanged.
            positions = int(np.prod(layer.input.shape[1:-1]))
            m = inputs[0]
            old_c, new_c = m.copies.size, m.source.size
            base = np.repeat(np.arange(positions), new_c)
            maps[outputs[0].name] = _ChannelMap(
                base * old_c + np.tile(m.source, positions), np.tile(m.copies, positions)
            )
        else:
            # Layers after the outputs (reshape, rotation, flip): sizes must be unchanged.
            for tensor in outputs:
                if tuple(tensor.shape) != tuple(_output_shape(old, tensor)):
                    raise ValueError(f"cannot widen layer {layer.name!r} of kind {kind}")
                maps[tensor.name] = _ChannelMap.identity(int(tensor.shape[-1]))
    return widened


def _output_shape(old_layer, tensor):
    for candidate in _tensors(old_layer.output):
        if candidate.name == tensor.name:
            return candidate.shape
    return ()


def widen_weights_file(path: str, net: str, width: float, output_dir: str, noise: float = 0.01,
                       seed: int = 0) -> str:  # fmt: skip
    """Widen the project weights of ``net`` found at ``path`` (a .npz or a weights folder)
    to ``width``; writes ``<output_dir>/<net>.npz/.json`` and returns the npz path."""
    from hand3d_tf import models
    from hand3d_tf import weights as weight_io

    if os.path.isdir(path):
        path = os.path.join(path, f"{net}.npz")
    narrow = weight_io.load_model(path)
    _, config = weight_io.load_weights(path)
    wide_config = models.config_for(net, dict(config, width=float(width)))
    if wide_config.width < config["width"]:
        raise ValueError(f"--width {width} is narrower than the weights' {config['width']}")
    wide = models.build(net, wide_config)
    widened = widen_model(narrow, wide, noise=noise, seed=seed)
    provenance = {
        "widened_from": os.path.abspath(path),
        "from_width": config["width"],
        "noise": noise,
        "seed": seed,
        "widened_layers": len(widened),
    }
    npz, _ = weight_io.save_weights(
        os.path.join(output_dir, net), wide, wide_config.to_dict(), provenance=provenance
    )
    return str(npz)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="<net>.npz or a weights folder")
    parser.add_argument("--net", required=True, choices=("handsegnet", "posenet", "lifting"))
    parser.add_argument("--width", required=True, type=float, help="the new width multiplier")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--noise", type=float, default=0.01, help="symmetry-breaking noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = widen_weights_file(
            args.weights, args.net, args.width, args.output_dir, args.noise, args.seed
        )
    except (OSError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    print(out)


if __name__ == "__main__":
    main()
