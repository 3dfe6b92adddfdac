#!/usr/bin/env bash
# Benchmark of pfgm-sample's U-Net (MNIST shape 1x28x28, the study's base 16 and levels 1,2,2, and the
# default base 32) against the same network in PyTorch eager (Debian's python3-torch) in the same run:
# a training step (batch 64: PFGM++ perturbation at D = 128, EDM's weighted loss, Adam) in ms and
# sampling throughput in images/s (Heun, 18 steps, 35 evaluations, a batch of 64). THREADS (default 2).
# Prints JSON, also saved to bench-out/pfgm.json. NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-unet >/dev/null
mkdir -p bench-out
T=${THREADS:-2}
have_torch=1
/usr/bin/python3 -c "import torch" 2>/dev/null || have_torch=0
{
  echo "["
  first=1
  for cfg in "16 1,2,2" "32 1,2,2"; do
    set -- $cfg
    [ $first = 1 ] || echo ","
    first=0
    echo "{\"base\": $1, \"mult\": \"$2\", \"paramkit\": $(build/bin/bench-unet "$1" "$2" 64 64 "$T"),"
    if [ $have_torch = 1 ]; then echo "\"pytorch\": $(/usr/bin/python3 scripts/bench/unet_eager.py "$1" "$2" 64 64 "$T")}"; else echo "\"pytorch\": null}"; fi
  done
  echo "]"
} | python3 -c '
import json, sys
rows = json.load(sys.stdin)
for r in rows:
    p, q = r["paramkit"], r["pytorch"]
    if q:
        assert p["params"] == q["params"], ("the two networks differ", p["params"], q["params"])
        r["train_step_speedup"] = round(q["train_step_ms"] / p["train_step_ms"], 2)
        r["sampling_speedup"] = round(p["images_per_s"] / q["images_per_s"], 2)
print(json.dumps(rows, indent=1))' | tee bench-out/pfgm.json
