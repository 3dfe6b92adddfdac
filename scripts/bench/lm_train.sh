#!/usr/bin/env bash
# SFT training speed of paramkit_lm (bench-lm-train: forward, next-token cross-entropy, backward,
# AdamW on random token batches) against the same GPT-2 architecture in plain PyTorch eager
# (lm_train_eager.py, Debian's python3-torch: the same libtorch kernels), same sizes, batch, sequence
# length, steps and threads, back to back, at a GPT-2-small-like size (12 x 768) and a smaller one
# (4 x 256), both with GPT-2's vocabulary. Prints JSON, also saved to bench-out/lm-train.json. The
# machine is shared: before each pair it waits (up to MAX_WAIT seconds, default 900) until other
# processes keep less than MAX_BUSY cores busy (default 0.25, over 5 s) and the 1-minute load average
# is under MAX_LOAD (default 2.5); both are recorded, and each run's "contention" says how many cores
# others used while it ran (contention.py). NO_BUILD=1 skips the build.
# Usage: scripts/bench/lm_train.sh [batch=8] [seq=128] [steps=3] [threads=2]
#   scripts/bench/lm_train.sh && cp bench-out/lm-train.json scripts/bench/results/lm-train-2core.json
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-8} T=${2:-128} S=${3:-3} TH=${4:-2} V=50257
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-lm-train >/dev/null
mkdir -p bench-out
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
others() { scripts/bench/contention.py "$dir/probe.json" sleep 5; python3 -c "import json; print(json.load(open('$dir/probe.json'))['other_cores_busy'])"; }
wait_quiet() {
  local waited=0 busy
  while busy=$(others); [ "$(echo "$busy > ${MAX_BUSY:-0.25} || $(load) > ${MAX_LOAD:-2.5}" | bc -l)" = 1 ] && [ "$waited" -lt "${MAX_WAIT:-900}" ]; do
    sleep 25; waited=$((waited + 30))
  done
  echo "$busy"
}
rows=()
for size in "gpt2-small-like 12 768 12" "smaller 4 256 4"; do
  read -r name L H NH <<<"$size"
  busy=$(wait_quiet)
  before=$(load)
  ours=$(scripts/bench/contention.py "$dir/ours.json" build/bin/bench-lm-train "$L" "$H" "$NH" "$B" "$T" "$S" "$TH" "$V")
  eager=$(scripts/bench/contention.py "$dir/eager.json" /usr/bin/python3 scripts/bench/lm_train_eager.py "$L" "$H" "$NH" "$B" "$T" "$S" "$TH" "$V")
  rows+=("{\"size\": \"$name\", \"load_average_1min\": [$before, $(load)], \"others_cores_busy_before\": $busy, \"paramkit\": $ours, \"paramkit_contention\": $(cat "$dir/ours.json"), \"pytorch_eager\": $eager, \"pytorch_contention\": $(cat "$dir/eager.json")}")
done
python3 - "${rows[@]}" <<'PY' | tee bench-out/lm-train.json
import json, os, sys
rows = [json.loads(a) for a in sys.argv[1:]]
for r in rows:
    r["speedup"] = round(r["paramkit"]["tokens_per_s"] / r["pytorch_eager"]["tokens_per_s"], 3)
print(json.dumps({"bench": "lm-train", "machine": f"{os.cpu_count()} cores", "rows": rows}, indent=1))
PY
