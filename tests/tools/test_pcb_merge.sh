# pcb-merge: every method on real (tiny) fine-tunes, HF folder layouts, .h5 inputs, merge configs,
# determinism, and bad inputs (exit 2, no output).
source "$(dirname "$0")/lib.sh"
tr=(-q --threads 1 --train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
paramkit-smoke "${tr[@]}" --epochs 2 --out pre >/dev/null
for task in "0,1,2" "3,4,5" "6,7,8,9"; do
  paramkit-smoke "${tr[@]}" --init pre/model.safetensors --digits "$task" --epochs 2 --out "ft${task//,/}" >/dev/null
done
fts=(ft012/model.safetensors ft345/model.safetensors ft6789/model.safetensors)
base=pre/model.safetensors

for m in linear task_arithmetic ties dare_linear dare_ties breadcrumbs della model_stock pcb; do
  expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method $m --density 0.5 --out $m.safetensors --metrics $m.json
  grep -q "\"method\": \"$m\"" $m.json || fail "$m: metrics lack the method"
  expect_rc 0 ckpt-tool info $m.safetensors --json
  expect_out "\"merge_method\": \"$m\""
done
# Tensors merged in parallel give the same bytes as one at a time, for every method.
for m in linear task_arithmetic ties dare_ties breadcrumbs della model_stock pcb; do
  pcb-merge -q --threads 1 --base "$base" --models "${fts[@]}" --method $m --density 0.5 --out seq-$m.safetensors --metrics seq.json
  pcb-merge -q --threads 2 --base "$base" --models "${fts[@]}" --method $m --density 0.5 --out par-$m.safetensors --metrics par.json
  grep -q '"merge_threads": 2' par.json && grep -q '"merge_threads": 1' seq.json || fail "$m: thread counts not exercised"
  expect_rc 0 ckpt-tool diff seq-$m.safetensors par-$m.safetensors --bitwise
done
expect_rc 0 pcb-merge --base "$base" --models ft012/model.safetensors --method slerp --t 0.3 --out slerp.safetensors
# Merging a model with itself returns it, bit-exact for the linear methods.
for m in linear task_arithmetic pcb ties; do
  expect_rc 0 pcb-merge --base "$base" --models "$base" "$base" --method $m --out self-$m.safetensors
  expect_rc 0 ckpt-tool diff self-$m.safetensors "$base" --atol 0 --rtol 0
done
# Seeded random methods are reproducible; another seed differs.
pcb-merge -q --base "$base" --models "${fts[@]}" --method dare_ties --density 0.3 --seed 7 --out d1.safetensors
pcb-merge -q --base "$base" --models "${fts[@]}" --method dare_ties --density 0.3 --seed 7 --out d2.safetensors
pcb-merge -q --base "$base" --models "${fts[@]}" --method dare_ties --density 0.3 --seed 8 --out d3.safetensors
expect_rc 0 ckpt-tool diff d1.safetensors d2.safetensors --atol 0 --rtol 0
expect_rc 1 ckpt-tool diff d1.safetensors d3.safetensors
# PCB global vs per-tensor statistics give different merges; per-task lambdas are accepted.
pcb-merge -q --base "$base" --models "${fts[@]}" --method pcb --pcb-scope per-tensor --out pt.safetensors
expect_rc 1 ckpt-tool diff pt.safetensors pcb.safetensors
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --lambda 1.2 1.0 0.8 --pcb-variant es --out lam.safetensors

# Global PCB streamed with exact radix selection (a tiny memory budget) equals the in-memory
# computation byte for byte, for every variant and with clamping off.
for v in raw pcbpy es; do
  for clamp in 0.0001 0; do
    pcb-merge -q --base "$base" --models "${fts[@]}" --method pcb --pcb-variant $v --pcb-clamp $clamp --out mem.safetensors --metrics mem.json
    pcb-merge -q --base "$base" --models "${fts[@]}" --method pcb --pcb-variant $v --pcb-clamp $clamp --memory-budget 1KB --out ooc.safetensors --metrics ooc.json
    grep -q '"pcb_statistics": "in-memory"' mem.json && grep -q '"pcb_statistics": "streaming"' ooc.json || fail "modes not exercised"
    expect_rc 0 ckpt-tool diff mem.safetensors ooc.safetensors --bitwise
  done
done
expect_rc 1 ckpt-tool diff pcb.safetensors pt.safetensors --bitwise

# HF folders in and out: the base's layout, side files copied, sharded output, .h5 inputs.
mkdir hfbase && ckpt-tool convert "$base" hfbase --shard-size 300KB && echo '{"model_type": "mlp"}' > hfbase/config.json
echo '{}' > hfbase/tokenizer.json
expect_rc 0 pcb-merge --base hfbase --models "${fts[@]}" --method ties --density 0.4 --out merged-hf --out-shard-size 400KB --dtype BF16
[ -f merged-hf/model.safetensors.index.json ] && [ -f merged-hf/config.json ] && [ -f merged-hf/tokenizer.json ] || fail "HF layout not written"
expect_rc 0 ckpt-tool info merged-hf --json
expect_out '"dtype": "BF16"'
# The current spellings (-o/--output, --shard-size) give what the old ones (--out, --out-shard-size) gave.
expect_rc 0 pcb-merge --base hfbase --models "${fts[@]}" --method ties --density 0.4 -o merged-hf2 --shard-size 400KB --dtype BF16
expect_rc 0 ckpt-tool diff merged-hf merged-hf2 --bitwise
[ "$(ls merged-hf2)" = "$(ls merged-hf)" ] || fail "-o/--shard-size wrote another layout than --out/--out-shard-size"
if ckpt-tool convert ft012/model.safetensors ft012.h5 2>/dev/null; then
  expect_rc 0 pcb-merge --base "$base" --models ft012.h5 ft345/model.safetensors --method task_arithmetic --out h5in.safetensors
fi

# mergekit-style config (JSON): the base may be listed among the models.
cat > merge.json <<JSON
{"merge_method": "ties", "base_model": "$base",
 "models": [{"model": "$base"}, {"model": "ft012/model.safetensors", "parameters": {"weight": 1.0, "density": 0.5}},
            {"model": "ft345/model.safetensors", "parameters": {"weight": 0.5, "density": 0.5}}],
 "parameters": {"normalize": true, "lambda": 1.0}, "dtype": "float32"}
JSON
expect_rc 0 pcb-merge --merge-config merge.json --out cfg.safetensors --metrics cfg.json
grep -q '"tensors": 6' cfg.json || fail "config merge: wrong tensor count"

# Lambda search against an evaluation command; the best candidate is the output.
eval_cmd="paramkit-smoke ${tr[*]} --digits 0,1,2 --eval-only --init {model}"
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --search grid --lambda-grid 0.6,1.2,1.8 \
  --eval-cmd "$eval_cmd" --out searched.safetensors --metrics search.json
[ "$(grep -c '"score"' search.json)" -eq 3 ] || fail "expected 3 scored candidates"
best=$(tr -d ' \n' < search.json | sed -E 's/.*"best_lambda":\[([0-9.]+)\].*/\1/')
pcb-merge -q --base "$base" --models "${fts[@]}" --method pcb --lambda "$best" --out direct.safetensors
expect_rc 0 ckpt-tool diff searched.safetensors direct.safetensors --atol 0 --rtol 0
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method ties --search random --search-budget 2 \
  --lambda-range 0.5 1.5 --eval-cmd "$eval_cmd" --out rsearch.safetensors --metrics rsearch.json
[ "$(grep -c '"score"' rsearch.json)" -eq 2 ] || fail "expected 2 random candidates"
expect_rc 1 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --search grid --lambda-grid 1 --eval-cmd "false" --out bad13.safetensors
expect_err "--eval-cmd failed"
expect_rc 1 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --search grid --lambda-grid 1 --eval-cmd "echo high" --out bad14.safetensors
expect_err "must print a number"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --search grid --out bad15.safetensors
expect_err "--search needs --eval-cmd"

# The same merge from mergekit's YAML gives the same bytes of tensors.
cat > merge.yaml <<YAML
# as mergekit users write it
models:
  - model: $base
  - model: ft012/model.safetensors
    parameters:
      weight: 1.0
      density: 0.5
  - model: ft345/model.safetensors
    parameters: {weight: 0.5, density: 0.5}
merge_method: ties
base_model: $base
parameters:
  normalize: true
dtype: float32
YAML
# A flow mapping and the same as a block mapping give the same merge.
expect_rc 0 pcb-merge --merge-config merge.yaml --out yaml-flow.safetensors
expect_rc 0 ckpt-tool diff yaml-flow.safetensors cfg.safetensors --atol 0 --rtol 0
sed -i 's/    parameters: {weight: 0.5, density: 0.5}/    parameters:\n      weight: 0.5\n      density: 0.5/' merge.yaml
expect_rc 0 pcb-merge --merge-config merge.yaml --out yaml.safetensors
expect_rc 0 ckpt-tool diff yaml.safetensors cfg.safetensors --atol 0 --rtol 0
printf 'merge_method: ties\nmodels: [{model: x, parameters: {weight: 1}\n' > unclosed.yaml
expect_rc 2 pcb-merge --merge-config unclosed.yaml --out bad16.safetensors
expect_err "unclosed.yaml: line 2: a flow list or mapping must close on the same line"
printf 'merge_method: ties\nmodels:\n  - model: x\n    parameters:\n      density: [1, 0.5]\n' > gradient.yml
expect_rc 2 pcb-merge --merge-config gradient.yml --out bad17.safetensors
expect_err "gradient.yml: models[0].parameters.density: per-layer gradients"

# ---- mergekit configs read as mergekit reads them (config.py ConfigReader, plan.py, merge_methods/) ----
# A model's own parameters win over the top-level block.
cat > precedence.yaml <<YAML
models:
  - model: ft012/model.safetensors
    parameters:
      density: 0.8
      weight: 1.0
  - model: ft345/model.safetensors
merge_method: ties
base_model: $base
parameters:
  density: 0.3
  weight: 0.5
YAML
expect_rc 0 pcb-merge --merge-config precedence.yaml -o prec.safetensors
pcb-merge -q --base "$base" --models ft012/model.safetensors ft345/model.safetensors --method ties --weight 1.0 0.5 --density 0.8 0.3 -o prec-flags.safetensors
expect_rc 0 ckpt-tool diff prec.safetensors prec-flags.safetensors --bitwise
pcb-merge -q --base "$base" --models ft012/model.safetensors ft345/model.safetensors --method ties --weight 0.5 --density 0.3 -o prec-global.safetensors
expect_rc 1 ckpt-tool diff prec.safetensors prec-global.safetensors --bitwise
# linear with the base listed among the models averages every listed model.
cat > linear-base.yaml <<YAML
models:
  - model: $base
    parameters: {weight: 1.0}
  - model: ft012/model.safetensors
    parameters: {weight: 1.0}
merge_method: linear
base_model: $base
YAML
expect_rc 0 pcb-merge --merge-config linear-base.yaml -o lin-base.safetensors
pcb-merge -q --models "$base" ft012/model.safetensors --method linear -o lin-avg.safetensors
expect_rc 0 ckpt-tool diff lin-base.safetensors lin-avg.safetensors --bitwise
expect_rc 1 ckpt-tool diff lin-base.safetensors ft012/model.safetensors --bitwise
# linear without a base (mergekit's examples/linear.yml): the side files come from the first model,
# so the output folder loads as a Hugging Face model.
for m in 012 345; do
  ckpt-tool convert ft$m/model.safetensors hf$m >/dev/null 2>&1
  echo "{\"model_type\": \"mlp\", \"from\": \"$m\"}" > hf$m/config.json
  echo "{\"tok\": \"$m\"}" > hf$m/tokenizer.json
done
cat > linear.yml <<YAML
models:
  - model: hf012
    parameters:
      weight: 1.0
  - model: hf345
    parameters:
      weight: 0.3
merge_method: linear
dtype: float16
YAML
expect_rc 0 pcb-merge --merge-config linear.yml -o lin-hf --metrics lin-hf.json
grep -q '"from": "012"' lin-hf/config.json && grep -q '"tok": "012"' lin-hf/tokenizer.json || fail "linear without a base: side files not taken from the first model"
grep -q '"config.json"' lin-hf.json || fail "copied_files lacks config.json"
expect_rc 0 ckpt-tool info lin-hf --json
expect_out '"dtype": "F16"'
# int8_mask (mergekit's examples/bio-merge.yml) is accepted; -v says it changes nothing.
cat > bio-merge.yml <<YAML
models:
  - model: ft012/model.safetensors
    parameters:
      density: 0.5
      weight: 0.5
  - model: ft345/model.safetensors
    parameters:
      density: 0.5
      weight: 0.5
merge_method: ties
base_model: $base
parameters:
  normalize: false
  int8_mask: true
dtype: float16
YAML
expect_rc 0 pcb-merge -v --merge-config bio-merge.yml -o bio.safetensors
expect_err "int8_mask accepted; it does not change results"
sed '/int8_mask/d' bio-merge.yml > bio-nomask.yml
expect_rc 0 pcb-merge --merge-config bio-nomask.yml -o bio-nomask.safetensors
expect_rc 0 ckpt-tool diff bio.safetensors bio-nomask.safetensors --bitwise
# breadcrumbs_ties and della_linear, mergekit's names, run from configs.
for m in breadcrumbs_ties della_linear; do
  sed "s/merge_method: ties/merge_method: $m/" bio-nomask.yml > $m.yml
  expect_rc 0 pcb-merge --merge-config $m.yml -o cfg-$m.safetensors
done

# Edge cases on hand-made tensors, each from a mergekit config (expected values by hand; the README
# lists where and why we differ from mergekit).
make_st() {  # OUT name=shape=v1,v2,... ...: an F32 safetensors file
  python3 - "$@" <<'PY'
import json, struct, sys
out, specs = sys.argv[1], sys.argv[2:]
head, blobs, off = {}, [], 0
for spec in sorted(specs):
    name, shape, vals = spec.split("=")
    shape = [int(x) for x in shape.split("x")]
    vals = [float(v) for v in vals.split(",")]
    b = struct.pack("<%df" % len(vals), *vals)
    head[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(head).encode()
h += b" " * (-len(h) % 8)
open(out, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
}
# slerp with an all-zero base tensor: sin(t pi/2) v1 (mergekit normalises only norms above 1e-8).
make_st e-base.safetensors z=3=0,0,0 w=2=1,0
make_st e-one.safetensors z=3=1,-2,2 w=2=0,1
s=$(python3 -c 'import math; print(math.sin(0.3 * math.pi / 2))')
make_st e-slerp-want.safetensors "z=3=$s,$(python3 -c "print(-2*$s)"),$(python3 -c "print(2*$s)")" \
  "w=2=$(python3 -c 'import math; print(math.sin(0.7*math.pi/2))'),$(python3 -c 'import math; print(math.sin(0.3*math.pi/2))')"
printf 'slices: []\n' > /dev/null
cat > slerp.yml <<YAML
models:
  - model: e-base.safetensors
  - model: e-one.safetensors
merge_method: slerp
base_model: e-base.safetensors
parameters:
  t: 0.3
YAML
expect_rc 0 pcb-merge --merge-config slerp.yml -o e-slerp.safetensors
expect_rc 0 ckpt-tool diff e-slerp.safetensors e-slerp-want.safetensors --atol 1e-6 --rtol 0
# model_stock: a zero offset has cosine 0 (mergekit clamps |a||b| to 1e-6): t = 0, the base.
make_st e-ms1.safetensors z=3=1,-2,2 w=2=1,0
make_st e-ms2.safetensors z=3=0,0,0 w=2=1,0
cat > model_stock.yml <<YAML
models:
  - model: e-ms1.safetensors
  - model: e-ms2.safetensors
merge_method: model_stock
base_model: e-base.safetensors
YAML
expect_rc 0 pcb-merge --merge-config model_stock.yml -o e-ms.safetensors
# z: offsets (1,-2,2) and 0 -> cos 0 -> the base (0); w: equal offsets (1,0) -> cos 1 -> their average.
make_st e-ms-want.safetensors z=3=0,0,0 w=2=1,0
expect_rc 0 ckpt-tool diff e-ms.safetensors e-ms-want.safetensors --atol 1e-7 --rtol 0
# breadcrumbs on a tensor of fewer than 1/gamma entries: no outlier dropped, the density kept (mergekit
# would drop the whole task vector); ties where density x size < 1: that tensor stays the base's, with
# a warning (mergekit stops with an assertion).
make_st e-b0.safetensors v=10=0,0,0,0,0,0,0,0,0,0
make_st e-b1.safetensors v=10=1,2,3,4,5,6,7,8,9,10
cat > breadcrumbs.yml <<YAML
models:
  - model: e-b1.safetensors
    parameters: {density: 0.3, weight: 1.0}
merge_method: breadcrumbs
base_model: e-b0.safetensors
parameters:
  gamma: 0.01
YAML
expect_rc 0 pcb-merge --merge-config breadcrumbs.yml -o e-bc.safetensors
make_st e-bc-want.safetensors v=10=0,0,0,0,0,0,0,8,9,10
expect_rc 0 ckpt-tool diff e-bc.safetensors e-bc-want.safetensors --bitwise
sed -e 's/breadcrumbs/ties/' -e 's/density: 0.3/density: 0.05/' -e '/gamma/d' breadcrumbs.yml > ties-small.yml
expect_rc 0 pcb-merge --merge-config ties-small.yml -o e-ts.safetensors
expect_err "ties: density x size < 1 in 1 tensor(s), which keep no entry of that task vector and stay the base's (v)"
expect_rc 0 ckpt-tool diff e-ts.safetensors e-b0.safetensors --bitwise
# della on a 3-d tensor ranks along dim 1 (tested by value in the unit tests); it runs from a config.
make_st e-d0.safetensors c=2x3x2=0,0,0,0,0,0,0,0,0,0,0,0
make_st e-d1.safetensors c=2x3x2=1,-2,3,-4,5,-6,7,-8,9,-10,11,-12
sed -e 's/breadcrumbs/della/' -e 's/e-b0/e-d0/' -e 's/e-b1/e-d1/' -e 's/density: 0.3/density: 0.5/' -e '/gamma/d' breadcrumbs.yml > della3d.yml
expect_rc 0 pcb-merge --merge-config della3d.yml -o e-della.safetensors

# ---- Flags on the command line win over --merge-config; --models and its models exclude each other.
cat > cfg-linear.yaml <<YAML
models:
  - model: ft012/model.safetensors
  - model: ft345/model.safetensors
merge_method: linear
base_model: $base
parameters:
  weight: 1.0
YAML
expect_rc 0 pcb-merge --merge-config cfg-linear.yaml --method ties --density 0.5 -o over.safetensors
expect_err "merge_method 'linear' is overridden by the command line ('ties')"
pcb-merge -q --base "$base" --models ft012/model.safetensors ft345/model.safetensors --method ties --density 0.5 -o over-flags.safetensors
expect_rc 0 ckpt-tool diff over.safetensors over-flags.safetensors --bitwise
expect_rc 2 pcb-merge --merge-config cfg-linear.yaml --models ft012/model.safetensors -o bad18.safetensors
expect_err "--models and the models of the merge config cfg-linear.yaml exclude each other"

# ---- Abuse: out-of-range numbers, unbounded allocations, outputs that cannot be ours (exit 2 before work).
pcb-merge --help > help.txt
grep -q "magnitude at most 1e4" help.txt || fail "--help does not state the range of weights and lambdas"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --weight 1e308 -o bad19.safetensors
expect_err "--weight: 1e+308 is out of range; expected [-10000, 10000]"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --lambda inf -o bad20.safetensors
expect_err "--lambda"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --lambda nan -o bad21.safetensors
expect_err "--lambda"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --lambda 2e4 -o bad22.safetensors
expect_err "--lambda: 20000 is out of range"
printf 'merge_method: ties\nbase_model: %s\nmodels:\n  - model: ft012/model.safetensors\n    parameters: {weight: 1e308}\n' "$base" > huge.yml
expect_rc 2 pcb-merge --merge-config huge.yml -o bad23.safetensors
expect_err "huge.yml: models[0].parameters.weight: expected a number in [-10000, 10000], got 1e+308"
expect_rc 2 timeout 20 pcb-merge --base "$base" --models "${fts[@]}" --method ties --search random --search-budget 1000000000 \
  --eval-cmd "echo 1" -o bad24.safetensors
expect_err "--search-budget: 1e+09 is out of range; expected [1, 10000]"
expect_rc 2 timeout 20 pcb-merge --base "$base" --models "${fts[@]}" --method ties --search grid --lambda-grid 0:1e9:1e-9 \
  --eval-cmd "echo 1" -o bad25.safetensors
expect_err "--lambda-grid"
expect_rc 2 timeout 20 pcb-merge --base "$base" --models "${fts[@]}" --method ties --search grid --lambda-grid 0:100:1e-9 \
  --eval-cmd "echo 1" -o bad26.safetensors
expect_err "--lambda-grid: 1e+11 values; at most 10000"
mkdir userdir && echo mine > userdir/notes.txt
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties -o userdir
expect_err "-o/--output userdir: an existing folder that holds no model"
[ "$(ls userdir)" = "notes.txt" ] || fail "the user's folder was written into"
echo x > plainfile
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties -o plainfile
expect_err "a file exists there"
# A previous output folder is replaced.
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method ties -o outdir
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method ties -o outdir

# ---- One SIGTERM ends a running --eval-cmd (its whole process group) and the search: exit 130, at once.
mkdir sig
cat > sig/eval.sh <<'SH'
sleep 60 & echo $! > "$1"; wait; echo 1
SH
pcb-merge -q --base "$base" --models "${fts[@]}" --method ties --search grid --lambda-grid 1,2 \
  --eval-cmd "sh sig/eval.sh sig/sleep.pid" -o sig/searched.safetensors &
pm=$!
for _ in $(seq 200); do [ -s sig/sleep.pid ] && break; sleep 0.1; done
[ -s sig/sleep.pid ] || fail "the evaluation command never started"
start=$(date +%s)
kill -TERM $pm
set +e; timeout 20 tail --pid=$pm -f /dev/null; wait $pm; rc=$?; set -e
[ "$rc" -eq 130 ] || fail "SIGTERM during --eval-cmd: exit $rc, expected 130"
[ $(( $(date +%s) - start )) -le 5 ] || fail "SIGTERM during --eval-cmd took more than 5 s"
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]; }  # a zombie has ended
sleep 0.5  # the group's SIGKILL is asynchronous
! alive "$(cat sig/sleep.pid)" || fail "the evaluation command's child survived the stop"
! ls -a sig | grep -q 'pcb-merge-candidate' || fail "candidate merge left after SIGTERM"
expect_no_file sig/searched.safetensors
# A search killed outright (SIGKILL) leaves its candidate; the next run writing to that folder removes it.
rm -f sig/sleep.pid
pcb-merge -q --base "$base" --models "${fts[@]}" --method ties --search grid --lambda-grid 1,2 \
  --eval-cmd "sh sig/eval.sh sig/sleep.pid" -o sig/searched.safetensors &
pm=$!
for _ in $(seq 200); do [ -s sig/sleep.pid ] && break; sleep 0.1; done
kill -KILL $pm; wait $pm 2>/dev/null || true
kill "$(cat sig/sleep.pid)" 2>/dev/null || true
ls -a sig | grep -q "^.pcb-merge-candidate-$pm.safetensors$" || fail "no candidate left by the killed search (test setup)"
expect_rc 0 pcb-merge --base "$base" --models "${fts[@]}" --method ties -o sig/merged.safetensors
expect_err "removed sig/.pcb-merge-candidate-$pm.safetensors left by an earlier search that did not finish"
! ls -a sig | grep -q 'pcb-merge-candidate' || fail "stale candidate not removed"

# Bad inputs: exit 2, the file and field named, no output.
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --pcb-ratio 1.5 --out bad1.safetensors
expect_err "ratio"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --pcb-ratio 0 --out bad1.safetensors
paramkit-smoke "${tr[@]}" --max-steps 1 --model lenet5 --out other >/dev/null
expect_rc 2 pcb-merge --base "$base" --models ft012/model.safetensors other/model.safetensors --method ties --out bad2.safetensors
expect_err "other/model.safetensors: shares no floating-point tensor with the base model"
# A model lacking one tensor: an error, or merged from the others with --allow-missing.
drop_tensor() {  # IN OUT NAME: a valid safetensors file without tensor NAME
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, name = sys.argv[1:4]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
data = raw[8 + n:]
meta = head.pop("__metadata__", None)
out, blobs, off = {}, [], 0
for k in sorted(head):
    if k == name:
        continue
    b, e = head[k]["data_offsets"]
    blobs.append(data[b:e])
    out[k] = dict(head[k], data_offsets=[off, off + e - b])
    off += e - b
if meta is not None:
    out["__metadata__"] = meta
h = json.dumps(out).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
}
drop_tensor ft345/model.safetensors partial.safetensors layers.2.bias
ckpt-tool convert partial.safetensors partial --shard-size 300KB
expect_rc 2 pcb-merge --base "$base" --models ft012/model.safetensors partial --method ties --out bad11.safetensors
expect_err "1 of the base's tensors are missing (layers.2.bias); --allow-missing"
expect_rc 0 pcb-merge --base "$base" --models ft012/model.safetensors partial --method task_arithmetic --allow-missing --out allow.safetensors
# layers.2.bias then comes from ft012 alone: base + (ft012 - base).
expect_rc 0 pcb-merge --base "$base" --models ft012/model.safetensors --method task_arithmetic --out only012.safetensors
expect_rc 1 ckpt-tool diff allow.safetensors only012.safetensors --json --atol 1e-6 --rtol 0
grep -A4 '"layers.2.bias"' out | grep -q '"status": "ok"' || fail "the missing tensor was not merged from the other model"
expect_rc 2 pcb-merge --base "$base" --models ft012/model.safetensors ft345/model.safetensors --method slerp --out bad12.safetensors
expect_err "slerp merges the base with exactly one other model"
expect_rc 2 pcb-merge --base "$base" --models ft012/model.safetensors --method frankenmerge --out bad3.safetensors
expect_err "unknown merge method"
ckpt-tool convert ft012/model.safetensors sharded --shard-size 300KB
rm sharded/model-00002-of-*.safetensors
expect_rc 2 pcb-merge --base "$base" --models sharded --method ties --out bad4.safetensors
expect_err "is missing"
echo '{"merge_method": "ties", "models": [' > broken.json
expect_rc 2 pcb-merge --merge-config broken.json --out bad5.safetensors
expect_err "broken.json"
echo '{"merge_method": "ties", "modles": []}' > typo.json
expect_rc 2 pcb-merge --merge-config typo.json --out bad6.safetensors
expect_err "typo.json: modles: unknown key"
echo '{"models": [{"model": "x", "parameters": {"weight": "heavy"}}]}' > wtype.json
expect_rc 2 pcb-merge --merge-config wtype.json --out bad7.safetensors
expect_err "models[0].parameters.weight: expected a number"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --density 0 --out bad8.safetensors
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --weight 1 2 --out bad9.safetensors
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method ties --dtype I8 --out bad10.safetensors
expect_err "--dtype: expected one of F32, F16, BF16"
# --exclude: per-task heads (other shapes in every model) stay the base's; the trunks are merged.
paramkit-smoke "${tr[@]}" --task digit --epochs 1 --out mt-pre >/dev/null
for t in parity rot90; do
  paramkit-smoke "${tr[@]}" --task $t --init mt-pre/model.safetensors --epochs 1 --out mt-$t >/dev/null
done
mts=(mt-parity/model.safetensors mt-rot90/model.safetensors)
expect_rc 2 pcb-merge --base mt-pre/model.safetensors --models "${mts[@]}" --method ties --out bad27.safetensors
expect_err "tensor 'head.bias': shape [2] differs from the base's [10]"
for m in task_arithmetic ties pcb; do
  expect_rc 0 pcb-merge --base mt-pre/model.safetensors --models "${mts[@]}" --exclude 'head.*' --method $m \
    --out mt-$m.safetensors --metrics mt-$m.json
  grep -q '"excluded": 2' mt-$m.json && grep -q '"merged": 4' mt-$m.json || fail "$m --exclude: not 2 excluded and 4 merged"
  expect_rc 1 ckpt-tool diff mt-$m.safetensors mt-pre/model.safetensors --atol 0 --rtol 0
  grep -Eq '^head.weight +ok' out && grep -Eq '^head.bias +ok' out || fail "$m --exclude: the heads are not the base's"
  [ "$(grep -Ec '^trunk[^ ]* +differs' out)" = 4 ] || fail "$m --exclude: the 4 trunk tensors should differ from the base"
done
# A pattern that matches no tensor is a warning and changes nothing.
expect_rc 0 pcb-merge --base mt-pre/model.safetensors --models "${mts[@]}" --exclude 'head.*' --exclude 'nothing.*' \
  --method pcb --out mt-pcb2.safetensors
expect_err "--exclude 'nothing.*' matches no tensor"
expect_rc 0 ckpt-tool diff mt-pcb.safetensors mt-pcb2.safetensors --bitwise
for i in $(seq 1 27); do expect_no_file bad$i.safetensors; done
expect_no_temps .
echo "ok"
