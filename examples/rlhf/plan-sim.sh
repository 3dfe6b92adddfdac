#!/usr/bin/env bash
# The simulated comparison of ReaLHF plans (rlhf-train plan: cost model, MCMC search) on declared
# H100-like clusters: PPO, 512 prompts of 256 tokens, 256 generated; searched plan vs heuristic plan vs
# the best fixed layout vs a DeepSpeed-Chat-like layout, 7B-70B on 16-128 GPUs. A simulation: nothing
# runs on a cluster. Usage: examples/rlhf/plan-sim.sh [BIN [OUT]]; writes OUT/plan-sim.md (the README's
# table), OUT/plan-<config>.json and the 70b + 70b timeline.
set -euo pipefail
BIN=${1:-build/bin}
OUT=${2:-examples/rlhf/results}
mkdir -p "$OUT"
rows=()
for cfg in "7b 7b 2" "13b 7b 4" "34b 7b 8" "70b 7b 16" "70b 70b 16"; do
  set -- $cfg
  f="$OUT/plan-$1-$2-$(( $3 * 8 ))gpu.json"
  tl=()
  [ "$1$2" = 70b70b ] && tl=(--timeline "$OUT/plan-timeline-70b-128gpu.svg")
  "$BIN/rlhf-train" plan -q --nodes "$3" --actor "$1" --critic "$2" --compare -o "$f" "${tl[@]}"
  rows+=("$f")
done
python3 - "${rows[@]}" <<'PY' | tee "$OUT/plan-sim.md"
import json, sys
print("| actor + critic | GPUs | searched plan | heuristic plan | fixed layout | DeepSpeed-Chat-like | vs heuristic | vs fixed | vs DS-Chat-like |")
print("|---|---|---|---|---|---|---|---|---|")
for f in sys.argv[1:]:
    r = json.load(open(f))
    g = r["cluster"]["nodes"] * r["cluster"]["gpus_per_node"]
    cell = lambda k: f'{r[k]["iteration_s"]:.2f} s ({r[k]["pflops"]:.2f})'
    print(f'| {r["actor"]} + {r["critic"]} | {g} | {r["plan"]["iteration_s"]:.2f} s ({r["plan"]["pflops"]:.2f} PFLOP/s) | {cell("heuristic")} | '
          f'{cell("fixed_layout")} | {cell("deepspeed_chat")} | {r["speedup_vs_heuristic"]:.2f}x | {r["speedup_vs_fixed"]:.2f}x | '
          f'{r["speedup_vs_deepspeed_chat"]:.2f}x |')
PY
