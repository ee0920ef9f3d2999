"""One random scene of the configured generator version (scene: version 1, scene_v2: 2).

The dispatch lives here, above both, so that scene_v2 (and hand_surface) can build on scene
without scene importing them back.
"""

from __future__ import annotations

import numpy as np

from hand3d_tf.data.synthetic import scene, scene_v2
from hand3d_tf.data.synthetic.config import SyntheticConfig


def sample_scene(
    rng: np.random.Generator, config: SyntheticConfig, near: float = 0.05
) -> scene.Scene:
    """One random scene: camera, one or two hands (left 0-20, right 21-41), arm, body."""
    if config.generator_version == 1:
        return scene.sample_scene(rng, config, near)
    return scene_v2.sample_scene(rng, config, near)
