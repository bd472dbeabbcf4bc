#!/usr/bin/env bash
# Task-adaptive pretraining for the offline-full preset (issue 6, round 6; studies/tapt/README.md), as run on
# the 2-core VM. The plan, written before any result: studies/tapt/round6/plan.md.
#
#   bash studies/tapt/tapt_study.sh OUT [DEVICE]      # DEVICE: cpu (default) or cuda
#
# 1. `emodraw adapt`: masked-LM training of the embedded backbone on the 16,000 training sentences
#    (labels ignored): 1 epoch of the fresh MLM head alone, then 4 epochs of the whole model;
# 2. the A/B, validation only (a data folder with no test file), seed 0: the offline-full preset on the
#    adapted backbone against the preset on the embedded one (the incumbent);
# 3. only when the candidate's validation score is at least the incumbent's + 0.2 pt: its finals,
#    seeds 1, 2, 3, each scored on test once.
# On the idle VM: about 15 minutes for step 1, 17-20 minutes a training run.
set -euo pipefail
OUT=${1:?usage: tapt_study.sh OUT [cpu|cuda]}
DEVICE=${2:-cpu}
mkdir -p "$OUT/val-only"
DATA=$(python -c "from emodraw.data.splits import bundled_data_dir; print(bundled_data_dir())")
cp "$DATA/train.txt" "$DATA/val.txt" "$OUT/val-only/"

[ -f "$OUT/tapt/adapt.json" ] || emodraw adapt --epochs 4 --head-warmup-epochs 1 --batch-size 64 --lr 1e-4 --seed 0 \
  --device "$DEVICE" --no-progress --output-dir "$OUT/tapt"

COMMON=(--experiment offline-full --device "$DEVICE" --no-progress)
AB=(--seed 0 --data-dir "$OUT/val-only" --no-plots --no-save-state)
[ -f "$OUT/val-incumbent/metrics.csv" ] || emodraw train "${COMMON[@]}" "${AB[@]}" --output-dir "$OUT/val-incumbent"
[ -f "$OUT/val-tapt/metrics.csv" ] || emodraw train "${COMMON[@]}" "${AB[@]}" --model "$OUT/tapt" --output-dir "$OUT/val-tapt"

HERE=$(dirname "$0")
python "$HERE/../sweeps/best_validation.py" "$OUT/val-incumbent" "$OUT/val-tapt" | tee "$OUT/ab.txt"
# the preset's rule: the epoch with the highest validation score
score() { awk -v run="$1" '$1 == run && /rule=val_score/ {sub("score=", "", $NF); print $NF}' "$OUT/ab.txt"; }
awk -v a="$(score "$OUT/val-tapt")" -v b="$(score "$OUT/val-incumbent")" \
    'BEGIN {print (a >= b + 0.2 ? "candidate passes" : "candidate does not pass (needs incumbent + 0.2): no finals")}' | tee -a "$OUT/ab.txt"
grep -q "candidate passes" "$OUT/ab.txt" || exit 0
for s in 1 2 3; do
  [ -f "$OUT/tapt-seed$s/results.json" ] || emodraw train "${COMMON[@]}" --seed $s --model "$OUT/tapt" --output-dir "$OUT/tapt-seed$s"
done
