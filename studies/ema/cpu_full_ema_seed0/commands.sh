#!/bin/bash
# CPU validation-only comparison for issue 6: offline-full with and without EMA, seed 0.
cd /work/main
for decay in 0 0.998; do
  /work/venv/bin/emodraw train --experiment offline-full --seed 0 --data-dir /tmp/valonly --ema-decay $decay \
     --no-plots --no-save-state --no-progress --output-dir /tmp/cpu-full-ema$decay
done
