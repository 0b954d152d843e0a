#!/usr/bin/env bash
# Does torch's thread count change trained weights? Fine-tunes one target per thread count,
# each with an empty cache (nothing else should run), and prints the weights' sha256.
#   bash bench/threads.sh [MODEL] [SCENARIO] [TASK_ARGS] [THREADS...]
set -euo pipefail
model=${1:-tiny}; scenario=${2:-synthclinic/patient-10}; targs=${3:-seed=0}
shift $(( $# < 3 ? $# : 3 )) || true
counts=${*:-1 2}
for n in $counts; do
  cache=$(mktemp -d)
  start=$(date +%s)
  MEDLETHE_CACHE_DIR=$cache .venv/bin/medlethe --threads "$n" finetune --model "$model" \
    --scenario "$scenario" --task-args "$targs" --on train > "$cache/log" 2>&1
  digest=$(sha256sum "$cache"/finetune/*/model.safetensors | cut -c1-16)
  echo "model=$model threads=$n seconds=$(( $(date +%s) - start )) weights=$digest"
  rm -rf "$cache"
done
