"""Real (packed) samples in the lent-GPU trainer's batches: which, and how many. NumPy only.

tools/gpu_train/train.py ``--real=PACK --real_fraction=F`` (docs/training.md, "Real
photographs on a lent GPU"): each HandSegNet batch takes round(F x batch) samples from
the pack's samples with a trusted mask, each PoseNet batch as many from all of its
samples (invisible keypoints are zero in the score maps and the loss, as for renders),
and the lifting none: photographs carry no 3D (docs/autolabel.md). The rest of a batch
comes from the rendered samples' ring. Both parts are drawn uniformly with replacement.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["POOLS", "Mix", "plan", "draw", "gather", "describe"]

# Which of a pack's samples each net may train on.
POOLS = {"handsegnet": "trusted", "posenet": "all", "lifting": "none"}


@dataclasses.dataclass(frozen=True, eq=False)
class Mix:
    """per_batch: real samples in each batch; pool: [P] int, the pack positions drawn from."""

    per_batch: int
    pool: np.ndarray


def plan(nets, batch: dict, fraction: float, mask_trusted) -> dict:
    """{net: Mix} for ``batch`` {net: size}; ``mask_trusted`` [N] bool of the pack, or None
    (no pack: no real samples anywhere)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"real_fraction must be in [0, 1]; received {fraction}")
    trusted = np.zeros(0, bool) if mask_trusted is None else np.asarray(mask_trusted, bool)
    pools = {"trusted": np.flatnonzero(trusted), "all": np.arange(len(trusted)),
             "none": np.zeros(0, np.int64)}  # fmt: skip
    out = {}
    for net in nets:
        if net not in POOLS:
            raise ValueError(f"unknown net {net!r}; known: {sorted(POOLS)}")
        pool = pools[POOLS[net]]
        out[net] = Mix(int(round(fraction * batch[net])) if len(pool) else 0, pool)
    return out


def draw(rng: np.random.Generator, mix: Mix, batch: int, filled: int):
    """(ring positions [batch - per_batch], pack positions [per_batch]) int32 for one batch;
    ``filled``: the rendered samples in the ring."""
    synthetic = rng.integers(0, filled, batch - mix.per_batch).astype(np.int32)
    real = mix.pool[rng.integers(0, len(mix.pool), mix.per_batch)] if mix.per_batch else []
    return synthetic, np.asarray(real, np.int32)


def gather(arrays: dict, idx, real: dict | None = None, real_idx=None, concat=np.concatenate):
    """{field: [B, ...]}: ``arrays[idx]`` then ``real[real_idx]`` (none when real_idx is
    empty). ``concat``: np.concatenate, or jnp.concatenate inside a jitted step."""
    if real is None or real_idx is None or len(real_idx) == 0:
        return {k: v[idx] for k, v in arrays.items()}
    return {k: concat([v[idx], real[k][real_idx]], 0) for k, v in arrays.items()}


def describe(mixes: dict, batch: dict) -> str:
    """One line: what each net's batches take from the pack."""
    return "; ".join(f"{net} {m.per_batch} of {batch[net]} per batch from {len(m.pool)}"
                     for net, m in mixes.items())  # fmt: skip
