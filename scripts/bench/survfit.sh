#!/usr/bin/env bash
# Benchmark: Weibull AFT with 10 covariates, survfit vs R's survreg on the same CSV, at 10^4, 10^5 and
# 10^6 rows (data simulated by R: x1..x10 ~ N(0,1), log T = 1 + 0.1 (x1 + ... + x10) + 0.8 W, uniform
# censoring). Per size: fit time (inside each program, after reading), total wall time of each
# program (start, read, fit, write), and the largest coefficient difference between the two.
# Prints JSON, also saved to bench-out/survfit.json. Usage: scripts/bench/survfit.sh [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -gt 0 ] && sizes=("$@") || sizes=(10000 100000 1000000)
./scripts/setup-deps.sh build bench r
./scripts/build.sh --target survfit >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/survfit
mkdir -p "$dir"
now() { date +%s.%N; }
formula="x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10"
rows=()
for n in "${sizes[@]}"; do
  csv=$dir/weibull-$n.csv
  if [ ! -f "$csv" ]; then
    Rscript -e "set.seed(1); n <- $n; x <- matrix(rnorm(n * 10), n); colnames(x) <- paste0('x', 1:10)
    t <- exp(1 + 0.1 * rowSums(x) + 0.8 * log(rexp(n))); c <- runif(n, 0, quantile(t, 0.9) * 2)
    d <- data.frame(time = pmin(t, c), status = as.integer(t <= c), x)
    write.csv(d, '$csv.part', row.names = FALSE)"
    mv "$csv.part" "$csv"
  fi
  cat "$csv" > /dev/null
  t0=$(now)
  Rscript -e "suppressMessages(library(survival)); d <- read.csv('$csv')
    tm <- system.time(f <- survreg(Surv(time, status) ~ $formula, data = d, dist = 'weibull'))[['elapsed']]
    cat(sprintf('%.6f\n', tm)); cat(sprintf('%.12g\n', c(coef(f), f\$scale)), sep = '')" > "$dir/r-$n.txt"
  t1=$(now)
  "$bin/survfit" fit "$csv" --family weibull --formula "$formula" --out "$dir/survfit-$n.json" --metrics "$dir/metrics-$n.json" -q
  t2=$(now)
  r_fit=$(head -1 "$dir/r-$n.txt")
  s_fit=$(grep -o '"fit_s": [0-9.e+-]*' "$dir/metrics-$n.json" | cut -d' ' -f2)
  maxdiff=$(python3 - "$dir/r-$n.txt" "$dir/survfit-$n.json" <<'PY'
import json, sys
r = [float(x) for x in open(sys.argv[1]).read().split()[1:]]
f = json.load(open(sys.argv[2]))
ours = [c["estimate"] for c in f["parameters"][0]["coefficients"]] + [f["survreg"]["scale"]]
print("%.3g" % max(abs(a - b) for a, b in zip(r, ours)))
PY
)
  rows+=("\"$n\": {\"r_fit_s\": $r_fit, \"survfit_fit_s\": $s_fit, \"r_total_s\": $(echo "$t1 - $t0" | bc -l), \"survfit_total_s\": $(echo "$t2 - $t1" | bc -l), \"max_coef_difference\": $maxdiff}")
done
json=$(printf '{"benchmark": "survfit weibull AFT, 10 covariates, vs R survreg", "threads": %s,\n %s}\n' "$(nproc)" "$(IFS=,; echo "${rows[*]}" | sed 's/},"/},\n "/g')")
echo "$json" | tee bench-out/survfit.json
