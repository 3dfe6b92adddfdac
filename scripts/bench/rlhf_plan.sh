#!/usr/bin/env bash
# ReaLHF on this machine (issue 20), NPROC local processes (default 4; this machine has 2 cores, so the
# processes share them and the numbers are a functional benchmark, not a cluster's):
#  1. `profile` under `launch`: matmul FLOP/s, copy and inter-process bandwidth -> a cluster file;
#  2. `plan --actor-config` on that cluster: the MCMC-searched plan, the best fixed layout (every call
#     on every process, one strategy), the heuristic plan, and two hand-written layouts (tensor parallel
#     everywhere, pipeline parallel everywhere) for a ReMax iteration of the bench model;
#  3. `rl --plan` executes each for ITERS iterations (the first a warm-up): measured seconds per
#     iteration, and per call the cost model's predicted vs measured time;
#  4. `realloc --all-pairs` with a larger model: reallocation throughput against an all-gather of the
#     same bytes (both over c10d Gloo).
# Prints JSON, also saved to bench-out/rlhf_plan.json. NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target rlhf-train >/dev/null
N=${NPROC:-4}
ITERS=${ITERS:-8}
B=${BIN:-build/bin}/rlhf-train
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p bench-out
cat > "$W/model.json" <<'JSON'
{"model_type": "llama", "vocab_size": 259, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
 "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
 "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 257, "eos_token_id": 258,
 "pad_token_id": 256}
JSON
BATCH=8
GEN=24
# the prompts' mean length in tokens of the byte tokenizer (with its BOS), as rl --plan predicts with
PLEN=$(python3 -c "import json; p=[json.loads(l)['prompt'] for l in open('tests/data/rlhf/add-prompts.jsonl') if l.strip()]; print(round(sum(len(x.encode())+1 for x in p)/len(p)))")
"$B" launch -n "$N" -- "$B" profile -q --model-config "$W/model.json" --tokens 256 -o "$W/cluster.json" --threads 1
"$B" plan -q --cluster "$W/cluster.json" --algo remax --actor-config "$W/model.json" --batch $BATCH --prompt-len "$PLEN" --gen-len $GEN --micro-batches 2 \
  --iterations 20000 --compare -o "$W/searched.json" --timeline bench-out/rlhf_plan_predicted.svg
python3 - "$W" "$N" <<'PY'
import json, sys
w = sys.argv[1]
r = json.load(open(f"{w}/searched.json"))
for k in ["fixed_layout", "heuristic"]:
    json.dump({"calls": r[k]["calls"]}, open(f"{w}/{k}.json", "w"))
json.dump({"calls": r["plan"]["calls"]}, open(f"{w}/plan.json", "w"))
# Hand-written layouts a user might pick: tensor parallel everywhere (Megatron-style) and pipeline
# parallel everywhere, every call on every process.
n = int(sys.argv[2])
for name, (dp, tp, pp) in {"tp_everywhere": (1, n, 1), "pp_everywhere": (1, 1, n)}.items():
    json.dump({"calls": [dict(c, dp=dp, tp=tp, pp=pp, mesh={"first": 0, "size": n}) for c in r["plan"]["calls"]]}, open(f"{w}/{name}.json", "w"))
PY
for p in plan fixed_layout heuristic tp_everywhere pp_everywhere; do
  "$B" launch -n "$N" -- "$B" rl -q --threads 1 --algo remax --model-config "$W/model.json" --tokenizer bytes \
    --prompts tests/data/rlhf/add-prompts.jsonl --reward 'rule:regex:[0-9]' --iterations "$ITERS" --batch-prompts $BATCH \
    --max-new-tokens $GEN --kl-coef 0.05 --plan "$W/$p.json" --cluster "$W/cluster.json" --plan-report "$W/report-$p.json" \
    --timeline "bench-out/rlhf_plan_timeline_$p.svg" -o "$W/out-$p"
done
"$B" launch -n "$N" -- "$B" realloc -q --threads 1 --all-pairs --layers 8 --hidden 512 --vocab 4096 -o "$W/realloc.json"
python3 - "$W" "$N" <<'PY' | tee bench-out/rlhf_plan.json
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
search = json.load(open(f"{w}/searched.json"))
out = {"processes": n, "cluster": json.load(open(f"{w}/cluster.json"))["measured"], "plans": {}}
for p in ["plan", "fixed_layout", "heuristic", "tp_everywhere", "pp_everywhere"]:
    r = json.load(open(f"{w}/report-{p}.json"))
    out["plans"][p] = {
        "predicted_iteration_s": round(r["predicted_iteration_s"], 4),
        "measured_iteration_s": round(r["measured_iteration_s"], 4),
        "calls": [{"call": c["call"], "mesh": [c["mesh"]["first"], c["mesh"]["size"]], "dp_tp_pp": [c["dp"], c["tp"], c["pp"]],
                   "predicted_s": round(c["predicted"]["seconds"], 4), "measured_s": round(c["measured"]["seconds"], 4)} for c in r["calls"]]}
m = {p: out["plans"][p]["measured_iteration_s"] for p in out["plans"]}
out["measured_speedup_vs_fixed"] = round(m["fixed_layout"] / m["plan"], 3)
out["measured_speedup_vs_heuristic"] = round(m["heuristic"] / m["plan"], 3)
out["measured_speedup_vs_tp_everywhere"] = round(m["tp_everywhere"] / m["plan"], 3)
out["measured_speedup_vs_pp_everywhere"] = round(m["pp_everywhere"] / m["plan"], 3)
out["predicted_speedup_vs_fixed"] = round(search["speedup_vs_fixed"], 3)
rr = json.load(open(f"{w}/realloc.json"))
rows = [p for p in rr["pairs"] if p["moved_bytes"] > 0]
out["realloc"] = {"model": {"layers": rr["layers"], "hidden": rr["hidden"]}, "pairs": len(rows), "all_exact": rr["all_exact"],
                  "moved_mb_total": round(sum(p["moved_bytes"] for p in rows) / 1e6, 2),
                  "realloc_gb_s": round(sum(p["moved_bytes"] for p in rows) / sum(p["seconds"] for p in rows) / 1e9, 3),
                  "all_gather_gb_s": round(sum(p["moved_bytes"] for p in rows) / sum(p["all_gather_seconds"] for p in rows) / 1e9, 3)}
print(json.dumps(out, indent=1))
PY
