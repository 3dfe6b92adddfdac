#!/usr/bin/env bash
# Benchmark of intdim-probe: the cost of a training step in a random subspace against a direct step of
# the same model in the same run (MNIST FC 784-200-200-10, D = 199,210, batch 128, Adam): Fastfood,
# sparse and dense projections at d = 1,000 and 10,000 (the goal: Fastfood within 2x of direct), with
# each run's peak memory (its own process, so peaks do not mix) and the time to set P up. The dense
# d = 10,000 P is 8 GB (refused under the default --memory-budget 4; here given 10) and runs 10 steps.
# THREADS (default 1) threads per run. Prints JSON, also saved to bench-out/intdim.json.
# NO_BUILD=1 skips the build. Usage: scripts/bench/intdim.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-400}
threads=${THREADS:-1}
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target intdim-probe >/dev/null
./scripts/fetch-data.sh >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/intdim
mkdir -p "$dir"
m=$PWD/data/mnist
run() {  # NAME D PROJECTION STEPS [FLAGS...]
  local name=$1 d=$2 proj=$3 n=$4; shift 4
  "$bin/intdim-probe" train -q --train-images "$m/train-images-idx3-ubyte" --train-labels "$m/train-labels-idx1-ubyte" \
    --test-images "$m/t10k-images-idx3-ubyte" --test-labels "$m/t10k-labels-idx1-ubyte" \
    --d "$d" --projection "$proj" --max-steps "$n" --threads "$threads" "$@" -o "$dir/$name.json" --metrics "$dir/$name.metrics.json"
}
run direct 0 fastfood "$steps"
for d in 1000 10000; do
  run "fastfood-$d" "$d" fastfood "$steps"
  run "sparse-$d" "$d" sparse "$steps"
done
run dense-1000 1000 dense "$steps"
run dense-10000 10000 dense 10 --memory-budget 10
python3 - "$dir" "$threads" <<'PY' | tee bench-out/intdim.json
import json, os, sys
d, threads = sys.argv[1], int(sys.argv[2])
def load(name):
    r, m = json.load(open(os.path.join(d, name + ".json"))), json.load(open(os.path.join(d, name + ".metrics.json")))
    train_s = m["timings"]["train"]
    return {"run": name, "projection": r["projection"], "d": r["d"], "D": r["D"], "steps": r["steps"],
            "ms_per_step": 1000 * train_s / r["steps"], "wall_s": m["wall_s"],
            "peak_rss_mb": m["peak_rss_bytes"] / 2**20, "test_accuracy": r["test_accuracy"]}
runs = [load(n) for n in ("direct", "fastfood-1000", "sparse-1000", "dense-1000", "fastfood-10000", "sparse-10000", "dense-10000")]
base = runs[0]["ms_per_step"]
for r in runs:
    r["step_vs_direct"] = r["ms_per_step"] / base
ff = {r["d"]: r["step_vs_direct"] for r in runs if r["projection"] == "fastfood"}
out = {"benchmark": "intdim-probe", "model": "MNIST FC 784-200-200-10", "threads": threads, "batch": 128,
       "goal": "a Fastfood step within 2x of a direct step", "fastfood_vs_direct": ff,
       "goal_met": all(v <= 2 for v in ff.values()), "runs": runs}
print(json.dumps(out, indent=1))
PY
