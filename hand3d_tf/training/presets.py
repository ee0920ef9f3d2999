"""Training configuration (a dataclass) and the named presets ``<net>_<data>[_<variant>]``.

The paper presets follow the INTENDED recipe of docs/original.md §9: Adam, batch 8, piecewise-constant
learning rates that advance at the listed steps, lifting dropout on. The original scripts
never passed the global step to the optimizer (the learning rate stayed at its first value)
and never switched lifting dropout on (docs/original.md §11.1-2); ``released_behaviour=True`` reproduces
exactly that.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from hand3d_tf.constants import DATASETS, LIFTING_VARIANTS, NETS

STRATEGIES = ("default", "mirrored", "multi_worker")
# Numeric precision of training (strategy.resolve_precision says what "auto" picks).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# What the paper's recipe trains in: the original's graphs are float32 throughout (TF 1.3, no
# mixed precision, docs/original.md §9), so the paper presets and released_behaviour resolve
# "auto" to float32 and refuse a mixed policy (TrainConfig.paper_recipe).
PAPER_PRECISIONS = ("auto", "float32")

# Fields that may differ when a run is resumed: they change how the run is executed or
# logged, not what is being trained.
RESUME_MUTABLE = frozenset(
    {
        "data_dir",
        "output_dir",
        "export_dir",
        "preset",
        "num_steps",
        "init_weights",
        "resume",
        "strategy",
        "precision",
        "mixed_precision",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "image_every",
        "progress",
        "evaluate",
        "eval_max_samples",
        "deterministic",
    }
)


@dataclass
class TrainConfig:
    """Everything a training run needs; the library never reads flags.

    What is trained: net, lifting_variant, width (channel multiplier, 1.0 = paper),
    image_size (PoseNet crop side / HandSegNet training crop, 256 in the paper),
    lifting_dropout. Data: dataset, data_dir, num_samples (first N training samples).
    Recipe: batch_size (global, over all replicas), num_steps, learning_rates and
    lr_boundaries (``learning_rates[i]`` applies while step <= ``lr_boundaries[i]``, the
    semantics of a piecewise-constant schedule, so one value more than boundaries),
    released_behaviour (see effective_schedule / effective_dropout), seed, deterministic.
    Start: init_weights (see initialization.initialize), resume. Execution: strategy,
    precision (one of PRECISIONS; "auto" is resolved when the run starts, see
    strategy.resolve_precision; ``mixed_precision=True`` is the deprecated spelling of
    "mixed_float16"). Output: output_dir (checkpoints/, logs/, eval/, config.json),
    export_dir (<net>.npz/json; default output_dir/weights), checkpoint_every,
    keep_checkpoints, log_every, image_every, evaluate, eval_max_samples, progress.
    smoke: set by --smoke (tiny run on generated samples when data_dir is empty).
    """

    net: str
    dataset: str = "rhd"
    data_dir: str = ""
    output_dir: str = ""
    export_dir: str | None = None
    preset: str | None = None
    lifting_variant: str = "proposed"
    width: float = 1.0
    image_size: int = 256
    batch_size: int = 8
    num_steps: int = 1000
    learning_rates: tuple = (1e-4,)
    lr_boundaries: tuple = ()
    lifting_dropout: bool = True
    released_behaviour: bool = False
    init_weights: str | None = None
    resume: bool = False
    strategy: str = "default"
    precision: str = "auto"
    mixed_precision: bool = False  # deprecated: True means precision="mixed_float16"
    checkpoint_every: int = 5000
    keep_checkpoints: int = 3
    log_every: int = 100
    image_every: int = 1000
    seed: int = 0
    deterministic: bool = False
    evaluate: bool = True
    eval_max_samples: int | None = None
    num_samples: int | None = None
    smoke: bool = False
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Raise ValueError naming the bad value and the allowed set; return self."""
        _choice("net", self.net, NETS)
        _choice("dataset", self.dataset, DATASETS)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("precision", self.precision, PRECISIONS)
        if self.mixed_precision and self.precision not in ("auto", "mixed_float16"):
            raise ValueError(
                f"mixed_precision=True (deprecated: mixed_float16) contradicts "
                f"precision={self.precision!r}; give only precision"
            )
        recipe = self.paper_recipe()
        if recipe and self.requested_precision() not in PAPER_PRECISIONS:
            raise ValueError(
                f"precision={self.requested_precision()!r} contradicts the paper's recipe "
                f"({recipe}), which trains in float32 (docs/original.md §9); give "
                f"precision=float32 or auto, or a preset that is not the paper's"
            )
        if self.net == "lifting":
            _choice("lifting_variant", self.lifting_variant, LIFTING_VARIANTS)
        if len(self.learning_rates) != len(self.lr_boundaries) + 1:
            raise ValueError(
                f"learning_rates needs one value more than lr_boundaries; received "
                f"learning_rates={list(self.learning_rates)}, "
                f"lr_boundaries={list(self.lr_boundaries)}"
            )
        try:
            rates = [float(v) for v in self.learning_rates]
        except (TypeError, ValueError):
            rates = [math.nan]
        if not all(math.isfinite(v) and v > 0 for v in rates):
            raise ValueError(
                f"learning_rates must be finite numbers > 0; received {list(self.learning_rates)}"
            )
        # A boundary <= 0 would silently skip the first rate (the schedule starts at step 0).
        bounds = list(self.lr_boundaries)
        if bounds != sorted(set(bounds)) or (bounds and bounds[0] < 1):
            raise ValueError(
                f"lr_boundaries must be strictly increasing steps >= 1; received {bounds}"
            )
        for name in ("batch_size", "num_steps", "checkpoint_every", "keep_checkpoints",
                     "log_every", "image_every"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; received {getattr(self, name)}")
        for name in ("num_samples", "eval_max_samples"):  # None: all
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 (or unset: all); received {value}")
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0; received {self.seed}")
        if self.image_size < 8 or self.image_size % 8:
            raise ValueError(
                f"image_size must be a positive multiple of 8 (the nets' stride); "
                f"received {self.image_size}"
            )
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4]; received {self.width}")
        return self

    # The schedule and dropout actually used, after the released-behaviour switch.
    def effective_schedule(self) -> tuple[tuple, tuple]:
        """(values, boundaries): as configured, or constant at the first value when
        reproducing the released scripts (their step counter stayed at 0, docs/original.md §11.1)."""
        if self.released_behaviour:
            return (float(self.learning_rates[0]),), ()
        return tuple(float(v) for v in self.learning_rates), tuple(
            int(b) for b in self.lr_boundaries
        )

    def effective_dropout(self) -> bool:
        """Lifting dropout: off when reproducing the released script (docs/original.md §11.2)."""
        return bool(self.lifting_dropout) and not self.released_behaviour

    def paper_recipe(self) -> str | None:
        """Why this run reproduces the paper (it then trains in float32), or None:
        ``released_behaviour``, or a preset of the paper (PAPER_PRESETS)."""
        if self.released_behaviour:
            return "released_behaviour=True"
        if self.preset in PAPER_PRESETS:
            return f"preset {self.preset!r}"
        return None

    def requested_precision(self) -> str:
        """precision, with the deprecated ``mixed_precision=True`` mapped to mixed_float16."""
        return "mixed_float16" if self.mixed_precision else self.precision

    @property
    def run_name(self) -> str:
        suffix = f"_{self.lifting_variant}" if self.net == "lifting" else ""
        return f"{self.net}_{self.dataset}{suffix}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["learning_rates"] = [float(v) for v in self.learning_rates]
        d["lr_boundaries"] = [int(b) for b in self.lr_boundaries]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        d = dict(d)
        d["learning_rates"] = tuple(d.get("learning_rates", (1e-4,)))
        d["lr_boundaries"] = tuple(d.get("lr_boundaries", ()))
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def resume_differences(self, other: TrainConfig) -> dict:
        """{field: (self value, other value)} over the fields that must match to resume."""
        a, b = self.to_dict(), other.to_dict()
        return {
            k: (a.get(k), b.get(k))
            for k in sorted(set(a) | set(b))
            if k not in RESUME_MUTABLE and a.get(k) != b.get(k)
        }


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


# --- presets ---------------------------------------------------------------------------
# Paper recipe, docs/original.md §9 table: schedules, step counts, batch 8, Adam defaults.
_PAPER = {
    "handsegnet": dict(
        learning_rates=(1e-5, 1e-6, 1e-7), lr_boundaries=(20_000, 30_000), num_steps=40_000
    ),
    "posenet": dict(
        learning_rates=(1e-4, 1e-5, 1e-6), lr_boundaries=(10_000, 20_000), num_steps=30_000
    ),
    "lifting": dict(learning_rates=(1e-5, 1e-6), lr_boundaries=(60_000,), num_steps=80_000),
}

# The project's compact models trained from scratch on synthetic data (no CPM init): a
# 10x higher starting rate than the paper's HandSegNet/lifting rates and shorter runs.
# These are this project's own choices, not from the paper; untested at full length here.
_COMPACT = {
    "handsegnet": dict(
        width=0.25,
        learning_rates=(1e-4, 1e-5, 1e-6),
        lr_boundaries=(15_000, 25_000),
        num_steps=30_000,
    ),
    "posenet": dict(
        width=0.25,
        learning_rates=(1e-4, 1e-5, 1e-6),
        lr_boundaries=(10_000, 20_000),
        num_steps=30_000,
    ),
    "lifting": dict(
        width=0.5, learning_rates=(1e-4, 1e-5), lr_boundaries=(30_000,), num_steps=40_000
    ),
}

# --smoke: tiny nets, a handful of steps on 4 samples, a high constant rate so the loss
# visibly drops within the run.
SMOKE_OVERRIDES = dict(
    width=0.0625,
    image_size=64,
    batch_size=4,
    num_steps=6,
    learning_rates=(1e-3,),
    lr_boundaries=(),
    checkpoint_every=3,
    keep_checkpoints=2,
    log_every=1,
    image_every=3,
    num_samples=4,
    eval_max_samples=4,
    smoke=True,
)


def _build_presets() -> dict[str, dict]:
    presets = {}
    presets["handsegnet_rhd"] = dict(net="handsegnet", dataset="rhd", **_PAPER["handsegnet"])
    for data in ("rhd", "stb"):
        # STB is only an evaluation set in the original (docs/original.md §8.4) and has no hand masks
        # (no HandSegNet preset); the STB presets apply the paper recipe to its other
        # sequences (inputs.STB_TRAIN_SEQUENCES).
        presets[f"posenet_{data}"] = dict(net="posenet", dataset=data, **_PAPER["posenet"])
        for variant in LIFTING_VARIANTS:
            presets[f"lifting_{data}_{variant}"] = dict(
                net="lifting", dataset=data, lifting_variant=variant, **_PAPER["lifting"]
            )
    presets["handsegnet_synthetic_compact"] = dict(
        net="handsegnet", dataset="synthetic", **_COMPACT["handsegnet"]
    )
    presets["posenet_synthetic_compact"] = dict(
        net="posenet", dataset="synthetic", **_COMPACT["posenet"]
    )
    for variant in LIFTING_VARIANTS:
        presets[f"lifting_synthetic_{variant}_compact"] = dict(
            net="lifting", dataset="synthetic", lifting_variant=variant, **_COMPACT["lifting"]
        )
    return presets


PRESETS: dict[str, dict] = _build_presets()
# The presets that follow the paper (docs/original.md §9), the ones without "synthetic".
PAPER_PRESETS = frozenset(name for name, v in PRESETS.items() if v["dataset"] != "synthetic")


def preset_names() -> tuple[str, ...]:
    return tuple(sorted(PRESETS))


def default_preset(net: str, dataset: str, lifting_variant: str = "proposed") -> str:
    """The preset used when none is named: the paper recipe, or compact for synthetic data."""
    _choice("net", net, NETS)
    _choice("dataset", dataset, DATASETS)
    if net == "lifting":
        _choice("lifting_variant", lifting_variant, LIFTING_VARIANTS)
    if dataset == "synthetic":
        return (
            f"lifting_synthetic_{lifting_variant}_compact"
            if net == "lifting"
            else f"{net}_synthetic_compact"
        )
    return f"lifting_{dataset}_{lifting_variant}" if net == "lifting" else f"{net}_{dataset}"


def make_config(preset: str, smoke: bool = False, **overrides) -> TrainConfig:
    """TrainConfig from a named preset, then the smoke overrides, then ``overrides``.

    ``overrides`` with value None are ignored (so a CLI can pass every flag unconditionally).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(preset_names())}")
    values = dict(PRESETS[preset], preset=preset)
    for key in ("net", "lifting_variant"):
        given = overrides.get(key)
        if given is not None and key in values and given != values[key]:
            raise ValueError(
                f"preset {preset!r} trains {key}={values[key]!r} but {key}={given!r} was "
                f"requested; pick a preset for {given!r} (one of {', '.join(preset_names())})"
            )
    if smoke:
        values.update(SMOKE_OVERRIDES)
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown training config keys {unknown}")
    values["learning_rates"] = tuple(values["learning_rates"])
    values["lr_boundaries"] = tuple(values["lr_boundaries"])
    return TrainConfig(**values).validate()
