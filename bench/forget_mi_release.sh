#!/usr/bin/env bash
# Forget-MI two ways on synthclinic-cxr/patients-6pct, three training seeds: medlethe's
# ForgetMI and the baselines read on the joint head (the model's output), and the release's
# way (ForgetMI/release) read on the image head as the release evaluates, beside the same
# target and oracle read on that head. Tables: docs/methods.md.
#   bash bench/forget_mi_release.sh [OUT]     (about 5 minutes a seed on 2 cores)
set -euo pipefail
out=${1:-fmi-release}
bin=${MEDLETHE:-.venv/bin/medlethe}
py=${PYTHON:-.venv/bin/python}
scenario=synthclinic-cxr/patients-6pct
for s in 0 1 2; do
  "$bin" run --model fusion-tiny --scenario "$scenario" --train-args seed=$s --seed $s \
    --methods Retrain,ForgetMI,ForgetMI/release,RetainFineTune,NegGrad+,FullGradAscent \
    --output "$out/joint/seed$s"
  "$bin" run --model fusion-tiny --scenario "$scenario" --train-args seed=$s --seed $s \
    --methods Retrain,ForgetMI,ForgetMI/release --backend-args head=image \
    --output "$out/image/seed$s"
done
echo "## joint head (the model's output)"
"$py" bench/steu.py --forget-mi "$out"/joint/seed{0,1,2}
echo "## image head (--backend-args head=image, as the release evaluates)"
"$py" bench/steu.py --forget-mi "$out"/image/seed{0,1,2}
