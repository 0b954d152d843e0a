#!/usr/bin/env bash
# `make demo` from a fresh clone of HEAD, with an empty model cache: wall clock and peak
# memory, install included (pip's own download cache is whatever this machine has).
#     bash bench/demo_time.sh [WORKDIR]
set -euo pipefail
work=${1:-$(mktemp -d)}
git clone --quiet "$(git rev-parse --show-toplevel)" "$work/clone"
cd "$work/clone"
MEDLETHE_CACHE_DIR="$work/cache" /usr/bin/time -v make demo >"$work/demo.log" 2>"$work/demo.err"
grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$work/demo.err"
echo "logs: $work/demo.log $work/demo.err"
