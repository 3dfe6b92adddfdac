#!/usr/bin/env bash
# Benchmark of holobeam-sim's Monte Carlo: trials per second per algorithm (16 x 16 HMT, sigma 0.05,
# budget 2048) on 1 and 2 threads, and the scaling from 1 to 2 (the results are identical for both:
# per-trial seeds). TRIALS (default 2000). Prints JSON, also saved to bench-out/holobeam.json.
# NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target holobeam-sim >/dev/null
mkdir -p bench-out
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
N=${TRIALS:-2000}
{
  echo "["
  first=1
  for alg in holobeam uniform sr sh sr-1d sh-1d ucbe exhaustive; do
    for th in 1 2; do
      build/bin/holobeam-sim simulate -q --n1 16 --n2 16 --sigma 0.05 --budget 2048 --trials "$N" --algorithms "$alg" --threads "$th" \
        -o "$work/$alg-$th.json" --metrics "$work/$alg-$th-m.json"
    done
    [ $first = 1 ] || echo ","
    first=0
    python3 - "$work" "$alg" "$N" <<'PY'
import json, sys
work, alg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = {th: json.load(open(f"{work}/{alg}-{th}-m.json"))["timings"]["monte_carlo"] for th in (1, 2)}
r1, r2 = json.load(open(f"{work}/{alg}-1.json"))["results"], json.load(open(f"{work}/{alg}-2.json"))["results"]
assert r1 == r2, "thread count changed the results"
print(json.dumps({"algorithm": alg, "trials": n, "trials_per_s_1_thread": round(n / t[1]), "trials_per_s_2_threads": round(n / t[2]),
                  "scaling_1_to_2": round(t[1] / t[2], 2), "p_error": r1[0]["p_error"]}))
PY
  done
  echo "]"
} | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=1))' | tee bench-out/holobeam.json
