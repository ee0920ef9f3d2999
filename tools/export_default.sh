#!/usr/bin/env bash
# Export the bundled default model (weights/default/*.npz) to TFLite and ship the chosen
# precisions beside it: weights/default/<net>_<mode>.tflite + <net>_<mode>.json (sidecar).
#
#   tools/export_default.sh                  # after any change to weights/default/*.npz
#
# 1. an eval set of 50 held-out synthetic v2 samples (the card's held-out folder);
# 2. every candidate precision with the accuracy report against the export targets
#    (docs/export.md, "Accuracy of each precision"): WORK/all/accuracy_report.md;
# 3. copies SHIP_MODES (fp32 + the quantized precision the card names) into weights/default;
# 4. rewrites the card's checksum section (weights/README.md, files:begin/end).
# Read the report's met/MISSED column before shipping a new model: if the shipped quantized
# mode misses a target, pick another (SHIP_MODES="fp32 <mode>") and update the card's text.
# Then refresh the card's numbers and expected_example.json with its model_card command.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HELDOUT=${HELDOUT:-/tmp/h3d/v2_heldout}         # hand3d-make-synthetic ... --seed=2 (weights/README.md)
CALIBRATION=${CALIBRATION:-/tmp/h3d/v2_train}   # the training renders of stage 5
WORK=${WORK:-/tmp/h3d/export_default}
CANDIDATES=${CANDIDATES:-fp32,fp16,dynamic,int8,int8_io,int16x8}
SHIP_MODES=${SHIP_MODES:-fp32 fp16}
DEST=${DEST:-weights/default}                   # the nets exported, and where the chosen files go
CARD=${CARD:-weights/README.md}                 # whose checksum section is rewritten

mkdir -p "$WORK"
"$PY" -m hand3d_tf.cli.make_eval_set --dataset=synthetic --data_dir="$HELDOUT" --num=50 \
    --output="$WORK/eval_default.npz"
rm -rf "$WORK/all"
"$PY" -m hand3d_tf.cli.export --net=all --weights="$DEST" --mode="$CANDIDATES" \
    --output_dir="$WORK/all" --calibration_data="$CALIBRATION" --nosaved_model --check_gpu \
    --report --eval_data="$WORK/eval_default.npz"
rm -f "$DEST"/*.tflite "$DEST"/{handsegnet,posenet,lifting}_*.json
for net in handsegnet posenet lifting; do
    for mode in $SHIP_MODES; do
        cp "$WORK/all/${net}_${mode}.tflite" "$WORK/all/${net}_${mode}.json" "$DEST"/
    done
done
"$PY" -c "from hand3d_tf.evaluation import model_card as m
m.update_checksums('$CARD', '$DEST')"
cat "$WORK/all/accuracy_report.md"
