# widenet-train: train (vit, vit-moe, widenet) on 256 MNIST images, the reports' parameter counts
# against params, exact resume, evaluate of a saved model, plot, and bad inputs (exit 2 naming the field,
# nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
img="$DATA/mnist-256-images-idx3-ubyte.gz" lab="$DATA/mnist-256-labels-idx1-ubyte.gz"
tr=(--train-images "$img" --train-labels "$lab" --test-images "$img" --test-labels "$lab" --depth 3 --width 16 --heads 2 --warmup 10 -q)
for m in vit vit-moe widenet; do
  expect_rc 0 widenet-train train "${tr[@]}" --model $m --epochs 4 --log-every 2 --log-jsonl $m.jsonl --save $m.safetensors -o $m.json
  expect_rc 0 widenet-train params --model $m --depth 3 --width 16 --heads 2 -o $m-params.json
done
expect_rc 0 widenet-train train "${tr[@]}" --model widenet --share-norms --epochs 4 -o widenet-sln.json
python3 - <<'PY' || fail "reports"
import json
r = {m: json.load(open(m + ".json")) for m in ("vit", "vit-moe", "widenet", "widenet-sln")}
p = {m: json.load(open(m + "-params.json")) for m in ("vit", "vit-moe", "widenet")}
d = 16
for m in ("vit", "vit-moe", "widenet"):
    assert r[m]["trainable"] == p[m]["trainable"], (m, r[m]["trainable"], p[m]["trainable"])
    assert r[m]["finished"] and r[m]["steps"] == 4 * 2 and 0 <= r[m]["test_accuracy"] <= 1, r[m]
# WideNet: one attention for three blocks; its layer norms per block: 3 blocks x 4d; shared: 4d
att = {x["component"]: x for x in p["widenet"]["params"]}["attention"]
assert att["unrolled"] == 3 * att["trainable"] == 3 * (4 * d * d + 4 * d), att
assert r["widenet"]["trainable"] - r["widenet-sln"]["trainable"] == 2 * 4 * d
assert r["widenet-sln"]["variant"] == "widenet+shared-ln" and r["vit"]["variant"] == "vit"
assert r["vit"]["routing"] is None and len(r["vit-moe"]["routing"]["blocks"]) == 1 and r["widenet"]["routing"]["blocks"] == [0, 1, 2]
for b in r["widenet"]["routing"]["load"]:
    assert len(b) == 4 and abs(sum(b) + 0 - 1) < 1e-9 or sum(b) <= 1 + 1e-9, b   # kept pairs / (T k)
lines = [json.loads(l) for l in open("widenet.jsonl")]
assert [l["step"] for l in lines] == [2, 4, 6, 8], lines
for l in lines:
    assert 0 <= l["accuracy"] <= 1 and l["balance_loss"] >= 0.0099 * 3 and 0 <= l["dropped"] < 1 and len(l["load"]) == 3, l
assert "load" not in json.loads(open("vit.jsonl").readline())
PY
# A stop after 5 steps and a resume give the uninterrupted run's report.
expect_rc 0 widenet-train train "${tr[@]}" --model widenet --epochs 4 --checkpoint w.ckpt --stop-after 5 -o part.json
expect_no_file part.json
expect_rc 0 widenet-train train "${tr[@]}" --model widenet --epochs 4 --checkpoint w.ckpt --resume -o resumed.json
expect_rc 0 widenet-train train "${tr[@]}" --model widenet --epochs 4 -o straight.json
same_report resumed.json straight.json || fail "resume is not exact"
# evaluate reads the saved model and its options: the report's accuracy on the same images.
expect_rc 0 widenet-train evaluate widenet.safetensors --images "$img" --labels "$lab" -o eval.json
python3 -c "
import json; e, r = json.load(open('eval.json')), json.load(open('widenet.json'))
assert e['accuracy'] == r['test_accuracy'] and e['examples'] == 256 and e['routing'] == r['routing'], (e, r)" || fail "evaluate"
expect_rc 0 widenet-train evaluate widenet.safetensors --images "$img" --labels "$lab" --eval-capacity-factor 0.3 -o eval-cf.json
python3 -c "import json; e = json.load(open('eval-cf.json')); assert min(e['routing']['dropped']) > 0.2, e['routing']" || fail "a small eval capacity drops tokens"
# plot: one row per variant, the ratio to ViT, the two plots.
expect_rc 0 widenet-train plot vit.json vit-moe.json widenet.json widenet-sln.json -o plot.json --accuracy acc.svg --routing load.svg --table
expect_out "widenet+shared-ln"
grep -q '<svg' acc.svg && grep -q 'expert 3' load.svg || fail "plot: svgs"
python3 -c "
import json; rows = {r['variant']: r for r in json.load(open('plot.json'))['rows']}; v, w = rows['vit'], rows['widenet']
assert abs(w['vs_vit'] - w['trainable'] / v['trainable']) < 1e-12 and v['vs_vit'] == 1 and w['runs'] == 1, rows" || fail "plot: rows"
# Bad inputs: exit 2 naming the field, no output.
expect_rc 2 widenet-train train "${tr[@]}" --heads 3 -o bad.json
expect_err "heads: 3 does not divide the width 16"
expect_rc 2 widenet-train train "${tr[@]}" --patch 5 -o bad.json
expect_err "patch: 5 does not divide the image side 28"
expect_rc 2 widenet-train train "${tr[@]}" --model widenet --moe-every 2 -o bad.json
expect_err "mixes dense and MoE"
expect_rc 2 widenet-train train "${tr[@]}" --model vit-moe --top-k 5 -o bad.json
expect_err "top_k"
expect_rc 2 widenet-train train "${tr[@]}" --label-smoothing 1 -o bad.json
expect_err "--label-smoothing"
expect_rc 2 widenet-train train "${tr[@]}" --capacity-factor nan -o bad.json
expect_rc 2 widenet-train params --width 64 --depth 1000 --experts 4000 --model widenet --mlp-ratio 64
expect_err "more than 4e9 parameters"
expect_no_file bad.json
cp "$DATA/rps/mlp-rps.safetensors" other.safetensors
expect_rc 2 widenet-train evaluate other.safetensors --images "$img" --labels "$lab" -o bad.json
expect_err "other.safetensors: __metadata__.paramkit.vit"
sed 's/"test_accuracy": [0-9.e-]*/"test_accuracy": null/' vit.json > unfinished.json
expect_rc 2 widenet-train plot vit.json unfinished.json -o bad.json
expect_err "unfinished.json: test_accuracy"
expect_rc 2 widenet-train plot vit.json -o bad.json --routing bad.svg
expect_err "none of the reports has MoE routing"
expect_no_file bad.json
expect_no_file bad.svg
expect_no_temps
echo "test_widenet_train: ok"
