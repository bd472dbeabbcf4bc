#!/bin/bash
# CPU validation-only comparison for issue 6: offline-full with and without EMA, seed 0.
for decay in 0 0.998; do
  emodraw train --experiment offline-full --seed 0 --data-dir runs/valonly --ema-decay $decay \
     --no-plots --no-save-state --no-progress --output-dir runs/cpu-full-ema$decay
done
