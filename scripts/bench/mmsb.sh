#!/usr/bin/env bash
# Benchmarks of mmsb-fit:
#  - exact W2 between two sets of N points in 2-D (N = 1,000 and 5,000; Gaussian clouds, seeded) by
#    paramkit's ot::w2 (LEMON's network simplex) against SciPy's linear_sum_assignment (Debian
#    python3-scipy) on the same points in the same run: the same value, and the wall time of each;
#  - a full Lotka-Volterra fit (5 training snapshots x 1,000 particles, held-out odd times, 10 rounds, 10
#    IPF iterations, fit dt 0.05) with its wall time split per stage (--metrics timings).
# SIZES (default "1000 5000"), SKIP_FIT=1 skips the fit. Prints JSON, also saved to bench-out/mmsb.json.
# NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-ot mmsb-fit >/dev/null
mkdir -p bench-out
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo '{"w2": ['
  first=1
  for n in ${SIZES:-1000 5000}; do
    [ $first = 1 ] || echo ","
    first=0
    /usr/bin/python3 - "$work" "$n" <<'PY' > "$work/scipy.json"
import json, sys, time
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
work, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(n)
x = rng.normal(size=(n, 2)); y = rng.normal(size=(n, 2)) * 1.5 + 0.5
x.astype("<f8").tofile(f"{work}/x.bin"); y.astype("<f8").tofile(f"{work}/y.bin")
t0 = time.perf_counter()
c = cdist(x, y, "sqeuclidean"); r, k = linear_sum_assignment(c)
w = float(np.sqrt(c[r, k].mean()))
print(json.dumps({"w2": w, "seconds": round(time.perf_counter() - t0, 3)}))
PY
    ours=$(build/bin/bench-ot "$work/x.bin" "$work/y.bin" "$n" "$n" 2)
    echo "{\"n\": $n, \"paramkit\": $ours, \"scipy\": $(cat "$work/scipy.json")}"
  done
  echo '],'
  if [ "${SKIP_FIT:-0}" = 1 ]; then
    echo '"fit": null}'
  else
    build/bin/mmsb-fit simulate -q --system lv --params 1,0.4,0.1,0.4 --x0 5,2 --times 0,1,2,3,4,5,6,7,8 -n 1000 -o "$work/lv.csv"
    s=$(date +%s.%N)
    build/bin/mmsb-fit fit -q --data "$work/lv.csv" --holdout 1,3,5,7 --reference lv --rounds 10 --tolerance 0 --ipf-iterations 10 --dt 0.05 \
      --threads 2 --truth 1,0.4,0.1,0.4 -o "$work/fit" --metrics "$work/metrics.json"
    e=$(date +%s.%N)
    echo "\"fit\": {\"wall_s\": $(echo "$e - $s" | bc), \"metrics\": $(cat "$work/metrics.json"), \"max_relative_error\": $(python3 -c "import json; print(json.load(open('$work/fit/report.json'))['max_relative_error'])")}}"
  fi
} | python3 -c '
import json, sys
r = json.load(sys.stdin)
for row in r["w2"]:
    assert abs(row["paramkit"]["w2"] - row["scipy"]["w2"]) < 1e-9 * max(1, row["scipy"]["w2"]), row
    row["speedup_vs_scipy"] = round(row["scipy"]["seconds"] / max(row["paramkit"]["seconds"], 1e-9), 2)
print(json.dumps(r, indent=1))' | tee bench-out/mmsb.json
