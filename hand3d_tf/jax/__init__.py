"""The three networks, their losses and their training targets in JAX (the optional [jax] extra).

Built from hand3d_tf.spec like the tf_keras networks of hand3d_tf.models, for the lent-GPU
trainer (tools/gpu_train/, docs/training.md "Training on a lent GPU"): those machines carry
JAX but no TensorFlow. Nothing here imports TensorFlow; tests/test_jax.py checks every net,
lifting variant, loss and target against the TensorFlow code.

- ``layers``: the primitives (SAME conv, dense, max pool, legacy bilinear resize, Rodrigues);
- ``nets``: ``handsegnet``, ``posenet``, ``lifting`` on ``{weight key: array}`` params;
- ``params``: ``<net>.npz`` reading and writing, shapes checked against the spec;
- ``losses``: the original's losses (docs/original.md §9);
- ``targets``: the pipelines' target ops (crop, score maps, hue);
- ``batches``: training batches of prepared samples with the ``<net>_rhd`` augmentations;
- ``samples``: a rendered sample (or a labelled photograph's hand) -> the fields the nets
  train on (NumPy; no JAX import);
- ``mixing``: which packed photographs (hand3d_tf.data.pack) each net's batches draw
  (NumPy; no JAX import).

This ``__init__`` imports nothing, so ``hand3d_tf.jax.samples`` runs without JAX (the
trainer's render workers).
"""
