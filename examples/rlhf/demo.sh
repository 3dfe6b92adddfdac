#!/usr/bin/env bash
# The rlhf-train demonstration: two-digit addition (a checkable answer) with a small GPT-2 trained here
# from scratch on the byte tokenizer. SFT on noisy demonstrations (30% near misses), a reward model on
# preference pairs (right sum vs near miss), then ReMax and PPO against the verifiable reward
# rule:number, the held-out accuracy (greedy and sampled) measured before and during RL.
# Writes OUT/table.md, table.csv, rl.svg and every model folder and metrics file.
# Usage: demo.sh BIN OUT [SEED]   (a few minutes on 2 cores; THREADS=2 by default)
set -euo pipefail
bin=$1 out=$2 seed=${3:-0}
threads=${THREADS:-2}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rl=("$bin/rlhf-train")
python3 "$here/make-data.py" "$out/data" --sft 4000 --pref 2000 --prompts 2000 --eval 200 --seed "$seed"
cat > "$out/config.json" <<'JSON'
{"model_type": "gpt2", "vocab_size": 259, "n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 32,
 "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "bos_token_id": 257, "eos_token_id": 258, "pad_token_id": 256}
JSON
common=(--seed "$seed" --threads "$threads" -q)
[ -f "$out/sft/config.json" ] || "${rl[@]}" sft --model-config "$out/config.json" --tokenizer bytes --data "$out/data/sft.jsonl" \
  --epochs 12 --batch-size 32 --lr 2e-3 --schedule cosine --warmup 50 --log-jsonl "$out/sft.jsonl" "${common[@]}" \
  --metrics "$out/sft-metrics.json" -o "$out/sft"
[ -f "$out/rm/config.json" ] || "${rl[@]}" rm --model "$out/sft" --data "$out/data/pref.jsonl" --eval-data "$out/data/pref-eval.jsonl" \
  --epochs 12 --batch-size 32 --lr 1e-3 --schedule cosine --warmup 30 "${common[@]}" --metrics "$out/rm-metrics.json" -o "$out/rm"
for algo in remax ppo; do
  [ -f "$out/$algo/config.json" ] || "${rl[@]}" rl --algo "$algo" --model "$out/sft" --prompts "$out/data/prompts.jsonl" \
    --eval-prompts "$out/data/eval.jsonl" --reward rule:number --iterations 1000 --batch-prompts 64 --max-new-tokens 4 \
    --lr 5e-5 --critic-lr 2e-4 --kl-coef 0.05 --eval-every 100 --log-jsonl "$out/$algo.jsonl" "${common[@]}" \
    --metrics "$out/$algo-metrics.json" -o "$out/$algo"
done
python3 "$here/table.py" "$out"
