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
same() { python3 -c 'import json, sys; strip = lambda f: {k: v for k, v in json.load(open(f)).items() if k != "provenance"}; sys.exit(strip(sys.argv[1]) != strip(sys.argv[2]))' "$1" "$2"; }
same ff.json ff2.json || fail "same seed, different report"
expect_rc 0 intdim-probe train "${tr[@]}" --d 300 --epochs 3 -o ff3.json -q --seed 1
same ff.json ff3.json && fail "another seed gave the same report"
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
