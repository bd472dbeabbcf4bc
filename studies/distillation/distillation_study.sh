#!/usr/bin/env bash
# Knowledge distillation for the offline-full preset (issue 6, round 4), as run on the 2-core VM (studies/distillation/README.md).
#
#   bash studies/distillation/distillation_study.sh OUT [DEVICE]      # DEVICE: cpu (default) or cuda
#
# 1. teachers: the offline-full preset with seeds 1, 2, 3 (the same runs as its 3-seed finals);
# 2. the A/B, validation only (a data folder with no test file), seed 0: the preset against the same
#    preset distilled from the three teachers (alpha 0.5, temperature 2, fixed before any result);
# 3. only when the student's best validation score is higher: the student's finals, seeds 1, 2, 3,
#    each scored on test once.
# About 17 minutes a run on the idle VM (8 runs when the student wins); a few seconds on a GPU.
set -euo pipefail
OUT=${1:?usage: distillation_study.sh OUT [cpu|cuda]}
DEVICE=${2:-cpu}
mkdir -p "$OUT/val-only"
DATA=$(python -c "from emodraw.data.splits import bundled_data_dir; print(bundled_data_dir())")
cp "$DATA/train.txt" "$DATA/val.txt" "$OUT/val-only/"
COMMON=(--experiment offline-full --device "$DEVICE" --no-progress)

for s in 1 2 3; do
  [ -f "$OUT/teacher-seed$s/results.json" ] || emodraw train "${COMMON[@]}" --seed $s --output-dir "$OUT/teacher-seed$s"
done
TEACHERS="$OUT/teacher-seed1,$OUT/teacher-seed2,$OUT/teacher-seed3"

AB=(--seed 0 --data-dir "$OUT/val-only" --no-plots --no-save-state)
[ -f "$OUT/val-incumbent/metrics.csv" ] || emodraw train "${COMMON[@]}" "${AB[@]}" --output-dir "$OUT/val-incumbent"
[ -f "$OUT/val-student/metrics.csv" ] || emodraw train "${COMMON[@]}" "${AB[@]}" --distill-from "$TEACHERS" --output-dir "$OUT/val-student"

HERE=$(dirname "$0")
python "$HERE/../sweeps/best_validation.py" "$OUT/val-incumbent" "$OUT/val-student" | tee "$OUT/ab.txt"
# the preset's rule: the epoch with the highest validation score
score() { awk -v run="$1" '$1 == run && /rule=val_score/ {sub("score=", "", $NF); print $NF}' "$OUT/ab.txt"; }
awk -v a="$(score "$OUT/val-student")" -v b="$(score "$OUT/val-incumbent")" \
    'BEGIN {print (a > b ? "student wins" : "student does not win: no finals")}' | tee -a "$OUT/ab.txt"
grep -q "student wins" "$OUT/ab.txt" || exit 0
for s in 1 2 3; do
  [ -f "$OUT/student-seed$s/results.json" ] || emodraw train "${COMMON[@]}" --seed $s --distill-from "$TEACHERS" --output-dir "$OUT/student-seed$s"
done
