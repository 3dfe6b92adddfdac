#!/usr/bin/env bash
# Benchmark of nbody-rl: integrator speed (steps, force evaluations per second, ns per step, energy
# error) on the Pythagorean problem and a 100-body Plummer cluster; the cost of a policy decision
# against the integration it controls; and energy error at equal cost for a trained policy against
# every fixed eta on 20 held-out seeds (the paper's comparison); IAS15 with compensated summation
# against plain summation at equal energy error ("ias15_summation", summarised in "summation"); the
# start-up time of nbody-rl (it has no LibTorch; train execs its LibTorch helper). Trains the policy
# first (EPISODES, default 300, about a minute on 2 cores). Prints JSON, also saved to
# bench-out/nbody.json. NO_BUILD=1 skips the build (when the binaries are built already).
# Usage: scripts/bench/nbody.sh [EPISODES]
set -euo pipefail
cd "$(dirname "$0")/../.."
episodes=${1:-300}
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target nbody-rl bench-nbody >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/nbody
mkdir -p "$dir"
t0=$(date +%s.%N)
"$bin/nbody-rl" train -q --episodes "$episodes" --seed 0 --out "$dir/policy.safetensors" --log-jsonl "$dir/train.jsonl"
t1=$(date +%s.%N)
"$bin/nbody-rl" evaluate -q --policy "$dir/policy.safetensors" --seeds 20 --out "$dir/eval.json" --plot "$dir/pareto.svg"
speed=$("$bin/bench-nbody" "$dir/policy.safetensors")
# Start-up: the mean of 20 runs of --version, and of a one-episode training run (LibTorch loads there).
startup() {
  local t0 t1 i
  t0=$(date +%s.%N)
  for i in $(seq 20); do "$@" >/dev/null 2>&1; done
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 20 }' 
}
version_s=$(startup "$bin/nbody-rl" --version)
train1_s=$(startup "$bin/nbody-rl" train -q --episodes 1 --steps 1 --hidden 8 --batch 4 --out "$dir/startup.safetensors")
summation=$(python3 - "$speed" <<'PY'
import json, sys
rows = json.loads(sys.argv[1])["ias15_summation"]
out = {}
for prob in ("pythagorean", "kepler"):
    comp = [r for r in rows if r["problem"] == prob and r["summation"] == "compensated"]
    plain = [r for r in rows if r["problem"] == prob and r["summation"] == "plain"]
    keep = lambda r: {k: r[k] for k in ("epsilon", "steps", "wall_s", "ns_per_step", "relative_energy_error")}
    best_plain = min(plain, key=lambda r: r["relative_energy_error"])
    # At equal energy error: the cheapest compensated run that reaches plain summation's best error.
    reach = [r for r in comp if r["relative_energy_error"] <= best_plain["relative_energy_error"]]
    cheapest = min(reach, key=lambda r: r["wall_s"]) if reach else None
    at = lambda rs: next(r for r in rs if r["epsilon"] == 1e-9)
    out[prob] = {"plain_best": keep(best_plain),
                 "compensated_cheapest_at_that_error": keep(cheapest) if cheapest else None,
                 "wall_ratio_compensated_over_plain_at_equal_error": cheapest["wall_s"] / best_plain["wall_s"] if cheapest else None,
                 "epsilon_1e-9": {"compensated": keep(at(comp)), "plain": keep(at(plain)),
                                  "ns_per_step_ratio": at(comp)["ns_per_step"] / at(plain)["ns_per_step"]}}
print(json.dumps(out))
PY
)
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
json=$(printf '{"benchmark": "nbody-rl", "threads": %s, "train_episodes": %s, "train_s": %s,\n "startup_s": {"version": %s, "train_one_episode": %s},\n "summation": %s,\n "speed": %s,\n "evaluation_20_seeds": %s}\n' \
  "$(nproc)" "$episodes" "$(echo "$t1 - $t0" | bc -l)" "$version_s" "$train1_s" "$summation" "$speed" "$summary")
echo "$json" | tee bench-out/nbody.json
