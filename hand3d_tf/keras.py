"""The one place the package imports Keras.

hand3d_tf uses ``tf_keras`` (Keras 2) everywhere: tensorflow-model-optimization's
quantization-aware training only accepts Keras 2 Sequential/Functional models, and
importing tfmot silently sets ``TF_USE_LEGACY_KERAS=1``, so ``tf.keras`` may mean
either Keras depending on import order. Importing ``tf_keras`` directly is stable.

Every other module does ``from hand3d_tf.keras import keras``.
"""

import tf_keras as keras

__all__ = ["keras"]
