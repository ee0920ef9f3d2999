"""Distribution strategies and mixed precision for the trainer.

The same training step runs under every strategy: ``default`` (one device), ``mirrored``
(all GPUs of one machine; without GPUs the logical CPU devices, as in the tests) and ``multi_worker``
(several machines; TensorFlow reads the cluster from the ``TF_CONFIG`` environment variable).
"""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf

from hand3d_tf.keras import keras
from hand3d_tf.training.presets import STRATEGIES


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Strategy by name; ValueError lists the choices for an unknown one."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        # No GPU: mirror over the logical CPU devices (one, unless the process split its CPU
        # with tf.config.set_logical_device_configuration before any op ran, as tests do).
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable describing "
                'the cluster, e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the worker that owns the output directory (always True off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    # Without an explicit chief, worker 0 acts as chief (TensorFlow's convention).
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


# CPU feature flags (Linux /proc/cpuinfo names) with native bfloat16 matrix instructions.
# Without them TensorFlow emulates bfloat16 and a step is several times SLOWER than float32
# (measured: benchmarks/RESULTS.md, "Mixed-precision training").
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# float16 tensor cores: Volta (compute capability 7.0) and newer.
MIN_FLOAT16_CAPABILITY = (7, 0)


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset:
    """The CPU's feature flags, or an empty set where /proc/cpuinfo cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def gpu_capabilities() -> list:
    """Compute capability (major, minor) of each visible GPU; (0, 0) where unknown."""
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def resolve_precision(
    requested: str, flags=None, capabilities=None, paper_recipe: str | None = None
) -> tuple[str, str]:
    """(policy, reason): the Keras dtype policy a run uses for ``requested``.

    "auto" picks float32 for the paper's recipe (``paper_recipe``: the reason from
    TrainConfig.paper_recipe, e.g. "released_behaviour=True"), whatever the machine; else
    mixed_float16 (with loss scaling) when every visible GPU has compute capability >= 7.0;
    else mixed_bfloat16 on a CPU reporting AMX-BF16 or AVX512-BF16; else float32. Explicit
    policies are returned as given. flags / capabilities override the machine's (tests).
    """
    if requested != "auto":
        return requested, "requested"
    if paper_recipe:
        return "float32", f"auto: the paper's recipe ({paper_recipe}) trains in float32"
    capabilities = gpu_capabilities() if capabilities is None else list(capabilities)
    if capabilities:
        if min(capabilities) >= MIN_FLOAT16_CAPABILITY:
            return "mixed_float16", f"auto: GPU compute capability {min(capabilities)} >= 7.0"
        return "float32", f"auto: GPU compute capability {min(capabilities)} < 7.0"
    flags = cpu_flags() if flags is None else frozenset(flags)
    native = sorted(set(BF16_CPU_FLAGS) & flags)
    if native:
        return "mixed_bfloat16", f"auto: CPU reports {', '.join(native)}"
    return "float32", "auto: no GPU and no CPU bfloat16 instructions (amx_bf16, avx512_bf16)"


@contextlib.contextmanager
def precision_policy(policy: str):
    """Set the Keras global dtype policy for building models; restores it on exit.

    Mixed policies compute hidden layers in bfloat16/float16 with float32 variables; the
    output layers stay float32 (models.layers.float32_outputs). For mixed_float16 the
    trainer wraps the optimizer in a LossScaleOptimizer; bfloat16 has float32's exponent
    range and needs no loss scaling. Losses are computed in float32 (losses.py).
    """
    if isinstance(policy, bool):  # the old signature: precision_policy(mixed: bool)
        policy = "mixed_float16" if policy else "float32"
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
