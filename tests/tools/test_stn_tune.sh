# stn-tune: tune (report, schedule, trajectory, plot), exact resume, retrain with a tuned schedule, its
# final values or fixed values, grid/random/halving searches enumerating what they claim and resuming,
# compare, and bad hyperparameter declarations (exit 2 naming the field, nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
d=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --hidden 32)
hy=(--hyper dropout.in=0.05 --hyper dropout.1=0.05 --hyper aug.cutout_length=4 --hyper aug.cutout_holes=1 --hyper l2=1e-5)
expect_rc 0 stn-tune tune -q "${d[@]}" "${hy[@]}" --epochs 3 --batch-size 32 --record-every 2 --trajectory traj.csv --plot traj.svg -o tune.json
python3 - <<'PY' || fail "tune report"
import csv, json
r = json.load(open("tune.json"))
names = [h["name"] for h in r["spec"]["hypers"]]
assert names == ["dropout.in", "dropout.1", "aug.cutout_length", "aug.cutout_holes", "l2"], names
# 192 training rows / 32 = 6 batches per epoch; 1 warm-up epoch, then cycles of 2 weight + 1 hyper steps
assert r["batches_per_epoch"] == 6 and r["weight_steps"] == 18 and r["hyper_steps"] == 6 and r["units"] == 24, r
assert abs(r["epochs_spent"] - 24 / 6) < 1e-12
assert len(r["schedule"]) == 3 and len(r["epoch_records"]) == 3
assert r["schedule"][0] == [r["epoch_records"][0]["values"][i] for i in range(5)]
for row in r["schedule"]:
    assert 0 <= row[0] <= 0.95 and 0 <= row[1] <= 0.95 and row[2] == int(row[2]) and row[3] in (0, 1, 2, 3, 4) and 1e-7 <= row[4] <= 0.1, row
assert abs(r["schedule"][0][1] - 0.05) < 1e-6   # warm-up: the hyperparameters have not moved yet
assert set(r["final"]) == set(names) and 0 <= r["test_accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1
rows = list(csv.DictReader(open("traj.csv")))
assert [int(x["hyper_steps"]) for x in rows] == [0, 2, 4, 6], [x["hyper_steps"] for x in rows]
assert abs(float(rows[0]["dropout.1"]) - 0.05) < 1e-6 and abs(float(rows[0]["sigma.l2"]) - 0.5) < 1e-6
assert abs(float(rows[-1]["dropout.1"]) - r["final"]["dropout.1"]) < 1e-9
PY
grep -q '<svg' traj.svg || fail "tune: no plot"
# A stop after 10 steps and a resume give the uninterrupted run's report and trajectory.
expect_rc 0 stn-tune tune -q "${d[@]}" "${hy[@]}" --epochs 3 --batch-size 32 --record-every 2 --checkpoint t.ckpt --stop-after 10 --trajectory part.csv -o part.json
expect_no_file part.json
expect_no_file part.csv
expect_rc 0 stn-tune tune -q "${d[@]}" "${hy[@]}" --epochs 3 --batch-size 32 --record-every 2 --checkpoint t.ckpt --resume --trajectory resumed.csv -o resumed.json
same_report tune.json resumed.json || fail "tune: resume is not exact"
cmp -s traj.csv resumed.csv || fail "tune: the resumed trajectory differs"
# retrain: the tuned schedule, its final values, fixed values.
expect_rc 0 stn-tune retrain -q "${d[@]}" --tuned tune.json --epochs 3 --batch-size 32 -o sched.json
expect_rc 0 stn-tune retrain -q "${d[@]}" --tuned tune.json --final --epochs 3 --batch-size 32 -o final.json
expect_rc 0 stn-tune retrain -q "${d[@]}" --hyper dropout.1=0.3 --epochs 3 --batch-size 32 -o fixed.json
python3 - <<'PY' || fail "retrain reports"
import json
t, s, f, x = (json.load(open(n)) for n in ("tune.json", "sched.json", "final.json", "fixed.json"))
assert s["method"] == "stn-schedule" and s["schedule"] == t["schedule"] and s["spec"]["hypers"] == t["spec"]["hypers"], s
assert f["method"] == "stn-final" and f["schedule"] == [[t["final"][h["name"]] for h in t["spec"]["hypers"]]]
assert x["method"] == "fixed" and x["values"] == {"dropout.1": 0.3} and x["epochs_spent"] == 3
for r in (s, f, x):
    assert 0 <= r["val_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1 and r["steps"] == 18, r
PY
# Searches: grid 3 x 2 values, random 3 configurations, successive halving 5 -> 3 -> 2 (eta 2, 1-2-4
# epochs: 5 + 3 + 2 x 2 = 12 epochs); a rerun redoes nothing.
expect_rc 0 stn-tune search -q --method grid --hyper dropout.1=0:0:0.5 --hyper aug.cutout_holes=0:0:1 --points 3 --epochs 1 --jobs 2 -o grid -- "${d[@]}" --batch-size 64
expect_rc 0 stn-tune search -q --method random --hyper dropout.1=0:0:0.5 --configs 3 --epochs 1 --jobs 2 -o random -- "${d[@]}" --batch-size 64
expect_rc 0 stn-tune search -q --method halving --hyper dropout.1=0:0:0.5 --configs 5 --min-epochs 1 --eta 2 --max-epochs 4 --jobs 2 -o halving -- "${d[@]}" --batch-size 64
python3 - <<'PY' || fail "searches"
import json
g, r, h = (json.load(open(n + "/search.json")) for n in ("grid", "random", "halving"))
vals = sorted((x["values"]["dropout.1"], x["values"]["aug.cutout_holes"]) for x in g["runs"])
assert vals == [(0, 0), (0, 1), (0.25, 0), (0.25, 1), (0.5, 0), (0.5, 1)], vals
assert g["configs"] == 6 and g["epochs_spent"] == 6 and r["configs"] == 3 and r["epochs_spent"] == 3
assert all(0 <= x["values"]["dropout.1"] <= 0.5 for x in r["runs"])
assert [x["configs"] for x in h["rounds"]] == [5, 3, 2] and [x["epochs"] for x in h["rounds"]] == [1, 2, 4], h["rounds"]
assert h["epochs_spent"] == 12 and h["best"]["epochs"] == 4 and len(h["runs"]) == 10
best = max(g["runs"], key=lambda x: x["val_accuracy"])
assert g["best"]["val_accuracy"] == best["val_accuracy"] and g["test_accuracy"] == g["best"]["test_accuracy"]
# a halving survivor continued its previous round's run: 4 epochs of 3 batches
assert json.load(open("halving/" + h["best"]["report"]))["steps"] == 12
PY
expect_rc 0 stn-tune search --method halving --hyper dropout.1=0:0:0.5 --configs 5 --min-epochs 1 --eta 2 --max-epochs 4 --jobs 2 -o halving -- "${d[@]}" --batch-size 64
grep -q "(5 were done before)" err && grep -q "(2 were done before)" err || { cat err; fail "a rerun of a finished search redid runs"; }
expect_rc 0 stn-tune compare tune.json grid/search.json random/search.json halving/search.json fixed.json -o cmp.json --plot cmp.svg --table
expect_out "halving"
python3 -c "
import json; rows = {r['method']: r for r in json.load(open('cmp.json'))['rows']}
assert set(rows) == {'stn', 'grid', 'random', 'halving', 'fixed'} and rows['grid']['epochs_spent'] == 6, rows" || fail "compare"
# Bad declarations and inputs: exit 2 naming the field, nothing written.
expect_rc 2 stn-tune tune "${d[@]}" --hyper dropout.9 -o bad.json
expect_err "unknown hyperparameter 'dropout.9'"
expect_rc 2 stn-tune tune "${d[@]}" --hyper dropout.1=0.1:0.5:0.5 -o bad.json
expect_err "empty range"
expect_rc 2 stn-tune tune "${d[@]}" -o bad.json
expect_err "no hyperparameters"
echo '[{"name": "dropout.1", "range": [0.2, 0.1]}]' > bad-hypers.json
expect_rc 2 stn-tune tune "${d[@]}" --hypers bad-hypers.json -o bad.json
expect_err "bad-hypers.json: [0]"
expect_rc 2 stn-tune tune "${d[@]}" --hyper dropout.1 --warmup-epochs 5 --epochs 2 -o bad.json
expect_err "--warmup-epochs"
expect_rc 2 stn-tune retrain "${d[@]}" --final -o bad.json
expect_err "--final needs --tuned"
expect_rc 2 stn-tune retrain "${d[@]}" --tuned fixed.json -o bad.json
expect_err "fixed.json: method"
expect_rc 2 stn-tune search --method grid --hyper l2=1e-3:0:1 -o badsearch -- "${d[@]}"
expect_err "log-sigmoid range needs lo > 0"
expect_rc 2 stn-tune search --method grid --hyper dropout.1 --points 100 --hyper dropout.in --hyper l2 -o badsearch -- "${d[@]}"
expect_err "more than 100000"
expect_rc 2 stn-tune compare tune.json part.csv -o bad.json
expect_no_file bad.json
expect_no_file badsearch/search.json
expect_no_temps
echo "test_stn_tune: ok"
