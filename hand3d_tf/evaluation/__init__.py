"""Evaluation with the original's protocol (docs/evaluation.md, docs/original.md §7).

Modules:
  metrics            EPE, PCK and AUC (the original's EvalUtil), 3-D alignment, summaries
  protocols          the four protocols of the original's eval scripts, plus mask IoU
  sources            datasets -> protocol sample batches
  predictors         weights -> the pipeline -> one predictor per protocol
  baselines          trivial predictors from training-split statistics (no network)
  lifting_diagnosis  where the lifting's 3-D error comes from (canonical pose vs viewpoint)
  plots              PCK curves
  evaluate           one protocol on one dataset end to end, or stored predictions (hand3d-evaluate)
  eval_set           the eval.npz the TF-free benchmark reads (hand3d-make-eval-set)
  model_card         the bundled default model's card: numbers, tables, checksums

Importing this package (and metrics, protocols, baselines, lifting_diagnosis) imports no
TensorFlow, so the device side can score its predictions with the same code. The metrics'
names are re-exported here: ``from hand3d_tf import evaluation as ev; ev.KeypointEvaluator``.
"""

from hand3d_tf.evaluation.metrics import (  # noqa: F401 (re-exported)
    METRES_TO_MM,
    PRESET_2D,
    PRESET_3D,
    STB_REFERENCE_CURVES,
    STB_REFERENCE_THRESHOLDS_MM,
    STB_SUBRANGE_START,
    EvalSummary,
    KeypointEvaluator,
    align_3d,
    evaluate_3d,
    pck_auc,
    set_root,
)
