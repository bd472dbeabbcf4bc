#!/usr/bin/env bash
# Cross-fitted distillation for the offline-full preset (issue 6, round 4b; studies/distillation/README.md).
#
#   bash studies/distillation/distillation_crossfit.sh OUT [DEVICE]      # DEVICE: cpu (default) or cuda
#
# Two teachers, each the offline-full preset trained on one half of the training sentences (a seeded
# random split), then a student (seed 0) that learns every training sentence from the teacher that did
# NOT train on it (--distill-cross-fit), on a data folder with no test file: validation only. Compare its
# best validation score with the preset's (distillation_study.sh's val-incumbent run).
set -euo pipefail
OUT=${1:?usage: distillation_crossfit.sh OUT [cpu|cuda]}
DEVICE=${2:-cpu}
DATA=$(python -c "from emodraw.data.splits import bundled_data_dir; print(bundled_data_dir())")
mkdir -p "$OUT/val-only" "$OUT/folds/a" "$OUT/folds/b"
cp "$DATA/train.txt" "$DATA/val.txt" "$OUT/val-only/"
python - "$DATA/train.txt" "$OUT/folds" <<'PY'
import random, sys
from pathlib import Path
lines = [l for l in Path(sys.argv[1]).read_text(encoding="utf-8").splitlines() if l.strip()]
order = list(range(len(lines)))
random.Random(0).shuffle(order)
half = len(lines) // 2
for name, rows in (("a", order[:half]), ("b", order[half:])):
    Path(sys.argv[2], name, "train.txt").write_text("\n".join(lines[i] for i in sorted(rows)) + "\n", encoding="utf-8")
PY
cp "$DATA/val.txt" "$OUT/folds/a/"
cp "$DATA/val.txt" "$OUT/folds/b/"
COMMON=(--experiment offline-full --device "$DEVICE" --no-progress --no-plots --no-save-state)
[ -f "$OUT/fold-a/metrics.csv" ] || emodraw train "${COMMON[@]}" --seed 1 --data-dir "$OUT/folds/a" --output-dir "$OUT/fold-a"
[ -f "$OUT/fold-b/metrics.csv" ] || emodraw train "${COMMON[@]}" --seed 2 --data-dir "$OUT/folds/b" --output-dir "$OUT/fold-b"
[ -f "$OUT/val-crossfit/metrics.csv" ] || emodraw train "${COMMON[@]}" --seed 0 --data-dir "$OUT/val-only" \
    --distill-from "$OUT/fold-a,$OUT/fold-b" --distill-cross-fit --output-dir "$OUT/val-crossfit"
python "$(dirname "$0")/../sweeps/best_validation.py" "$OUT/fold-a" "$OUT/fold-b" "$OUT/val-crossfit"
