#!/usr/bin/env bash
# Benchmark of cl-eval: the time per task of each algorithm against finetune in the same session (the
# overhead of regularisers, distillation and replay), on Split-MNIST's D_HT (5 tasks x 2 classes, about
# 6,000 training images per task), MLP 784-256-256, 1 epoch, batch 32, memory 200, one thread; wall time
# of each `cl-eval run` process (data loading included, measured once for finetune with --tasks 1 and
# subtracted). THREADS (default 1). Prints JSON, also saved to bench-out/cl.json. NO_BUILD=1 skips the
# build. The full two-phase study's wall time on 2 cores is `time make -C examples -j 2 cl-split`.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target cl-eval >/dev/null
[ -f data/mnist/train-images-idx3-ubyte ] || ./scripts/fetch-data.sh >/dev/null
mkdir -p bench-out
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
T=${THREADS:-1}
d=(--train-images data/mnist/train-images-idx3-ubyte --train-labels data/mnist/train-labels-idx1-ubyte
   --test-images data/mnist/t10k-images-idx3-ubyte --test-labels data/mnist/t10k-labels-idx1-ubyte
   --hidden 256,256 --memory 200 --epochs 1 --batch-size 32 --part ht)
now() { date +%s.%N; }
: > "$work/times"
for a in finetune joint ewc lwf replay icarl wa der derpp; do
  s=$(now); build/bin/cl-eval --threads "$T" run -q "${d[@]}" --algorithm "$a" -o "$work/$a.json"; e=$(now)
  echo "$a $(python3 -c "print($e - $s)")" >> "$work/times"
done
s=$(now); build/bin/cl-eval --threads "$T" run -q "${d[@]}" --algorithm finetune --tasks 1 --classes-per-task 1 -o "$work/load.json"; e=$(now)
python3 - "$work" "$(python3 -c "print($e - $s)")" "$T" <<'PY' | tee bench-out/cl.json
import json, sys
work, base, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
times = dict((a, float(t)) for a, t in (l.split() for l in open(work + "/times")))
ft = (times["finetune"] - base) / 5
rows = []
for a, t in times.items():
    r = json.load(open(f"{work}/{a}.json"))
    per_task = (t - base) / 5
    rows.append({"algorithm": a, "wall_s": round(t, 2), "per_task_s": round(per_task, 3), "vs_finetune": round(per_task / ft, 2),
                 "final": round(r["metrics"]["final"], 4), "forgetting": round(r["metrics"]["forgetting"], 4)})
print(json.dumps({"threads": threads, "startup_and_one_small_task_s": round(base, 2), "algorithms": rows}, indent=1))
PY
