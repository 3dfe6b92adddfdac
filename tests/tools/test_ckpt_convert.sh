# ckpt-tool convert/info/diff: bit-exact round trips across formats, sharding, casts, determinism,
# provenance, metrics, HF folder side files.
source "$(dirname "$0")/lib.sh"
make_model m
orig=m/model.safetensors
have_h5=1
ckpt-tool convert "$orig" probe.h5 2>/dev/null || have_h5=0

chain=("$orig")
[ $have_h5 = 1 ] && chain+=(a.h5)
chain+=(b.safetensors folder c.safetensors)
[ $have_h5 = 1 ] && chain+=(d.h5)
prev="$orig"
for next in "${chain[@]:1}"; do
  expect_rc 0 ckpt-tool convert "$prev" "$next" --shard-size 300KB
  expect_rc 0 ckpt-tool diff "$orig" "$next" --atol 0 --rtol 0
  prev=$next
done
ls folder/model-0000*-of-0000*.safetensors >/dev/null || fail "no shards written"
[ -f folder/model.safetensors.index.json ] || fail "no index"
expect_rc 0 ckpt-tool info folder --json
expect_out '"format": "sharded"'
expect_out '"tool": "ckpt-tool"'
expect_out '"source_provenance"'
grep -q '"files"' out && [ "$(grep -c 'model-0000' out)" -ge 3 ] || fail "info lists fewer than 3 shards"
expect_rc 0 ckpt-tool info c.safetensors
expect_out "layers.0.weight  F32"
expect_out "source_provenance"
expect_out "provenance: ckpt-tool"

# Casting: BF16 is close to F32 but not equal; diff reports it with exit 1.
expect_rc 0 ckpt-tool convert "$orig" bf.safetensors --dtype BF16
expect_rc 0 ckpt-tool info bf.safetensors --json
expect_out '"dtype": "BF16"'
expect_rc 1 ckpt-tool diff bf.safetensors "$orig" --ignore-dtype
expect_out "differs"
expect_rc 0 ckpt-tool diff bf.safetensors "$orig" --ignore-dtype --rtol 0.01 --atol 1e-6
expect_rc 1 ckpt-tool diff bf.safetensors "$orig"
expect_out "dtype"
if [ $have_h5 = 1 ]; then
  expect_rc 0 ckpt-tool convert bf.safetensors bf.h5 --compress 6
  expect_rc 0 ckpt-tool diff bf.safetensors bf.h5 --atol 0 --rtol 0
fi

# Tensors present on one side only.
expect_rc 0 paramkit-smoke -q --train-images "$DATA/mnist-256-images-idx3-ubyte.gz" \
  --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --max-steps 1 --model lenet5 --out other
expect_rc 1 ckpt-tool diff "$orig" other/model.safetensors --json
expect_out '"only_a"'
expect_out '"only_b"'

# Same inputs and SOURCE_DATE_EPOCH: byte-identical outputs.
for f in x1 x2; do
  SOURCE_DATE_EPOCH=1700000000 ckpt-tool convert "$orig" $f.safetensors
  [ $have_h5 = 1 ] && SOURCE_DATE_EPOCH=1700000000 ckpt-tool convert "$orig" $f.h5
done
cmp x1.safetensors x2.safetensors || fail "safetensors output not deterministic"
[ $have_h5 = 0 ] || cmp x1.h5 x2.h5 || fail "HDF5 output not deterministic"

# --metrics and --config (command-line flags win over the file).
echo '{"threads": 1, "seed": 5}' > cfg.json
expect_rc 0 ckpt-tool --config cfg.json --seed 9 --metrics met.json info "$orig"
for key in '"tool": "ckpt-tool"' '"wall_s"' '"results"' '"tensor_count": 6' '"threads": 1' '"seed": 9' '"git_commit"'; do
  grep -qF "$key" met.json || { cat met.json; fail "metrics lack $key"; }
done

# HF folders: config and tokenizer files travel with the weights.
mkdir hf && cp "$orig" hf/model.safetensors && echo '{"model_type":"mlp"}' > hf/config.json && echo '{}' > hf/tokenizer.json
expect_rc 0 ckpt-tool convert hf hf2 --shard-size 500KB
[ -f hf2/config.json ] && [ -f hf2/tokenizer.json ] || fail "side files not copied"
expect_rc 0 ckpt-tool diff hf hf2 --atol 0 --rtol 0
expect_no_temps .
expect_no_temps hf2
echo "ok"
