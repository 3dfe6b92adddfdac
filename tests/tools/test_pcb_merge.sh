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

# Bad inputs: exit 2, the file and field named, no output.
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --pcb-ratio 1.5 --out bad1.safetensors
expect_err "ratio"
expect_rc 2 pcb-merge --base "$base" --models "${fts[@]}" --method pcb --pcb-ratio 0 --out bad1.safetensors
paramkit-smoke "${tr[@]}" --max-steps 1 --model lenet5 --out other >/dev/null
expect_rc 2 pcb-merge --base "$base" --models ft012/model.safetensors other/model.safetensors --method ties --out bad2.safetensors
expect_err "other/model.safetensors: shares no floating-point tensor with the base model"
# A model lacking one tensor: an error, or merged from the others with --allow-missing.
ckpt-tool convert ft345/model.safetensors partial --shard-size 300KB
sed -i '/"layers.2.bias"/d' partial/model.safetensors.index.json
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
for i in $(seq 1 17); do expect_no_file bad$i.safetensors; done
expect_no_temps .
echo "ok"
