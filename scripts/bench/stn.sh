#!/usr/bin/env bash
# Benchmark of stn-tune on MNIST (the first 12,000 training images: 10,000 train, 2,000 validation; the
# 10,000 test images), MLP 784-256-256-10, dropout.in/1/2 from 0.05, batch 128:
#  - the cost of a Self-Tuning Network run of E epochs against one plain training run of the same E
#    epochs (retrain at the initial values), wall time in the same session (goal: at most 1.5x);
#  - the wall time each method needs to reach validation accuracy TARGET: STN (per-epoch validation at
#    the current h) and random search (K configurations of E epochs, one after another, best so far).
# EPOCHS (default 5), K (default 4), TARGET (default 0.97), THREADS (default 1). Prints JSON, also saved
# to bench-out/stn.json. NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target stn-tune >/dev/null
[ -f data/mnist/train-images-idx3-ubyte ] || ./scripts/fetch-data.sh >/dev/null
mkdir -p bench-out
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
E=${EPOCHS:-5} K=${K:-4} TARGET=${TARGET:-0.97} T=${THREADS:-1}
bin="$PWD/build/bin/stn-tune"
d=(--train-images data/mnist/train-images-idx3-ubyte --train-labels data/mnist/train-labels-idx1-ubyte --train-limit 12000
   --test-images data/mnist/t10k-images-idx3-ubyte --test-labels data/mnist/t10k-labels-idx1-ubyte --valid-fraction 0.1666667)
now() { date +%s.%N; }
t0=$(now); "$bin" --threads "$T" tune -q "${d[@]}" --hyper dropout.in --hyper dropout.1 --hyper dropout.2 --epochs "$E" -o "$work/stn.json"; t1=$(now)
"$bin" --threads "$T" retrain -q "${d[@]}" --hyper dropout.in=0.05 --hyper dropout.1=0.05 --hyper dropout.2=0.05 --epochs "$E" -o "$work/plain.json"; t2=$(now)
: > "$work/random.txt"
i=0
while read -r a b c; do
  s=$(now)
  "$bin" --threads "$T" retrain -q "${d[@]}" --hyper dropout.in="$a" --hyper dropout.1="$b" --hyper dropout.2="$c" --epochs "$E" -o "$work/r$i.json"
  echo "$work/r$i.json $(python3 -c "print($(now) - $s)")" >> "$work/random.txt"
  i=$((i + 1))
done < <(python3 -c "
import random; random.seed(0)
for _ in range($K): print(*(round(random.uniform(0, 0.8), 4) for _ in range(3)))")
python3 - "$work" "$t0" "$t1" "$t2" "$E" "$K" "$TARGET" "$T" <<'PY' | tee bench-out/stn.json
import json, sys
work, t0, t1, t2, E, K, target, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
stn, plain = json.load(open(work + "/stn.json")), json.load(open(work + "/plain.json"))
wall_stn, wall_plain = t1 - t0, t2 - t1
reach_stn = None
for r in stn["epoch_records"]:
    if r["val_accuracy"] >= target:
        reach_stn = wall_stn * r["units"] / stn["units"]
        break
spent, best, reach_random, runs = 0.0, 0.0, None, []
for line in open(work + "/random.txt"):
    path, secs = line.split()
    rep = json.load(open(path))
    spent += float(secs)
    best = max(best, rep["val_accuracy"])
    runs.append({"values": rep["values"], "val_accuracy": rep["val_accuracy"], "test_accuracy": rep["test_accuracy"], "wall_s": round(float(secs), 2)})
    if reach_random is None and best >= target:
        reach_random = spent
out = {"threads": threads, "epochs": E, "target_val_accuracy": target,
       "stn": {"wall_s": round(wall_stn, 2), "units": stn["units"], "epochs_spent": stn["epochs_spent"], "val_accuracy": stn["val_accuracy"],
               "test_accuracy": stn["test_accuracy"], "final": stn["final"], "reach_target_s": reach_stn and round(reach_stn, 2)},
       "plain": {"wall_s": round(wall_plain, 2), "val_accuracy": plain["val_accuracy"], "test_accuracy": plain["test_accuracy"]},
       "stn_vs_plain": round(wall_stn / wall_plain, 2),
       "random": {"configs": K, "wall_s": round(spent, 2), "best_val_accuracy": best, "reach_target_s": reach_random and round(reach_random, 2), "runs": runs}}
print(json.dumps(out, indent=1))
PY
