#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, in one go, on a machine with a CUDA GPU:
#
#   bench/gpu.sh                       # SmolLM2-135M only
#   MODEL_1B=/models/Llama-3.2-1B bench/gpu.sh   # also a 1B-class model from a local folder
#
# Needs a checkout with medlethe, vLLM and lm-eval installed in the running Python
# (`pip install -e '.[vllm,lmeval]'`). Writes everything under $OUT (default
# bench/gpu-results/): the JSON of each script and results.md, the tables that
# docs/benchmarks.md shows.
#  1. generation: raw vLLM vs medlethe's vllm backend vs the hf backend (bench/throughput.py);
#  2. 4-option multiple-choice scoring: lm-eval's hf model vs medlethe's hf backend (shared
#     context and one pass per option) vs medlethe's vllm backend (bench/vs_lmeval.py);
#  3. AMNESIA scale (8,820 patients, 70,560 QA): `medlethe evaluate` of synthclinic/patient-10
#     with the vllm backend, empty cache then cached (bench/eval_scale.py); target for a 1B
#     model: under 3 minutes on one H100.
#  4. the whole pipeline (target and oracle fine-tunes, the AMNESIA baselines, evaluation on
#     vLLM) per model with --train-args lora_rank=16,precision=bf16,chat_template=true:
#     seconds per stage, peak GPU memory, fine-tuning tokens/s and an estimate for
#     Llama-3-8B at AMNESIA's size (bench/pipeline_gpu.py); target: under 2 hours for a 1B
#     model on one H100.
# DEVICE=cpu N_GEN=16 N_MC=8 SCALE=0.01 bench/gpu.sh runs the same steps small on a CPU
# (a check of the script, not a measurement; step 4 then runs the tiny model on 22 patients).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-bench/gpu-results}
N_GEN=${N_GEN:-1024}
N_MC=${N_MC:-500}
SCALE=${SCALE:-1}
MEMORY=${MEMORY:-0.5}
mkdir -p "$OUT"
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  KV=0
else
  KV=$((2 << 30))
fi
models=(smollm2-135m)
[ -n "${MODEL_1B:-}" ] && models+=("$MODEL_1B")
{
  echo "# medlethe GPU benchmarks ($(date -u +%F), $(cat "$OUT/gpu.txt" 2>/dev/null || echo "$DEVICE"))"
  for m in "${models[@]}"; do
    tag=$(basename "$m")
    echo
    echo "## $m: generation, $N_GEN prompts, 64 new tokens"
    kv_arg=()
    [ "$KV" != 0 ] && kv_arg=(--kv-bytes "$KV")
    $PY bench/throughput.py --model "$m" --n "$N_GEN" --max-tokens 64 --memory "$MEMORY" \
      "${kv_arg[@]}" --hf-batch 64 --device "$DEVICE" --rounds 3 --out "$OUT/throughput-$tag.json"
    echo
    echo "## $m: 4-option multiple choice, $N_MC questions"
    $PY bench/vs_lmeval.py --model "$m" --n "$N_MC" --rounds 3 --batch-size 32 \
      --device "$DEVICE" --paths lmeval,shared,plain,vllm --json "$OUT/vs_lmeval-$tag.json"
  done
  m=${MODEL_1B:-smollm2-135m}
  echo
  echo "## $m: medlethe evaluate at ${SCALE} x AMNESIA scale, vllm backend"
  if [ "$KV" != 0 ]; then vargs="kv_cache_memory_bytes=$KV"; else vargs="gpu_memory_utilization=$MEMORY"; fi
  $PY bench/eval_scale.py --fractions "$SCALE" --model "$m" --backend vllm \
    --backend-args "$vargs" --out "$OUT/eval_scale-$(basename "$m").json"
  if [ "$DEVICE" = cuda ]; then
    for m in "${models[@]}"; do
      echo
      echo "## $m: the whole pipeline on synthclinic/patient-10 (LoRA 16, bf16, chat template)"
      $PY bench/pipeline_gpu.py --model "$m" --backend vllm --backend-args "$vargs" \
        --train-args lora_rank=16,precision=bf16,chat_template=true \
        --out "$OUT/pipeline-$(basename "$m").json" || echo "(the pipeline failed: see above)"
    done
  else
    echo
    echo "## tiny: the whole pipeline, 22 patients (a check of the script)"
    $PY bench/pipeline_gpu.py --model tiny --task-args n_patients=22,n_holdout=11 \
      --train-args qa_epochs=2,text_epochs=1,precision=bf16 --methods GradAscent,NPO \
      --out "$OUT/pipeline-tiny.json"
  fi
} | tee "$OUT/results.md"
