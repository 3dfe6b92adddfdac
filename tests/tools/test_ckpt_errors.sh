# Bad input and bad usage: exit 2, one message naming the file and field, no output left behind.
source "$(dirname "$0")/lib.sh"
make_model m
orig=m/model.safetensors
size=$(stat -c %s "$orig")

# Truncated file.
head -c $((size - 100)) "$orig" > trunc.safetensors
expect_rc 2 ckpt-tool convert trunc.safetensors out.safetensors
expect_err "trunc.safetensors"
expect_err "beyond the data section"
expect_no_file out.safetensors
# Header length beyond the file.
{ le64 999999; printf '{}'; } > hdrlen.safetensors
expect_rc 2 ckpt-tool info hdrlen.safetensors
expect_err "hdrlen.safetensors: header length: 999999 bytes beyond the end of the file"
# Unknown dtype, overlapping offsets, shape/byte mismatch, duplicate names, bad UTF-8, bad JSON.
craft() { local h=$1 data=$2; { le64 ${#h}; printf '%s' "$h"; printf "$data"; } ; }
craft '{"w":{"dtype":"Q8","shape":[2],"data_offsets":[0,2]}}' '\x01\x02' > dtype.safetensors
expect_rc 2 ckpt-tool info dtype.safetensors
expect_err "tensor 'w'.dtype: unknown dtype 'Q8'"
craft '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}' '\x01\x02\x03' > overlap.safetensors
expect_rc 2 ckpt-tool info overlap.safetensors
expect_err "overlaps"
craft '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}' '\x01\x02\x03\x04' > mismatch.safetensors
expect_rc 2 ckpt-tool diff mismatch.safetensors "$orig"
expect_err "needs 8 bytes, data_offsets give 4"
craft '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' '\x01' > dup.safetensors
expect_rc 2 ckpt-tool info dup.safetensors
expect_err "duplicate key"
{ le64 7; printf '{"\xff":1}'; } > utf8.safetensors
expect_rc 2 ckpt-tool info utf8.safetensors
expect_err "invalid JSON"
{ le64 6; printf '{"a":['; } > json.safetensors
expect_rc 2 ckpt-tool info json.safetensors
expect_err "json.safetensors: header: invalid JSON"
# Missing input, missing shard.
expect_rc 2 ckpt-tool info nothing.safetensors
expect_err "nothing.safetensors: no such file or folder"
ckpt-tool convert "$orig" sharded --shard-size 300KB
rm sharded/model-00002-of-*.safetensors
expect_rc 2 ckpt-tool convert sharded out2.safetensors
expect_err "is missing"
expect_no_file out2.safetensors

# Bad usage.
expect_rc 2 ckpt-tool convert "$orig" out.safetensors --dtype I8
expect_err "--dtype"
expect_rc 2 ckpt-tool convert "$orig" out.safetensors --compress 3
expect_err "--compress applies to HDF5"
expect_rc 2 ckpt-tool convert "$orig" out.safetensors --shard-size lots
expect_rc 2 ckpt-tool frobnicate
expect_rc 2 ckpt-tool
expect_rc 2 ckpt-tool info "$orig" --threads -1
expect_rc 2 ckpt-tool --device tpu info "$orig"
# ckpt-tool links no LibTorch: CUDA is refused by name on every machine (pcb-merge has the CUDA path).
expect_rc 2 ckpt-tool --device cuda info "$orig"
expect_err "runs on the CPU only"
echo '{"thread": 2}' > typo.json
expect_rc 2 ckpt-tool --config typo.json info "$orig"
expect_err "typo.json: unknown key 'thread'"
echo '{"threads": ' > broken.json
expect_rc 2 ckpt-tool --config broken.json info "$orig"
expect_rc 2 ckpt-tool -v -q info "$orig"
expect_no_file out.safetensors
expect_no_temps .

# Help carries a runnable example; --version names the commit.
expect_rc 0 ckpt-tool --help
expect_out "Examples:"
expect_out "Exit codes"
# Each subcommand's help shows its own example.
expect_rc 0 ckpt-tool diff --help
expect_out "Example:"
expect_out "  ckpt-tool diff "
expect_rc 0 ckpt-tool --version
expect_out "0.1.0"
echo "ok"
