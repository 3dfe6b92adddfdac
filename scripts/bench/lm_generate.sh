#!/usr/bin/env bash
# Generation speed of paramkit_lm (bench-lm-generate: GPT-2-small-like random model, greedy, KV cache)
# against the same model in plain PyTorch eager (lm_generate_eager.py: transformers' way, a cache grown
# with torch.cat), same batch, prompt length, new tokens and threads. Prints JSON, also saved to
# bench-out/lm-generate.json. NO_BUILD=1 skips the build.
# Usage: scripts/bench/lm_generate.sh [batch=16] [prompt=32] [new=128] [threads=2] [layers=12]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-16} P=${2:-32} N=${3:-128} T=${4:-2} L=${5:-12}
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-lm-generate >/dev/null
mkdir -p bench-out
ours=$(build/bin/bench-lm-generate gpt2 "$B" "$P" "$N" "$T" "$L")
eager=$(/usr/bin/python3 scripts/bench/lm_generate_eager.py "$B" "$P" "$N" "$T" "$L")
python3 - "$ours" "$eager" <<'PY' | tee bench-out/lm-generate.json
import json, sys
ours, eager = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "lm-generate", "paramkit": ours, "pytorch_eager": eager,
                  "speedup": round(ours["tokens_per_s"] / eager["tokens_per_s"], 2)}, indent=2))
PY
