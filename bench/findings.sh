#!/usr/bin/env bash
# AMNESIA's findings on synthclinic: bench/plans/findings.yaml (16 scenarios x 4 methods x 3
# seeds with `tiny`), two jobs at a time on a local Ray instance (one core each), timed.
# Usage: bash bench/findings.sh [OUTPUT] [EXECUTOR]   (default findings-out, ray)
# A killed run resumes: run the same command again. docs/findings.md reads its aggregate.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-findings-out}
EXECUTOR=${2:-ray}
PY=${PY:-.venv/bin/python}
start=$(date +%s)
/usr/bin/time -v "$PY" -m medlethe sweep bench/plans/findings.yaml --output "$OUT" \
  --executor "$EXECUTOR" 2> >(tee "$OUT.time.log" >&2)
end=$(date +%s)
echo "findings sweep: $((end - start)) s wall clock ($EXECUTOR executor)"
"$PY" -m medlethe report "$OUT" > "$OUT.report.md"
echo "report: $OUT/index.html, $OUT.report.md"
