#!/usr/bin/env bash
# Benchmark of intdim-probe: the cost of a training step in a random subspace against a direct step of
# the same model in the same run (MNIST FC 784-200-200-10, D = 199,210, batch 128, Adam): Fastfood,
# sparse and dense projections at d = 1,000 and 10,000 (the goal: Fastfood within 2x of direct), with
# each run's peak memory (its own process, so peaks do not mix) and the time to set P up. The dense
# d = 10,000 P is 8 GB (refused under the default --memory-budget 4; here given 10) and runs 10 steps.
# One thread per run, and the direct and Fastfood runs again at two threads. Prints JSON, also saved
# to bench-out/intdim.json.
# NO_BUILD=1 skips the build. Usage: scripts/bench/intdim.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-400}
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target intdim-probe >/dev/null
./scripts/fetch-data.sh >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/intdim
mkdir -p "$dir"
m=$PWD/data/mnist
run() {  # NAME D PROJECTION STEPS [FLAGS...]
  local name=$1 d=$2 proj=$3 n=$4 threads=${THREADS:-1}; shift 4
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
THREADS=2 run direct-t2 0 fastfood "$steps"
THREADS=2 run fastfood-1000-t2 1000 fastfood "$steps"
THREADS=2 run fastfood-10000-t2 10000 fastfood "$steps"
python3 - "$dir" <<'PY' | tee bench-out/intdim.json
import json, os, sys
d = sys.argv[1]
def load(name):
    r, m = json.load(open(os.path.join(d, name + ".json"))), json.load(open(os.path.join(d, name + ".metrics.json")))
    train_s = m["timings"]["train"]
    return {"run": name, "projection": r["projection"], "d": r["d"], "D": r["D"], "steps": r["steps"],
            "ms_per_step": 1000 * train_s / r["steps"], "wall_s": m["wall_s"],
            "peak_rss_mb": m["peak_rss_bytes"] / 2**20, "test_accuracy": r["test_accuracy"]}
runs = [load(n) for n in ("direct", "fastfood-1000", "sparse-1000", "dense-1000", "fastfood-10000", "sparse-10000", "dense-10000")]
runs2 = [load(n) for n in ("direct-t2", "fastfood-1000-t2", "fastfood-10000-t2")]
for group in (runs, runs2):
    base = group[0]["ms_per_step"]
    for r in group:
        r["step_vs_direct"] = r["ms_per_step"] / base
ff = {r["d"]: r["step_vs_direct"] for r in runs if r["projection"] == "fastfood"}
ff2 = {r["d"]: r["step_vs_direct"] for r in runs2 if r["projection"] == "fastfood"}
out = {"benchmark": "intdim-probe", "model": "MNIST FC 784-200-200-10", "batch": 128,
       "goal": "a Fastfood step within 2x of a direct step", "fastfood_vs_direct_1_thread": ff, "fastfood_vs_direct_2_threads": ff2,
       "goal_met": all(v <= 2 for v in list(ff.values()) + list(ff2.values())), "runs_1_thread": runs, "runs_2_threads": runs2}
print(json.dumps(out, indent=1))
PY
