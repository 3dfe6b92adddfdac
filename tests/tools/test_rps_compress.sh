# rps-compress: every method trains on 256 MNIST images and reports what it stores; the compressed
# file expands to exactly the trained weights; sweep and summarize; same seed, same report; bad inputs
# exit 2 naming the flag or file, with nothing written.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
tr=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --hidden 32 --epochs 2)
for m in rps roast hashednet mag snip grasp synflow ltr; do
  expect_rc 0 rps-compress train "${tr[@]}" --method "$m" --compression 0.1 --synflow-rounds 5 -o "$m.json" -q
done
expect_rc 0 rps-compress train "${tr[@]}" --method dense -o dense.json -q
python3 - <<'PY' || fail "reports"
import json
W, B = 784 * 32 + 32 * 10, 32 + 10                     # weight matrices, biases
d = json.load(open("dense.json"))
assert d["weights"] == W and d["dense"] == B and d["stored"] == W + B, d
keep = round(0.1 * W)
for m in ("rps", "roast", "hashednet"):
    r = json.load(open(m + ".json"))
    assert r["stored"] == keep + B and r["options"]["slots"] == keep, (m, r)   # z plus the dense biases
    assert r["options"]["grad_scaler"] == (m == "rps"), r                        # on by default for RANDOMFOLD only
for m in ("mag", "snip", "grasp", "synflow", "ltr"):
    r = json.load(open(m + ".json"))
    assert r["options"]["kept"] == keep and r["stored"] == keep + B, (m, r)     # exactly the requested count
    assert 0 <= r["test_accuracy"] <= 1, r
l = json.load(open("ltr.json"))
assert l["rounds"] == 11, l  # 0.8^11 = 0.086 <= 0.1 < 0.8^10: ten 20% rounds, the eleventh to the count
PY
# Sharing: the compressed file (seed + z + biases) expands to the trained weights bit for bit.
expect_rc 0 rps-compress train "${tr[@]}" --method rps --compression 0.05 --save small.safetensors --save-weights trained.safetensors -o s.json -q
expect_rc 0 rps-compress expand small.safetensors -o dense.safetensors
expect_rc 0 ckpt-tool diff trained.safetensors dense.safetensors --atol 0 --rtol 0
[ "$(stat -c %s small.safetensors)" -lt "$(( $(stat -c %s trained.safetensors) / 10 ))" ] || fail "the compressed file is not ~1/20 of the dense one"
expect_rc 0 rps-compress train "${tr[@]}" --method roast --block 8 --grad-scaler on --compression 0.05 --save r.safetensors --save-weights rt.safetensors -o r.json -q
expect_rc 0 rps-compress expand r.safetensors -o rd.safetensors
expect_rc 0 ckpt-tool diff rt.safetensors rd.safetensors --atol 0 --rtol 0
expect_rc 2 rps-compress expand trained.safetensors -o bad.safetensors
expect_err "paramkit.rps"
# Same seed, same report; another seed, another one.
expect_rc 0 rps-compress train "${tr[@]}" --method rps --compression 0.05 -o s2.json -q
same_report s.json s2.json || fail "same seed, different report"
expect_rc 0 rps-compress train "${tr[@]}" --method rps --compression 0.05 -o s3.json -q --seed 1
same_report s.json s3.json && fail "another seed gave the same report"
# LeNet-5 through the same mechanism (conv kernels shared too).
expect_rc 0 rps-compress train --train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" \
  --model lenet --method rps --compression 0.2 --epochs 1 -o lenet.json -q
python3 -c "import json; r = json.load(open('lenet.json')); assert r['weights'] == 44426 - (6 + 16 + 120 + 84 + 10), r" || fail "lenet weights"
# sweep -> summarize
expect_rc 0 rps-compress sweep --methods dense,rps,snip --compressions 1,0.1 --jobs 2 -o sw -- "${tr[@]}"
python3 -c "
import json; m = json.load(open('sw/manifest.json'))
assert sorted(r['name'] for r in m['runs']) == ['dense-c1-s0', 'rps-c0.1-s0', 'rps-c1-s0', 'snip-c0.1-s0', 'snip-c1-s0'], m" || fail "sweep runs"
same_report sw/runs/rps-c0.1-s0.json rps.json || fail "sweep: a run differs from the same train run by itself"
expect_rc 0 rps-compress summarize sw/runs/*.json -o sum.json --plot sum.svg --table
expect_out "rps"
grep -q '<svg' sum.svg || fail "summarize: no plot"
python3 -c "
import json; s = json.load(open('sum.json'))
rows = {(r['method'], r['compression']): r for r in s['rows']}
assert set(rows) == {('dense', 1), ('rps', 1), ('rps', 0.1), ('snip', 1), ('snip', 0.1)}, rows" || fail "summarize rows"
sed 's/"method": "rps"/"method": "roasted"/' sw/runs/rps-c0.1-s0.json > badm.json
expect_rc 2 rps-compress summarize sw/runs/dense-c1-s0.json badm.json -o bad.json
expect_err "badm.json: method"
# Bad inputs.
expect_rc 2 rps-compress train "${tr[@]}" --method rps --compression 0 -o bad.json
expect_err "--compression"
expect_rc 2 rps-compress train "${tr[@]}" --method rps --compression 1.5 -o bad.json
expect_rc 2 rps-compress train "${tr[@]}" --method rps --compression nan -o bad.json
expect_rc 2 rps-compress train "${tr[@]}" --method dense --compression 0.5 -o bad.json
expect_err "--method dense"
expect_rc 2 rps-compress train "${tr[@]}" --model lenet -o bad.json
expect_err "--hidden"
expect_rc 2 rps-compress train "${tr[@]}" --method pruned -o bad.json
expect_rc 2 rps-compress train "${tr[@]}" --method rps --init-std 0 -o bad.json
expect_rc 2 rps-compress sweep --methods rps --compressions 0.1 -o sw2 -- "${tr[@]}" --save x.safetensors
expect_err "--save"
expect_no_file bad.json
expect_no_file sw2
expect_no_temps .
echo "test_rps_compress: ok"
