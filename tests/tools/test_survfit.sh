# survfit: every subcommand on veteran/lung, outputs (JSON with provenance, CSV, SVG), determinism,
# and bad inputs (exit 2, a message naming file/column/row, no output).
source "$(dirname "$0")/lib.sh"
V="$DATA/survival/veteran.csv"
L="$DATA/survival/lung.csv"

expect_rc 0 survfit fit "$V" --family weibull --formula "trt + karno" --out w.json --table
expect_out "logLik = -725.7921292"
grep -q '"provenance"' w.json || fail "no provenance in the fit report"
expect_rc 0 survfit fit "$V" --family apgw --lambda "trt + karno" --out apgw.json --plot apgw.svg --plot-by trt
grep -q '<svg' apgw.svg && grep -q 'KM 1' apgw.svg || fail "fit plot missing its curves"
expect_rc 0 survfit fit "$V" --family apgw --lambda "trt + karno" --fix kappa=1 --fix phi=1 --out apgw-k1.json
expect_rc 0 survfit lrt apgw.json apgw-k1.json --out lrt.json
expect_out '"df": 2'
# Multi-parameter regression (PH with karno in the shape) and categorical covariates with a chosen reference.
expect_rc 0 survfit fit "$V" --family weibull-ph --lambda "karno + factor(celltype, ref=squamous)" --gamma karno --out mpr.json --table
expect_out "factor(celltype)smallcell"
expect_rc 0 survfit fit "$V" --family weibull-ph --lambda "celltype" --ref celltype=large --out ref.json
grep -q '"celltypeadeno"' ref.json && ! grep -q '"celltypelarge"' ref.json || fail "--ref did not set the reference level"
# R's 1/2 status coding and NA rows dropped with a count (lung).
expect_rc 0 survfit fit "$L" --family weibull --formula "sex + ph.ecog" --out lung.json
grep -q '"dropped_na": 1' lung.json || fail "lung: NA row not counted"
expect_rc 2 survfit fit "$L" --family weibull --formula "sex + ph.ecog" --na fail --out lung-fail.json
expect_err "column 'ph.ecog', data row 14 (line 15): missing value"
expect_no_file lung-fail.json

# A fit that does not converge says so, exits 1 and writes nothing.
expect_rc 1 survfit fit "$V" --family apgw --lambda "trt + karno" --max-iter 1 --out noconv.json
expect_err "did not converge"
expect_no_file noconv.json
# The parametric fit's concordance is close to the Cox model's for a PH model with the same covariates
# (both rank subjects by a linear predictor in trt and karno; the coefficients differ a little).
expect_rc 0 survfit fit "$V" --family weibull-ph --lambda "trt + karno" --out wph.json
expect_rc 0 survfit cox "$V" --formula "trt + karno" --out cox0.json
c1=$(grep -o '"c": [0-9.]*' wph.json | cut -d' ' -f2)
c2=$(grep -o '"c": [0-9.]*' cox0.json | cut -d' ' -f2)
awk -v a="$c1" -v b="$c2" 'BEGIN { exit !(a > 0.7 && (a - b < 0.002 && b - a < 0.002)) }' || fail "concordance: weibull-ph $c1, cox $c2"

# Kaplan-Meier and Cox.
expect_rc 0 survfit km "$V" --times 100 --out km.json --csv km.csv --plot km.svg --table
expect_out "median = 80"
expect_out "S(100) = 0.417995"
head -1 km.csv | grep -q "group,time,n_risk" || fail "km.csv header"
expect_rc 0 survfit km "$V" --by trt -o km-trt.json
grep -q '"group": "2"' km-trt.json || fail "km --by groups"
expect_rc 0 survfit cox "$V" --formula "trt + karno" --output cox.json --table
expect_out "0.177322"
expect_rc 0 survfit cox "$V" --formula "trt + karno" --ties breslow --out cox-b.json
cmp -s cox.json cox-b.json && fail "Breslow and Efron gave the same report"

# Prediction and simulation.
printf 'id,trt,karno\na,1,30\nb,2,90\n' > new.csv
expect_rc 0 survfit predict --fit w.json new.csv --times 30,100 --quantiles 0.5 --id id --out pred.csv
head -1 pred.csv | grep -q "id,surv_30,hazard_30,cumhaz_30,surv_100,hazard_100,cumhaz_100,q_0.5" || fail "predict header: $(head -1 pred.csv)"
expect_rc 0 survfit simulate --family apgw --set lambda=0.05 --set phi=0.02 --set gamma=1.5 --set kappa=-0.5 --n 500 --admin 400 --seed 3 --out sim1.csv
expect_rc 0 survfit simulate --family apgw --set lambda=0.05 --set phi=0.02 --set gamma=1.5 --set kappa=-0.5 --n 500 --admin 400 --seed 3 --out sim2.csv
cmp sim1.csv sim2.csv || fail "simulation not reproducible"
expect_rc 0 survfit fit sim1.csv --family apgw --out sim-fit.json
grep -q '"cure_fraction"' sim-fit.json || fail "no cure fraction for a defective fit"
expect_rc 2 survfit simulate --family apgw --set lambda=0.05 --set phi=0.02 --set gamma=1.5 --set kappa=-0.5 --n 10 --out nocens.csv
expect_err "cure fraction"
expect_no_file nocens.csv
expect_rc 0 survfit simulate --fit w.json new.csv --n 6 --censor-uniform 500 -o sim-cov.csv
[ "$(wc -l < sim-cov.csv)" -eq 7 ] || fail "simulate data rows"
# The old spellings --data (simulate) and --out still work and give the same bytes.
expect_rc 0 survfit simulate --fit w.json --data new.csv --n 6 --censor-uniform 500 --out sim-cov-old.csv
cmp sim-cov.csv sim-cov-old.csv || fail "simulate --data/--out differ from data/-o"

# Bad inputs: exit 2, the file and the field named, nothing written.
printf 'time,status,x\n5,1,1\n-3,0,2\n' > neg.csv
expect_rc 2 survfit fit neg.csv --formula x --out bad.json
expect_err "neg.csv: column 'time', data row 2"
printf 'time,status,x\n5,1,1\nabc,0,2\n' > nonnum.csv
expect_rc 2 survfit fit nonnum.csv --formula x --out bad.json
expect_err "nonnum.csv"
printf 'time,status,x\n5,1,1\n6,7,2\n' > code.csv
expect_rc 2 survfit fit code.csv --formula x --out bad.json
expect_err "status 7 is outside the coding"
printf 'time,status,x\n5,0,1\n6,0,2\n' > cens.csv
expect_rc 2 survfit km cens.csv --out bad.json
expect_err "every observation is censored"
expect_rc 2 survfit fit "$V" --formula "trt + nosuch" --out bad.json
expect_err "nosuch"
awk -F, 'NR==1{print $0",karno2"; next}{print $0","$5*2}' "$V" > coll.csv
expect_rc 2 survfit fit coll.csv --formula "karno + karno2" --out bad.json
expect_err "covariate 'karno2' of mu"
expect_rc 2 survfit fit "$V" --family nosuch --out bad.json
expect_err "unknown family"
expect_rc 2 survfit fit "$V" --family apgw --fix kappa=-2 --out bad.json
expect_err "outside its range"
expect_rc 2 survfit fit "$V" --family weibull --lambda karno --out bad.json
expect_err "no parameter 'lambda'"
expect_rc 2 survfit predict --fit "$V" new.csv --times 1 --out bad.csv
expect_no_file bad.json
expect_no_file bad.csv

# Non-finite numbers in a numeric CSV column are an input error naming the file, column and line (no
# crash: this input segfaulted every family); NA and empty cells stay missing values.
printf 'time,status,x\n1,1,1\n2,1,inf\n3,0,2\n4,1,3\n5,1,4\n' > inf.csv
for fam in weibull apgw gompertz; do
  expect_rc 2 survfit fit inf.csv --formula x --family $fam --out bad.json
  expect_err "inf.csv: column 'x', data row 2 (line 3): 'inf' is not a finite number"
done
expect_rc 2 survfit cox inf.csv --formula x --out bad.json
expect_err "column 'x', data row 2 (line 3)"
printf 'time,status,karno\n5,1,60\n7,1,nan\n9,0,70\n' > nan.csv
expect_rc 2 survfit fit nan.csv --formula karno --out bad.json
expect_err "column 'karno', data row 2 (line 3): 'nan'"
# A bad time is reported at its own line (a quoted newline and an NA row before it).
printf 'time,status,note\n1,1,"two\nlines"\nNA,1,b\n1e400,0,c\n4,1,d\n' > tbad.csv
expect_rc 2 survfit km tbad.csv --out bad.json
expect_err "column 'time', data row 3 (line 5): '1e400' is not a finite number"
printf 'time,status\n1,1\n2,1\nabc,0\n4,1\n' > tword.csv
expect_rc 2 survfit km tword.csv --out bad.json
expect_err "column 'time', data row 3 (line 4): expected a number, got 'abc'"
printf 'id,trt,karno\na,1,30\nb,2,inf\n' > new-inf.csv
expect_rc 2 survfit predict --fit w.json new-inf.csv --times 30 --out bad.csv
expect_err "new-inf.csv: column 'karno', data row 2 (line 3)"
# Numeric flags: non-finite or out of range -> exit 2 naming the flag, before any work.
expect_rc 2 survfit km "$V" --conf nan --out bad.json
expect_err "--conf"
expect_rc 2 survfit km "$V" --times 100,inf --out bad.json
expect_err "--times"
expect_rc 2 survfit km "$V" --times -1 --out bad.json
expect_err "--times"
expect_rc 2 survfit fit "$V" --event-value nan --out bad.json
expect_err "--event-value"
expect_rc 2 survfit fit "$V" --family apgw --fix kappa=nan --out bad.json
expect_err "--fix kappa"
expect_rc 2 survfit fit "$V" --max-iter 0 --out bad.json
expect_err "--max-iter"
expect_rc 2 survfit predict --fit w.json new.csv --quantiles 1.5 --out bad.csv
expect_err "--quantiles"
expect_rc 2 survfit simulate --family weibull --set mu=1 --set scale=nan --n 10 --out bad.csv
expect_err "--set scale"
expect_rc 2 survfit simulate --family weibull --set mu=1 --set scale=1 --n -5 --out bad.csv
expect_err "--n"
expect_rc 2 survfit simulate --family weibull --set mu=1 --set scale=1 --n 1000000000 --out bad.csv
expect_err "--n"
expect_rc 2 survfit simulate --family weibull --set mu=1 --set scale=1 --n 10 --admin nan --out bad.csv
expect_err "--admin"
# Output paths are checked before the work: nothing is left when one of them cannot be written.
expect_rc 2 survfit fit "$V" --formula karno --out ok.json --plot w.json/p.svg
expect_err "--plot"
expect_no_file ok.json
expect_rc 2 survfit km "$V" --out ok.json --csv w.json/km.csv
expect_err "--csv"
expect_no_file ok.json
# Messages name the flag the user wrote and say "constant" without the intercept a Cox model lacks.
expect_rc 2 survfit fit "$V" --family apgw --formula "log(karno)" --out bad.json
expect_err "--formula: term 'log(karno)'"
awk -F, 'BEGIN{OFS=","} NR==1{print $0,"one"; next} {print $0,1}' "$V" > const.csv
expect_rc 2 survfit cox const.csv --formula "trt + one" --out bad.json
expect_err "covariate 'one' of the Cox model: is constant"
grep -q "Intercept" err && fail "the Cox constant-column message names an intercept: $(cat err)"

# Degenerate inputs end at once (timeout 30 is a guard against hangs, not a timing assertion), with
# the exit code and a message naming the cause.
printf 'time,status,karno\n72,1,60\n' > one.csv
expect_rc 1 timeout 30 survfit fit one.csv --out deg.json
expect_err "the weibull fit has no maximum: the log-likelihood grows without bound"
expect_err "scale runs to 0"
expect_err "the data have one event (t = 72)"
expect_rc 2 timeout 30 survfit fit one.csv --formula karno --out deg.json
expect_err "covariate 'karno' of mu: is constant"
# One event, exponential: the closed form rate = events / total time = 1/72, so mu = log 72.
expect_rc 0 timeout 30 survfit fit one.csv --family exponential --out one-exp.json
python3 -c "import json, math, sys; r = json.load(open('one-exp.json')); sys.exit(abs(r['parameters'][0]['coefficients'][0]['estimate'] - math.log(72)) > 1e-9)" ||
  fail "one-event exponential: mu is not log 72"
printf 'time,status\n5,1\n5,1\n5,1\n5,1\n5,1\n' > tied.csv
for fam in weibull lognormal weibull-ph apgw; do
  expect_rc 1 timeout 30 survfit fit tied.csv --family $fam --out deg.json
  expect_err "every event is at the same time (t = 5)"
done
expect_rc 1 timeout 30 survfit fit tied.csv --family weibull --out deg.json
expect_err "has no maximum"
# Veteran with times x 1e200: the same fits with the location (weibull) or phi (apgw) shifted by
# log 1e200 and the log-likelihood by -events log 1e200 (closed forms of a change of time unit).
awk -F, 'BEGIN{OFS=","} NR==1{print; next} {$3 = $3 "e200"; print}' "$V" > big.csv
expect_rc 0 timeout 30 survfit fit big.csv --family weibull --formula "trt + karno" --out big-w.json
expect_rc 0 timeout 30 survfit fit big.csv --family apgw --lambda "trt + karno" --out big-apgw.json
python3 - w.json big-w.json apgw.json big-apgw.json <<'PY' || fail "fits in another time unit differ"
import json, math, sys
shift = 200 * math.log(10)
def check(a, b, shifted):
    a, b = json.load(open(a)), json.load(open(b))
    assert abs(b["loglik"] - (a["loglik"] - a["events"] * shift)) < 1e-6 * abs(b["loglik"]), (a["loglik"], b["loglik"])
    for pa, pb in zip(a["parameters"], b["parameters"]):
        for ca, cb in zip(pa["coefficients"], pb["coefficients"]):
            want = ca["estimate"] + (shifted.get(pa["name"], 0) if ca["term"] == "(Intercept)" else 0)
            assert abs(cb["estimate"] - want) < 1e-5 * max(1, abs(want)), (pa["name"], ca["term"], cb["estimate"], want)
            assert abs(cb["se"] - ca["se"]) < 1e-4 * ca["se"], (pa["name"], ca["term"], cb["se"], ca["se"])
check(sys.argv[1], sys.argv[2], {"mu": shift})
check(sys.argv[3], sys.argv[4], {"phi": -shift})
PY
expect_rc 1 timeout 30 survfit fit big.csv --family weibull --formula "trt + karno" --max-iter 2 --out deg.json
expect_err "did not converge (not converged after 2 iterations)"
expect_no_file deg.json

# Honest degenerate fits (R: "coefficient may be infinite"): a factor level whose rows are all
# censored, a separating covariate. The fit stands (exit 0) with a warning naming the term and the
# level, "infinite": true on that coefficient and "degenerate": true; the other estimates are R's.
awk -F, 'BEGIN{OFS=","} NR==1{print $0,"grp"; next} {g = "a"; if ((NR - 1) % 10 == 0) {g = "z"; $4 = 0} print $0,g}' "$V" > vcens.csv
expect_rc 0 survfit cox vcens.csv --formula "trt + grp" --out cox-inf.json
expect_err "coefficient of grpz may be infinite"
expect_err "level 'z' of 'grp' has only censored rows"
expect_rc 0 survfit fit vcens.csv --family weibull --formula "trt + grp" --out fit-inf.json --table
expect_err "coefficient mu:grpz may be infinite"
expect_err "level 'z' of 'grp' has no events"
expect_out "* may be infinite"
printf 'time,status,x,z\n1,1,1,0.5\n2,1,1,-1\n3,1,1,2\n4,1,1,0.3\n5,1,0,1.5\n6,1,0,-0.2\n7,0,0,0.7\n8,1,0,1\n' > sep.csv
expect_rc 0 survfit cox sep.csv --formula "x + z" --out cox-sep.json
expect_err "coefficient of x may be infinite"
# Golden numbers from R 4.2.2 / survival 3.5-3 (the data above; veteran.csv read with read.csv):
#   v2 <- veteran; v2$grp <- factor(ifelse(seq_len(nrow(v2)) %% 10 == 0, "z", "a")); v2$status[v2$grp == "z"] <- 0
#   coef(coxph(Surv(time, status) ~ trt + grp, v2))   # trt 0.0763320615756721 (warns: variable 2 may be infinite)
#   survreg(Surv(time, status) ~ trt + grp, v2)       # (Intercept) 4.86594003516086, trt -0.0405679742890408,
#                                                     # scale 1.12505030646682, loglik -683.839584936652
#   coef(coxph(Surv(time, status) ~ x + z, d))        # z -0.121618502221996 (warns: variable 1 may be infinite)
python3 - <<'PY' || fail "degenerate fits: flags or R's numbers"
import json
def coef(rows, term, key):
    return next(r for r in rows if r["term"] == term)[key]
c = json.load(open("cox-inf.json"))
assert c["degenerate"] and len(c["warnings"]) == 1
assert coef(c["coefficients"], "grpz", "infinite") and not coef(c["coefficients"], "trt", "infinite")
assert abs(coef(c["coefficients"], "trt", "coef") - 0.0763320615756721) < 1e-6
f = json.load(open("fit-inf.json"))
mu = f["parameters"][0]["coefficients"]
assert f["degenerate"] and coef(mu, "grpz", "infinite") and not coef(mu, "trt", "infinite")
assert abs(coef(mu, "(Intercept)", "estimate") - 4.86594003516086) < 1e-5
assert abs(coef(mu, "trt", "estimate") + 0.0405679742890408) < 1e-5
assert abs(f["survreg"]["scale"] - 1.12505030646682) < 1e-5
assert abs(f["loglik"] + 683.839584936652) < 1e-6
s = json.load(open("cox-sep.json"))
assert coef(s["coefficients"], "x", "infinite") and not coef(s["coefficients"], "z", "infinite")
assert abs(coef(s["coefficients"], "z", "coef") + 0.121618502221996) < 1e-6
w = json.load(open("w.json"))
assert w["degenerate"] is False and w["warnings"] == [] and not any(r["infinite"] for r in w["parameters"][0]["coefficients"])
PY
# A cure model whose likelihood is largest at the edge of the APGW family (kappa -> -1, lambda ->
# infinity; 21 events in 500): flagged, with the (finite) cure fraction of the limit.
grep -q '"degenerate": true' sim-fit.json || fail "sim1: the edge of the family is not flagged"

# Kaplan-Meier at given times: standard errors and CIs as R's summary(survfit, times=):
#   summary(survfit(Surv(time, status) ~ trt, veteran), times = c(0.5, 100, 200))
#   trt=1, t=100: n.risk 34, surv 0.50198084348829, std.err 0.0606397567872004, 0.396151403661802 - 0.636081974972219
#   trt=2, t=200: n.risk 13, surv 0.216220588235294, std.err 0.0516519504088463, 0.135380897575893 - 0.345331901427292
#   t = 0.5: surv 1, std.err 0, CI 1 - 1
expect_rc 0 survfit km "$V" --by trt --times 0.5,100,200 --out km-at.json --table
expect_out "S(100) = 0.501981 (se 0.06064, 95% CI 0.39615 - 0.63608; 34 at risk)"
python3 - <<'PY' || fail "km --times: R's summary(survfit, times=)"
import json
r = json.load(open("km-at.json"))
a1, a2 = r["curves"][0]["at"], r["curves"][1]["at"]
def close(x, y): return abs(x - y) < 1e-12
assert a1[0] == {"time": 0.5, "n_risk": 69, "surv": 1, "std_err": 0, "lower": 1, "upper": 1}
assert a1[1]["n_risk"] == 34 and close(a1[1]["surv"], 0.50198084348829) and close(a1[1]["std_err"], 0.0606397567872004)
assert close(a1[1]["lower"], 0.396151403661802) and close(a1[1]["upper"], 0.636081974972219)
assert a2[2]["n_risk"] == 13 and close(a2[2]["surv"], 0.216220588235294) and close(a2[2]["std_err"], 0.0516519504088463)
assert close(a2[2]["lower"], 0.135380897575893) and close(a2[2]["upper"], 0.345331901427292)
PY

# Interactions a:b and a*b (R's terms, column names and order), against R 4.2.2 / survival 3.5-3 on
# veteran.csv read with read.csv(stringsAsFactors = TRUE):
#   survreg(Surv(time, status) ~ trt * karno, dist = "weibull")
#   coxph(Surv(time, status) ~ karno * celltype)
#   survreg(Surv(time, status) ~ celltype * factor(prior) + age, dist = "lognormal")
#   survreg(Surv(time, status) ~ karno + trt + age + trt:age + karno:trt, dist = "weibull")
#   coxph(Surv(time, status) ~ trt * karno * age)
expect_rc 0 survfit fit "$V" --formula "trt * karno" --out int-w.json
expect_rc 0 survfit cox "$V" --formula "karno * celltype" --out int-cox.json
expect_rc 0 survfit fit "$V" --family lognormal --formula "celltype * factor(prior) + age" --out int-ln.json
expect_rc 0 survfit fit "$V" --formula "karno + trt + age + trt:age + karno:trt" --out int-w2.json
expect_rc 0 survfit cox "$V" --formula "trt * karno * age" --out int-cox3.json
printf 'trt,karno\n1,40\n2,80\n' > int-new.csv
expect_rc 0 survfit predict --fit int-w.json int-new.csv --times 100 --out int-pred.csv
python3 - <<'PY' || fail "interactions: R's coefficients, names and order"
import csv, json, math
def fit_coefs(path):
    r = json.load(open(path))
    rows = r["parameters"][0]["coefficients"] if "parameters" in r else r["coefficients"]
    return [(c["term"], c.get("estimate", c.get("coef"))) for c in rows], r
def check(path, want, rel, loglik=None):
    got, r = fit_coefs(path)
    assert [t for t, _ in got] == [t for t, _ in want], (path, [t for t, _ in got])
    for (t, g), (_, w) in zip(got, want):
        assert abs(g - w) <= rel * max(abs(w), 1e-3), (path, t, g, w)
    if loglik is not None:
        assert abs(r["loglik"] - loglik) < 1e-6, (path, r["loglik"], loglik)
    return r
w = check("int-w.json", [("(Intercept)", 4.41231391722266), ("trt", -1.09512405786772), ("karno", 0.00761401203709838),
                        ("trt:karno", 0.0168321431325196)], 1e-6, -724.332695557179)
assert abs(w["survreg"]["scale"] - 1.00032242908955) < 1e-6
check("int-cox.json", [("karno", -0.0293002659065954), ("celltypelarge", -0.142427150126385), ("celltypesmallcell", -0.942406148856883),
                       ("celltypesquamous", -0.402922886607111), ("karno:celltypelarge", -0.0111166230113226),
                       ("karno:celltypesmallcell", 0.00945544073650441), ("karno:celltypesquamous", -0.0133016966601892)], 1e-6, -474.253957030631)
check("int-ln.json", [("(Intercept)", 3.4633143105518), ("celltypelarge", 1.03079607482549), ("celltypesmallcell", -0.138057478432514),
                      ("celltypesquamous", 0.743532319972649), ("factor(prior)10", -0.632466803506737), ("age", 0.00731511109282704),
                      ("celltypelarge:factor(prior)10", 0.350849656163029), ("celltypesmallcell:factor(prior)10", 0.522688083957104),
                      ("celltypesquamous:factor(prior)10", 0.362680309140942)], 1e-6, -740.557228582583)
check("int-w2.json", [("(Intercept)", 4.88042614442562), ("karno", 0.00656014753001249), ("trt", -1.43227572713769), ("age", -0.00697798162993676),
                      ("trt:age", 0.00500529686931409), ("karno:trt", 0.0175749207192658)], 1e-6, -724.293976002823)
check("int-cox3.json", [("trt", 1.47352613367977), ("karno", -0.0383713727215473), ("age", -0.0489261990422424), ("trt:karno", -0.0347808434226528),
                        ("trt:age", -0.00170256056752326), ("karno:age", 0.000593972308262925), ("trt:karno:age", 0.000237161470552376)],
      1e-6, -480.616067607233)
# predict reads the interaction back: S(100) = exp(-(100 / e^lp)^(1 / scale)), lp with the product trt * karno.
b = dict(fit_coefs("int-w.json")[0])
rows = list(csv.DictReader(open("int-pred.csv")))
for row, (trt, karno) in zip(rows, [(1, 40), (2, 80)]):
    lp = b["(Intercept)"] + b["trt"] * trt + b["karno"] * karno + b["trt:karno"] * trt * karno
    want = math.exp(-(100 / math.exp(lp)) ** (1 / w["survreg"]["scale"]))
    assert abs(float(row["surv_100"]) - want) < 1e-12, (row, want)
PY
expect_rc 2 survfit fit "$V" --formula "trt:karno" --out bad.json
expect_err "--formula: the interaction trt:karno needs the main effect of 'trt'"
expect_rc 2 survfit fit "$V" --formula "trt + karno + age + trt:karno:age" --out bad.json
expect_err "needs karno:age"
expect_rc 2 survfit fit "$V" --family apgw --gamma "trt*karno:age" --out bad.json
expect_err "--gamma: 'trt*karno:age' mixes * and :"
expect_no_file bad.json

# One SIGTERM ends a long job with exit 130 and no output: a fit, Kaplan-Meier and a simulation on
# large data. Guards: the job is still running when the signal is sent, and it ends within 10 s.
survfit simulate --family apgw --set lambda=0.05 --set phi=0.02 --set gamma=1.5 --set kappa=0.5 --n 1000000 --admin 400 -q --out large.csv
sigterm_ends 3 large-fit.json survfit fit large.csv --family apgw --out large-fit.json
sigterm_ends 1 large-km.json survfit km large.csv --out large-km.json
sigterm_ends 1 large-sim.csv survfit simulate --family weibull --set mu=1 --set scale=1 --n 20000000 --out large-sim.csv
rm -f large.csv
# Strata and (start, stop] counting-process rows in Cox, through the CLI (the library's numbers are
# checked against R in test_survival.cpp; here the flags, the report and the messages).
H="$DATA/survival/heart.csv"
expect_rc 0 survfit cox "$H" --entry start --time stop --status event --formula "age + transplant + strata(surgery)" --out heart.json --table
expect_out "2 strata: surgery=0 (n 143, 66 events); surgery=1 (n 29, 9 events)"  # R: table(heart$surgery), tapply(heart$event, heart$surgery, sum)
python3 - <<'PY' || fail "cox strata + (start, stop]: the report"
import json
r = json.load(open("heart.json"))
assert r["counting"] is True and r["strata"]["columns"] == ["surgery"], r["strata"]
assert [s["name"] for s in r["strata"]["levels"]] == ["surgery=0", "surgery=1"]
# R: coxph(Surv(start, stop, event) ~ age + transplant + strata(surgery), heart)
want = {"age": 0.0303086511638514, "transplant": 0.00397922448698864}
for c in r["coefficients"]:
    assert abs(c["coef"] - want[c["term"]]) < 1e-6 * max(abs(want[c["term"]]), 1e-3), c
assert abs(r["loglik"] - -267.621643043127) < 1e-7 and abs(r["concordance"]["c"] - 0.572459499263623) < 1e-9
PY
expect_rc 0 survfit cox "$V" --formula "trt + karno" --out v-nostrata.json
grep -q '"strata": null' v-nostrata.json && grep -q '"counting": false' v-nostrata.json || fail "cox without strata: strata null, counting false"
expect_rc 2 survfit fit "$V" --formula "trt + strata(celltype)" --out bad.json
expect_err "--formula: strata() is for Cox models"
expect_no_file bad.json
expect_rc 2 survfit cox "$V" --formula "trt * strata(celltype)" --out bad.json
expect_err "cannot be part of an interaction"
expect_rc 2 survfit cox "$H" --entry stop --time start --status event --formula "age" --out bad.json
expect_err "entry time"
expect_rc 2 survfit km "$H" --entry start --time stop --status event --out bad.json
expect_err "--entry: the Kaplan-Meier estimate here does not take entry times"
expect_no_file bad.json

expect_no_temps .
echo "test_survfit: ok"
