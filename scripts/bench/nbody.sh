#!/usr/bin/env bash
# Benchmark of nbody-rl: integrator speed (steps, force evaluations per second, ns per step, energy
# error) on the Pythagorean problem and a 100-body Plummer cluster; the cost of a policy decision
# against the integration it controls; and energy error at equal cost for a trained policy against
# every fixed eta on 20 held-out seeds (the paper's comparison). Trains the policy first
# (EPISODES, default 300, about a minute on 2 cores). Prints JSON, also saved to bench-out/nbody.json.
# Usage: scripts/bench/nbody.sh [EPISODES]
set -euo pipefail
cd "$(dirname "$0")/../.."
episodes=${1:-300}
./scripts/build.sh --target nbody-rl bench-nbody >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/nbody
mkdir -p "$dir"
t0=$(date +%s.%N)
"$bin/nbody-rl" train -q --episodes "$episodes" --seed 0 --out "$dir/policy.safetensors" --log-jsonl "$dir/train.jsonl"
t1=$(date +%s.%N)
"$bin/nbody-rl" evaluate -q --policy "$dir/policy.safetensors" --seeds 20 --out "$dir/eval.json" --plot "$dir/pareto.svg"
speed=$("$bin/bench-nbody" "$dir/policy.safetensors")
summary=$(python3 - "$dir/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
keep = ["policy_mean_log10_error", "fixed_front_mean_log10_error_at_policy_cost", "best_fixed", "best_fixed_mean_log10_error",
        "default_eta_mean_log10_error"]
out = {k: e[k] for k in keep}
out["strategies"] = [{k: s[k] for k in ["strategy", "mean_log10_energy_error", "mean_force_evaluations", "mean_wall_s"]} for s in e["strategies"]]
print(json.dumps(out))
PY
)
json=$(printf '{"benchmark": "nbody-rl", "threads": %s, "train_episodes": %s, "train_s": %s,\n "speed": %s,\n "evaluation_20_seeds": %s}\n' \
  "$(nproc)" "$episodes" "$(echo "$t1 - $t0" | bc -l)" "$speed" "$summary")
echo "$json" | tee bench-out/nbody.json
