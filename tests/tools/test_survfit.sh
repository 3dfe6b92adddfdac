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
expect_err "column 'ph.ecog', data row 14: missing value"
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
expect_no_temps .
echo "test_survfit: ok"
