# intdim-probe train: direct and subspace training on 256 MNIST images, the paper's parameter counts,
# determinism, and bad inputs (exit 2 naming the flag, nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
tr=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
expect_rc 0 intdim-probe train "${tr[@]}" --d 0 --epochs 3 -o direct.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 -o ff.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 --projection sparse -o sparse.json -q
expect_rc 0 intdim-probe train "${tr[@]}" --model lenet --d 50 --projection dense --epochs 1 -o lenet.json -q
python3 - <<'PY' || fail "reports"
import json
d, f, s, l = (json.load(open(n)) for n in ("direct.json", "ff.json", "sparse.json", "lenet.json"))
assert d["D"] == 199210 and d["d"] == 0 and d["projection"] is None, d   # the paper's MNIST FC: D = 199,210
assert f["D"] == 199210 and f["d"] == 300 and f["projection"] == "fastfood" and s["projection"] == "sparse"
assert l["model"] == "lenet" and l["d"] == 50 and l["D"] == 44426, l  # the paper's MNIST LeNet: D = 44,426
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
# Shuffled labels (memorisation): the report carries the fraction and the training accuracy, which
# summarize reads with --metric train_accuracy; a sweep mixing fractions is refused.
expect_rc 0 intdim-probe train "${tr[@]}" --d 0 --epochs 3 --shuffle-labels 1 -o shuf.json -q
python3 -c "
import json; s, d = json.load(open('shuf.json')), json.load(open('direct.json'))
assert s['shuffled_labels'] == 1 and d['shuffled_labels'] == 0, (s, d)
assert s['test_accuracy'] < 0.3 < d['test_accuracy'], (s['test_accuracy'], d['test_accuracy'])  # nothing to generalise from
assert 0 <= s['train_accuracy'] <= 1 and d['train_accuracy'] > 0.5, (s, d)" || fail "shuffled labels"
expect_rc 2 intdim-probe summarize direct.json ff.json shuf.json -o bad.json
expect_err "one fraction of shuffled labels"
expect_rc 0 intdim-probe summarize direct.json ff.json sparse.json --metric train_accuracy -o trsum.json
python3 -c "import json; s = json.load(open('trsum.json')); assert s['metric'] == 'train_accuracy', s" || fail "summarize --metric"
expect_rc 2 intdim-probe train "${tr[@]}" --d 10 --shuffle-labels 1.5 -o bad.json
# export -> expand: the tiny file (seed + theta_d + model spec) expands to exactly the trained weights.
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 1 --checkpoint run.ckpt --save-weights trained.safetensors -o run.json -q
expect_rc 0 intdim-probe export --report run.json --checkpoint run.ckpt -o sol.safetensors
[ "$(stat -c %s sol.safetensors)" -lt 3000 ] || fail "export: not tiny ($(stat -c %s sol.safetensors) bytes for 300 floats)"
expect_rc 0 intdim-probe expand sol.safetensors -o dense.safetensors
expect_rc 0 ckpt-tool diff trained.safetensors dense.safetensors --atol 0 --rtol 0
cp sol.safetensors sol1.safetensors
expect_rc 0 intdim-probe export --report run.json --checkpoint run.ckpt -o sol.safetensors
cmp -s sol.safetensors sol1.safetensors || fail "export: same run, different bytes"
# export refuses: a direct run, another run's checkpoint, a file that is not a solution; expand refuses
# a solution whose initial weights this build does not regenerate (exit 1, nothing written).
expect_rc 2 intdim-probe export --report direct.json --checkpoint run.ckpt -o bad.safetensors
expect_err "direct run"
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 2 --checkpoint other.ckpt -o other.json -q
expect_rc 2 intdim-probe export --report run.json --checkpoint other.ckpt -o bad.safetensors
expect_err "not the same run"
expect_rc 2 intdim-probe expand trained.safetensors -o bad.safetensors
expect_err "paramkit.subspace"
python3 - <<'PY'
import json, struct
raw = open("sol.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
s = json.loads(h["__metadata__"]["paramkit.subspace"])
s["theta0"] = "0123456789abcdef"
h["__metadata__"]["paramkit.subspace"] = json.dumps(s)
hb = json.dumps(h).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
open("tampered.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
PY
expect_rc 1 intdim-probe expand tampered.safetensors -o bad.safetensors
expect_err "initial weights differ"
expect_no_file bad.safetensors
# sweep: (d, seed) runs as jobs; a rerun redoes nothing; a sweep stopped by SIGTERM resumes to the same
# reports as one never stopped; bad train flags exit 2 before any run; the folder keeps its flags.
sw=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --epochs 2)
expect_rc 0 intdim-probe sweep --d 0,50,200 --seeds 0,1 --jobs 2 -o sw -- "${sw[@]}"
python3 -c "
import json; m = json.load(open('sw/manifest.json'))
assert sorted((r['d'], r['seed']) for r in m['runs']) == [(d, s) for d in (0, 50, 200) for s in (0, 1)], m
assert m['ran'] == 6 and m['done_before'] == 0, m" || fail "sweep: manifest"
same_report sw/runs/d200-s1.json ff.json && fail "sweep: d 200 gave the d 300 report"
expect_rc 0 intdim-probe train "${tr[@]}" --d 50 --seed 1 --epochs 2 -o single.json -q
same_report sw/runs/d50-s1.json single.json || fail "sweep: a run differs from the same train run by itself"
expect_rc 0 intdim-probe sweep --d 0,50,200 --seeds 0,1 --jobs 2 -o sw -- "${sw[@]}"
python3 -c "import json; m = json.load(open('sw/manifest.json')); assert m['ran'] == 0 and m['done_before'] == 6, m" || fail "sweep: a rerun redid runs"
expect_rc 0 intdim-probe summarize sw/runs/*.json -o swsum.json
long=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --epochs 600 --batch-size 32 --checkpoint-every 200)
sigterm_ends 2 sl/manifest.json intdim-probe sweep --d 20,40 --jobs 2 -o sl -- "${long[@]}"
expect_rc 0 intdim-probe sweep --d 20,40 --jobs 2 -o sl -- "${long[@]}"
python3 -c "import json; m = json.load(open('sl/manifest.json')); assert m['ran'] >= 1, m" || fail "sweep: nothing left to resume after SIGTERM"
expect_rc 0 intdim-probe train "${long[@]}" --d 40 --checkpoint straight.ckpt -o straight.json -q
same_report sl/runs/d40-s0.json straight.json || fail "sweep: stopped and resumed, a run differs from one never stopped"
expect_rc 2 intdim-probe sweep --d 0,50 -o sw2 -- "${sw[@]}" --epochs 0
expect_err "--epochs"
expect_no_file sw2
expect_rc 2 intdim-probe sweep --d 0,50 -o sw2 -- "${sw[@]}" --log-jsonl x.jsonl
expect_err "--log-jsonl"
expect_rc 2 intdim-probe sweep --d 0,50 -o sw2 -- "${sw[@]}" --seed 3
expect_err "the sweep's to set per run"
expect_rc 2 intdim-probe sweep --d 0,50 -o sw -- "${sw[@]}" --lr 0.01
expect_err "other flags"
expect_rc 2 intdim-probe sweep --d 300000 -o sw3 -- "${sw[@]}"
expect_err "job d300000-s0 failed (exit status 2)"
expect_no_file sw3/manifest.json
expect_rc 2 intdim-probe sweep --d 0,nan -o sw4 -- "${sw[@]}"
expect_no_file sw4
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
