# mmsb-fit: simulate -> fit (Lotka-Volterra reference and the Brownian baseline) -> evaluate -> plot on a
# small LV data set, the other reference classes, exact resume and determinism, and bad inputs (exit 2
# naming the field, nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
expect_rc 0 mmsb-fit simulate -q --system lv --params 1,0.4,0.1,0.4 --x0 5,2 --times 0,1,2,3,4,5,6,7,8 -n 150 --seed 3 -o lv.csv
common=(--data lv.csv --holdout 1,3,5,7 --ipf-iterations 4 --dt 0.05 --threads 1 -q)
expect_rc 0 mmsb-fit fit "${common[@]}" --reference lv --rounds 3 --tolerance 0 --truth 1,0.4,0.1,0.4 -o fit-lv
expect_rc 0 mmsb-fit fit "${common[@]}" --reference brownian --rounds 5 -o fit-bm
expect_rc 0 mmsb-fit evaluate -q fit-lv --data lv.csv -o ev.json
expect_rc 0 mmsb-fit plot -q fit-lv --data lv.csv --trajectories paths.svg --field field.svg --rounds rounds.svg --compare fit-bm
for f in paths.svg field.svg rounds.svg; do grep -q "<svg" $f || fail "$f"; done
python3 - <<'PY' || fail "reports"
import json, csv
r = json.load(open("fit-lv/report.json")); b = json.load(open("fit-bm/report.json")); e = json.load(open("ev.json"))
assert r["times"] == [0, 2, 4, 6, 8] and r["heldout_times"] == [1, 3, 5, 7] and r["names"] == ["alpha", "beta", "delta", "gamma"], r
assert len(r["rounds"]) == 3 and all(len(x["heldout_w2"]) == 4 for x in r["rounds"]), r["rounds"]
assert r["rounds"][0]["theta"] == [0.5, 0.5, 0.5, 0.5] and r["rounds"][1]["theta"] == r["rounds"][0]["theta_next"]
# From the default start (relative error 4) the reference moves towards the truth and the held-out W2 falls.
errs = [x["max_relative_error"] for x in r["rounds"]]
assert errs[-1] < errs[0] and r["max_relative_error"] < errs[-1], errs
assert r["rounds"][-1]["mean_w2"] < r["rounds"][0]["mean_w2"], [x["mean_w2"] for x in r["rounds"]]
assert b["reference"] == "brownian" and len(b["rounds"]) == 1 and b["theta"] == [] and b["rounds"][0]["mean_w2"] > 0
assert [p["t"] for p in e["per_time"]] == [1, 2, 3, 4, 5, 6, 7, 8] and e["theta"] == r["theta"]
rows = list(csv.DictReader(open("fit-lv/trajectories.csv")))
ts = sorted({float(x["t"]) for x in rows})
assert ts[0] == 0 and ts[-1] == 8 and len(ts) == 161, (ts[0], ts[-1], len(ts))   # dt 0.05 over [0, 8]
assert len(list(csv.DictReader(open("fit-lv/field.csv")))) == 441
PY

# Other reference classes run on their own systems.
expect_rc 0 mmsb-fit simulate -q --system repressilator --params 10,3,1,1 --x0 1,2,3 --times 0,1,2 -n 80 -o rep.csv
expect_rc 0 mmsb-fit fit -q --data rep.csv --reference repressilator --rounds 1 --ipf-iterations 2 --dt 0.05 --fit-iters 200 -o fit-rep
expect_rc 0 mmsb-fit simulate -q --system linear --params -1,0.5,-0.5,-1,0,0 --x0 2,2 --times 0,0.5,1 -n 80 -o ou.csv
expect_rc 0 mmsb-fit fit -q --data ou.csv --reference linear --rounds 2 --ipf-iterations 2 --regressor gp -o fit-ou
expect_rc 0 mmsb-fit fit -q --data ou.csv --reference spring --rounds 1 --ipf-iterations 2 --regressor mlp --mlp-steps 50 -o fit-spring
expect_rc 0 mmsb-fit fit -q --data ou.csv --reference potential --potential-hidden 4 --rounds 1 --ipf-iterations 2 --fit-iters 50 -o fit-pot
python3 -c "
import json
assert len(json.load(open('fit-rep/report.json'))['theta']) == 4
assert len(json.load(open('fit-ou/report.json'))['theta']) == 6
assert len(json.load(open('fit-pot/report.json'))['theta']) == 4 * 2 + 2 * 4
" || fail "other classes"

# Resume: a stop after one round and a resume give the uninterrupted run's folder; same seed, same fit.
expect_rc 0 mmsb-fit fit "${common[@]}" --rounds 3 --tolerance 0 --checkpoint c.json --stop-after 1 -o part
expect_no_file part
expect_rc 0 mmsb-fit fit "${common[@]}" --rounds 3 --tolerance 0 --checkpoint c.json --resume -o resumed
python3 - <<'PY' || fail "resume is not exact"
import json
a = json.load(open("resumed/report.json")); b = json.load(open("fit-lv/report.json"))
for k in ("theta", "rounds"):
    ra = [{kk: vv for kk, vv in x.items() if kk != "max_relative_error"} for x in a[k]] if k == "rounds" else a[k]
    rb = [{kk: vv for kk, vv in x.items() if kk != "max_relative_error"} for x in b[k]] if k == "rounds" else b[k]
    assert ra == rb, k
PY
cmp -s resumed/trajectories.csv fit-lv/trajectories.csv || fail "resumed trajectories differ"

# Bad inputs: exit 2, named, nothing written.
expect_rc 2 mmsb-fit simulate --system lv --params 1,0.4,0.1,0.4 --x0 5,2 --times 0,2,1 -o bad.csv
expect_err "increase"
expect_rc 2 mmsb-fit simulate --system lv --params 1,0.4,0.1,0.4 --x0 5,2 --times 0,1,1 -o bad.csv
expect_rc 2 mmsb-fit simulate --system lv --params 1,0.4 --x0 5,2 --times 0,1 -o bad.csv
expect_err "--params"
expect_rc 2 mmsb-fit simulate --system lv --params 1,0.4,0.1,0.4 --x0 5,2,1 --times 0,1 -o bad.csv
expect_rc 2 mmsb-fit simulate --system lv --params 1,0.4,0.1,nan --x0 5,2 --times 0,1 -o bad.csv
expect_rc 2 mmsb-fit simulate --system spring --params 1 --x0 1 --times 0,1 --dt 1e-9 -o bad.csv
printf 't,x1,x2\n0,1,2\n0,2,3\n0,1,1\n' > one.csv
expect_rc 2 mmsb-fit fit --data one.csv -o bad
expect_err "one.csv"
printf 't,x1,x2\n0,1,2\n0,2,3\n1,nan,1\n1,1,1\n' > nan.csv
expect_rc 2 mmsb-fit fit --data nan.csv -o bad
expect_err "x1"
expect_rc 2 mmsb-fit fit --data lv.csv --holdout 2.5 -o bad
expect_err "--holdout"
expect_rc 2 mmsb-fit fit --data lv.csv --holdout 0 -o bad
expect_rc 2 mmsb-fit fit --data lv.csv --holdout 1,3,5,7 --start 1,2 -o bad
expect_err "--start"
expect_rc 2 mmsb-fit fit --data lv.csv --truth 1 -o bad
expect_rc 2 mmsb-fit fit --data lv.csv --reference repressilator -o bad
expect_err "3-dimensional"
expect_rc 2 mmsb-fit fit --data lv.csv --time-column time -o bad
expect_err "time"
expect_rc 2 mmsb-fit fit --data lv.csv --dt 0 -o bad
expect_rc 2 mmsb-fit evaluate lv.csv --data lv.csv -o bad.json
expect_rc 2 mmsb-fit plot fit-lv
for f in bad.csv bad bad.json; do expect_no_file $f; done
expect_no_temps .
