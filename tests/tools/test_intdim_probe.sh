# intdim-probe train: direct and subspace training on 256 MNIST images, the paper's parameter counts,
# determinism, and bad inputs (exit 2 naming the flag, nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
tr=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
expect_rc 0 intdim-probe train "${tr[@]}" --d 0 --epochs 3 -o direct.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 -o ff.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 --projection sparse -o sparse.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --model lenet5 --d 50 --projection dense --epochs 1 -o lenet.json -q
python3 - <<'PY' || fail "reports"
import json
d, f, s, l = (json.load(open(n)) for n in ("direct.json", "ff.json", "sparse.json", "lenet.json"))
assert d["D"] == 199210 and d["d"] == 0 and d["projection"] is None, d   # the paper's MNIST FC: D = 199,210
assert f["D"] == 199210 and f["d"] == 300 and f["projection"] == "fastfood" and s["projection"] == "sparse"
assert l["model"] == "lenet5" and l["d"] == 50
for r in (d, f, s, l):
    assert 0 <= r["test_accuracy"] <= 1 and r["steps"] > 0, r
assert d["test_accuracy"] > 0.3, d  # direct training learns something in 3 epochs of 230 images
PY
# Same seed, same bytes; another seed, another projection and result.
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 -o ff2.json -q
same_report ff.json ff2.json || fail "same seed, different report"
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 -o ff3.json -q --seed 1
same_report ff.json ff3.json && fail "another seed gave the same report"
# summarize on hand-made reports (tests/data/intdim): levels 100/300/1000 with means 0.42/0.82/0.92, direct
# 0.97. d_int90: individual target 0.873 -> d = 1000, interpolated 300 + (0.873 - 0.82)/0.10 x 700 = 671;
# global target 0.9 -> 1000, interpolated 300 + 0.08/0.10 x 700 = 860. d_int100 (global 1.0): not reached.
I="$DATA/intdim"
expect_rc 0 intdim-probe summarize "$I"/run-*.json -o sum.json --plot sum.svg --table
expect_out "d_int90 (individual baseline 0.9700): 1000 (interpolated 671.0)"
grep -q '<svg' sum.svg || fail "summarize: no plot"
python3 - <<'PY' || fail "summarize: numbers"
import json
s = json.load(open("sum.json"))
ind, glob = s["thresholds"]
assert ind["baseline"] == "individual" and abs(ind["baseline_accuracy"] - 0.97) < 1e-12 and ind["d_int"] == 1000
assert abs(ind["d_int_interpolated"] - 671.0) < 1e-9, ind
assert glob["baseline"] == "global" and glob["d_int"] == 1000 and abs(glob["d_int_interpolated"] - 860.0) < 1e-9, glob
assert ind["below"]["d"] == 300 and ind["at"]["d"] == 1000
assert [l["d"] for l in s["levels"]] == [0, 100, 300, 1000] and abs(s["levels"][2]["sd"] - 0.0282842712474619) < 1e-12
PY
expect_rc 0 intdim-probe summarize "$I"/run-*.json --threshold 1 -o sum100.json
python3 -c "import json; g = json.load(open('sum100.json'))['thresholds'][1]; assert not g['reached'] and g['d_int'] is None and g['below']['d'] == 1000, g" ||
  fail "summarize: an unreached threshold"
expect_rc 0 intdim-probe summarize "$I"/run-d1*.json "$I"/run-d3*.json -o noind.json
python3 -c "import json; t = json.load(open('noind.json'))['thresholds']; assert [x['baseline'] for x in t] == ['global'], t" ||
  fail "summarize without direct runs: the global threshold only"
sed 's/"test_accuracy": 0.4/"test_accuracy": null, "x": 0.4/' "$I/run-d100-s0.json" > unfinished.json
expect_rc 2 intdim-probe summarize "$I"/run-d0-s0.json unfinished.json -o bad.json
expect_err "unfinished.json: test_accuracy"
sed 's/"model": "fc"/"model": "lenet5"/' "$I/run-d100-s0.json" > other.json
expect_rc 2 intdim-probe summarize "$I"/run-d0-s0.json other.json -o bad.json
expect_err "one sweep, one model"
expect_rc 2 intdim-probe summarize "$I"/run-d0-s0.json -o bad.json
expect_err "no subspace runs"
# Bad inputs.
expect_rc 2 intdim-probe train "${tr[@]}" --d 1000 --projection dense --memory-budget 0.1 -o bad.json
expect_err "--memory-budget"
expect_rc 2 intdim-probe train "${tr[@]}" --d 300000 -o bad.json
expect_err "--d"
expect_rc 2 intdim-probe train "${tr[@]}" --d 10 --hidden 5 -o bad.json
expect_err "--hidden"
expect_rc 2 intdim-probe train "${tr[@]}" --d 10 --projection gaussian -o bad.json
expect_rc 2 intdim-probe train "${tr[@]}" --d nan -o bad.json
expect_no_file bad.json
expect_no_temps .
echo "test_intdim_probe: ok"
