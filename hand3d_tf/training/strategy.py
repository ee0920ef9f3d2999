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


@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Set the Keras global dtype policy for building models; restores it on exit.

    mixed=True uses ``mixed_float16``: float16 compute, float32 variables. The trainer then
    wraps the optimizer in a LossScaleOptimizer and computes the losses in float32.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
