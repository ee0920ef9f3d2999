"""Weights of the JAX nets: the project's ``<net>.npz`` files, checked against hand3d_tf.spec.

The arrays keep the original's key names (docs/original.md §4), so a file the lent-GPU
trainer writes loads in hand3d_tf.weights like any other (its ``<net>.json`` is written by
tools/gpu_train/adopt.py).
"""

from __future__ import annotations

import os

import numpy as np

from hand3d_tf.spec.nets import weight_shapes

__all__ = ["load_npz", "save_npz", "check_params"]


def load_npz(path) -> dict[str, np.ndarray]:
    """{weight key: float32 array} of a ``<net>.npz`` (pickles refused)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k], np.float32) for k in z.files}


def save_npz(path, params: dict) -> None:
    """Write float32 arrays under the same keys (a temporary file renamed into place)."""
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **{k: np.asarray(v, np.float32) for k, v in params.items()})
    os.replace(tmp, path)


def check_params(net: str, params: dict, config) -> None:
    """Raise ValueError unless ``params`` has exactly the keys and shapes that
    spec.nets.weight_shapes gives ``net`` under ``config``, naming what differs."""
    want = weight_shapes(net, config)
    got = {k: tuple(np.shape(v)) for k, v in params.items()}
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    shapes = sorted(f"{k}: {got[k]} (expected {want[k]})" for k in set(want) & set(got)
                    if got[k] != want[k])  # fmt: skip
    if missing or extra or shapes:
        raise ValueError(
            f"{net} params do not fit {config}: missing {missing}, unexpected {extra}, "
            f"wrong shapes {shapes}"
        )
