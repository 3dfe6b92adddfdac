#!/usr/bin/env bash
# ReMax against PPO at equal batch and model size (the ReMax paper's claim: ~0.54 of PPO's memory and
# ~0.5 of its time per iteration at 7B). Both run `rlhf-train rl` on the same randomly initialised
# GPT-2 (byte tokenizer), the same addition prompts (examples/rlhf/make-data.py), --reward rule:number,
# --kl-coef 0.05 (both hold a frozen reference model; PPO also trains a critic), same --batch-prompts,
# --max-new-tokens, --threads and seed, and --lr/--critic-lr 1e-12: every update is computed and
# applied, but the policy stays at its initialisation, so that both process the same rollouts (the
# same seeds: identical samples), which a learning policy would not (under PPO's per-token KL
# penalty a random policy learns to stop early and its iterations get cheaper). Reads --metrics (process peak RSS) and --log-jsonl (seconds of
# each model call per iteration; the first iteration is left out of the means) and compares with the
# static memory the spec's rule expects. A baseline run (`rlhf-train generate` on the same model: the
# runtime plus one model's weights) gives the runtime's own RSS. Prints JSON, also saved to
# bench-out/rlhf.json. The machine is shared: it waits (up to MAX_WAIT seconds, default 900) until
# other processes keep less than MAX_BUSY cores busy (default 0.25, over 5 s) and the 1-minute load
# average is under MAX_LOAD (default 2.5), and records both, and for each run how many cores others
# used while it ran (contention.py). NO_BUILD=1 skips the build.
# Usage: scripts/bench/rlhf.sh [iterations=5] [batch_prompts=16] [max_new_tokens=32] [threads=2] [n_embd=768] [n_layer=8] [n_head=12]
#   scripts/bench/rlhf.sh && cp bench-out/rlhf.json scripts/bench/results/rlhf-2core.json
set -euo pipefail
cd "$(dirname "$0")/../.."
IT=${1:-5} BP=${2:-16} NT=${3:-32} TH=${4:-2} HID=${5:-768} NL=${6:-8} NH=${7:-12}
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target rlhf-train >/dev/null
bin=$PWD/build/bin/rlhf-train
mkdir -p bench-out
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 examples/rlhf/make-data.py "$dir/data" --sft 10 --pref 10 --prompts 1000 --eval 10 >/dev/null
head -n "$BP" "$dir/data/prompts.jsonl" >"$dir/baseline-prompts.jsonl"
# The byte tokenizer's ids (256 pad, 257 bos, 258 eos) as in tests/data/rlhf/tiny-policy.
python3 - "$dir/config.json" "$HID" "$NL" "$NH" <<'PY'
import json, sys
path, hid, nl, nh = sys.argv[1], *map(int, sys.argv[2:])
json.dump({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "bos_token_id": 257,
           "eos_token_id": 258, "pad_token_id": 256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
           "model_type": "gpt2", "n_ctx": 128, "n_positions": 128, "n_embd": hid, "n_head": nh, "n_inner": None,
           "n_layer": nl, "tie_word_embeddings": True, "torch_dtype": "float32", "vocab_size": 259}, open(path, "w"))
PY
load() { cut -d' ' -f1 /proc/loadavg; }
others() { scripts/bench/contention.py "$dir/probe.json" sleep 5; python3 -c "import json; print(json.load(open('$dir/probe.json'))['other_cores_busy'])"; }
waited=0
while busy=$(others); [ "$(echo "$busy > ${MAX_BUSY:-0.25} || $(load) > ${MAX_LOAD:-2.5}" | bc -l)" = 1 ] && [ "$waited" -lt "${MAX_WAIT:-900}" ]; do
  sleep 25; waited=$((waited + 30))
done
common=(--model-config "$dir/config.json" --tokenizer bytes --threads "$TH" --seed 0 -q)
loads=("$(load)")
scripts/bench/contention.py "$dir/baseline-contention.json" "$bin" generate "${common[@]}" --prompts "$dir/baseline-prompts.jsonl" --batch-size "$BP" --max-new-tokens "$NT" \
  --metrics "$dir/baseline.json" -o "$dir/baseline-out.jsonl"
for algo in remax ppo; do
  loads+=("$(load)")
  scripts/bench/contention.py "$dir/$algo-contention.json" \
    "$bin" rl "${common[@]}" --algo "$algo" --prompts "$dir/data/prompts.jsonl" --reward rule:number --kl-coef 0.05 --lr 1e-12 --critic-lr 1e-12 \
    --batch-prompts "$BP" --max-new-tokens "$NT" --iterations "$IT" \
    --metrics "$dir/$algo.json" --log-jsonl "$dir/$algo.jsonl" -o "$dir/$algo-out"
done
loads+=("$(load)")
python3 - "$dir" "$IT" "$BP" "$NT" "$TH" "$HID" "$NL" "$NH" "${loads[*]}" "$busy" <<'PY' | tee bench-out/rlhf.json
import json, os, sys
d = sys.argv[1]
it, bp, nt, th, H, L, nh = map(int, sys.argv[2:9])
loads = [float(x) for x in sys.argv[9].split()]
busy = float(sys.argv[10])
V, P = 259, 128
N = V * H + P * H + L * (12 * H * H + 13 * H) + 2 * H   # the policy (tied head); the critic has + H (score head)
Nc = N + H
mib = lambda b: round(b / 2**20, 1)
base = json.load(open(f"{d}/baseline.json"))["peak_rss_bytes"]
runtime = base - 4 * N   # the process without the model's weights (LibTorch, allocator, tokenizer, KV cache)
expected_fp32 = {"remax": 16 * N + 4 * N, "ppo": 16 * N + 16 * Nc + 4 * N}   # trained: weights+grads+Adam m,v; ref: weights
expected_spec = {"remax": 24 * N, "ppo": 40 * N}
out = {"bench": "rlhf remax vs ppo", "machine": f"{os.cpu_count()} cores",
       "load_average_1min": {"before_baseline": loads[0], "before_remax": loads[1], "before_ppo": loads[2], "after": loads[3]},
       "others_cores_busy_before": busy,
       "model": {"arch": "gpt2", "n_embd": H, "n_layer": L, "n_head": nh, "n_positions": P, "vocab": V, "parameters": N},
       "run": {"iterations": it, "timed_iterations": it - 1, "batch_prompts": bp, "max_new_tokens": nt, "threads": th,
               "reward": "rule:number", "kl_coef": 0.05, "lr": 1e-12},
       "baseline_generate_peak_rss_mib": mib(base), "runtime_rss_mib": mib(runtime),
       "baseline_contention": json.load(open(f"{d}/baseline-contention.json"))}
for algo in ("remax", "ppo"):
    m = json.load(open(f"{d}/{algo}.json"))
    recs = [json.loads(l) for l in open(f"{d}/{algo}.jsonl")]
    timed = recs[1:] if len(recs) > 1 else recs
    calls = {k: sum(r["seconds"][k] for r in timed) / len(timed) for k in timed[0]["seconds"]}
    peak = m["peak_rss_bytes"]
    train_peak = max(r["peak_rss_bytes"] for r in recs)
    out[algo] = {"peak_rss_mib": mib(peak), "peak_rss_during_training_mib": mib(train_peak),
                 "peak_rss_minus_runtime_mib": mib(train_peak - runtime),
                 "expected_static_fp32_mib": mib(expected_fp32[algo]), "expected_static_spec_rule_mib": mib(expected_spec[algo]),
                 "seconds_per_iteration": round(sum(calls.values()), 3),
                 "seconds_per_call": {k: round(v, 3) for k, v in calls.items()},
                 "mean_response_tokens": round(sum(r["response_length"] for r in timed) / len(timed), 2),
                 "wall_s": round(m["wall_s"], 2), "contention": json.load(open(f"{d}/{algo}-contention.json"))}
r, p = out["remax"], out["ppo"]
out["ratio_remax_over_ppo"] = {
    "peak_rss": round(r["peak_rss_mib"] / p["peak_rss_mib"], 3),
    "peak_rss_minus_runtime": round(r["peak_rss_minus_runtime_mib"] / p["peak_rss_minus_runtime_mib"], 3),
    "expected_static_fp32": round(expected_fp32["remax"] / expected_fp32["ppo"], 3),
    "expected_static_spec_rule": round(24 / 40, 3),
    "seconds_per_iteration": round(r["seconds_per_iteration"] / p["seconds_per_iteration"], 3),
    "paper_7b": {"memory": 0.54, "time": 0.5}}
print(json.dumps(out, indent=1))
PY
