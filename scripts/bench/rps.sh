#!/usr/bin/env bash
# Benchmark of rps-compress's kernels: the shared-weight gather (forward) and scatter-add (backward)
# per mapper at 1/10 and 1/100 against memcpy of the same bytes in the same run (goal: ROAST and
# RANDOMFOLD forward at least 50% of memcpy on the CPU), and a training step of a compressed MLP and
# LeNet-5 against the dense step (goal: at most 1.5x). THREADS (default 1). Prints JSON, also saved to
# bench-out/rps.json. NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-rps >/dev/null
mkdir -p bench-out
"$PWD/build/bin/bench-rps" "${THREADS:-1}" | tee bench-out/rps.json
