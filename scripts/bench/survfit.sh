#!/usr/bin/env bash
# Benchmark: survfit fits at 10^4, 10^5 and 10^6 rows on data simulated by R (x1..x10 ~ N(0,1),
# log T = 1 + 0.1 (x1 + ... + x10) + 0.8 W, uniform censoring), in one run:
#  - Weibull AFT with the 10 covariates, survfit vs R's survreg (the baseline) on the same CSV: fit time
#    (inside each program, after reading), total wall time of each program (start, read, fit, write),
#    and the largest coefficient difference between the two;
#  - APGW with the 10 covariates on lambda (PH) and the multi-parameter APGW (MPR: x1 + x2 + x3 also on
#    gamma): fit time (wall and CPU), Newton iterations of the chosen run and of all starts, logLik.
#    Above 200000 rows the starts run on a subsample and one run on all rows finishes; there the fit
#    is repeated with --start-rows 0 (every start on all rows, as before) and the largest coefficient
#    difference between the two is reported.
# Prints JSON, also saved to bench-out/survfit.json. Usage: scripts/bench/survfit.sh [SIZES...]
# (at 10^6 rows the all-rows APGW and MPR fits take minutes each). SKIP_BUILD=1 skips the build (when
# build/bin/survfit is built already).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -gt 0 ] && sizes=("$@") || sizes=(10000 100000 1000000)
./scripts/setup-deps.sh build bench r
[ -n "${SKIP_BUILD:-}" ] || ./scripts/build.sh --target survfit >/dev/null
bin=$PWD/build/bin
dir=$PWD/bench-out/survfit
mkdir -p "$dir"
now() { date +%s.%N; }
formula="x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10"
# fit NAME CSV ARGS...: a survfit fit with its report and metrics under $dir/NAME.*, CPU seconds in NAME.cpu.
fit() {
  local name=$1 csv=$2; shift 2
  /usr/bin/time -f "%U %S" -o "$dir/$name.cpu" "$bin/survfit" fit "$csv" "$@" --out "$dir/$name.json" --metrics "$dir/$name.metrics.json" -q
}
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
    cat(sprintf('%.6f\n', tm)); cat(sprintf('%.12g\n', c(coef(f), f\$scale)), sep = ''); cat(sprintf('%d\n', f\$iter))" > "$dir/r-$n.txt"
  t1=$(now)
  fit "survfit-$n" "$csv" --family weibull --formula "$formula"
  t2=$(now)
  printf '{"r_total_s": %.3f, "survfit_total_s": %.3f}\n' "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" > "$dir/totals-$n.json"
  fit "apgw-$n" "$csv" --family apgw --lambda "$formula"
  fit "mpr-$n" "$csv" --family apgw --lambda "$formula" --gamma "x1 + x2 + x3"
  if [ "$n" -gt 200000 ]; then
    fit "apgw-all-$n" "$csv" --family apgw --lambda "$formula" --start-rows 0
    fit "mpr-all-$n" "$csv" --family apgw --lambda "$formula" --gamma "x1 + x2 + x3" --start-rows 0
  fi
done
python3 - "$dir" "$(nproc)" "${sizes[@]}" <<'PY' | tee bench-out/survfit.json
import json, os, sys
d, threads, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(name):
    return json.load(open(os.path.join(d, name)))
def coefs(report):
    return [c["estimate"] for p in report["parameters"] for c in p.get("coefficients", [])]
def fit_entry(name):
    r, m = load(name + ".json"), load(name + ".metrics.json")
    user, sys_ = (float(x) for x in open(os.path.join(d, name + ".cpu")).read().split())
    return {"fit_s": round(m["results"]["fit_s"], 3), "cpu_s": round(user + sys_, 2), "iterations": r["iterations"],
            "iterations_all_starts": r["iterations_all_starts"], "loglik": r["loglik"], "start": r["start"]}
out = {"benchmark": "survfit: Weibull AFT vs R survreg, APGW (PH) and MPR APGW, 10 covariates", "threads": threads}
for n in sizes:
    r = open(os.path.join(d, "r-%s.txt" % n)).read().split()
    ours = load("survfit-%s.json" % n)
    mine = [c["estimate"] for c in ours["parameters"][0]["coefficients"]] + [ours["survreg"]["scale"]]
    row = {"weibull": {"r_fit_s": float(r[0]), "r_iterations": int(r[-1]), "survfit_fit_s": round(load("survfit-%s.metrics.json" % n)["results"]["fit_s"], 3),
                       "survfit_iterations": ours["iterations"], **load("totals-%s.json" % n),
                       "max_coef_difference": float("%.3g" % max(abs(float(a) - b) for a, b in zip(r[1:-1], mine)))}}
    for kind in ("apgw", "mpr"):
        row[kind] = fit_entry("%s-%s" % (kind, n))
        all_name = "%s-all-%s" % (kind, n)
        if os.path.exists(os.path.join(d, all_name + ".json")):
            row[kind + "_all_starts_on_all_rows"] = fit_entry(all_name)
            row[kind]["max_coef_difference_vs_all_rows"] = float("%.3g" % max(
                abs(a - b) for a, b in zip(coefs(load("%s-%s.json" % (kind, n))), coefs(load(all_name + ".json")))))
    out[n] = row
print(json.dumps(out, indent=1))
PY
