"""What the networks are, independent of any framework: imports neither TensorFlow nor JAX.

- ``configs``: the config dataclasses of the three nets (width, variant, ...);
- ``nets``: their layer tables, weight-key scopes and :func:`nets.weight_shapes`;
- ``targets``: the training targets' constants (crop, score maps, augmentations, losses).

hand3d_tf.models builds these nets in tf_keras and hand3d_tf.jax in JAX; neither keeps a
table of its own, and tests/test_jax.py checks that the two builds compute the same.
"""

from hand3d_tf.spec.configs import (
    LIFTING_VARIANTS,
    HandSegNetConfig,
    PoseNetConfig,
    PosePriorConfig,
    ViewPointNetConfig,
    scaled,
)
from hand3d_tf.spec.nets import LIFTING_OUTPUT_KEYS, weight_shapes

__all__ = [
    "LIFTING_VARIANTS",
    "LIFTING_OUTPUT_KEYS",
    "HandSegNetConfig",
    "PoseNetConfig",
    "PosePriorConfig",
    "ViewPointNetConfig",
    "scaled",
    "weight_shapes",
]
