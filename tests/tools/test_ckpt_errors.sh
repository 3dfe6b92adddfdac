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
expect_err "utf8.safetensors: header: not valid UTF-8"
{ le64 6; printf '{"a":['; } > json.safetensors
expect_rc 2 ckpt-tool info json.safetensors
expect_err "json.safetensors: header: invalid JSON"
# The data section must be entirely indexed: a gap between tensors is refused, naming it.
craft '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' \
  '\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18' > gap.safetensors
for cmd in info convert; do
  expect_rc 2 ckpt-tool $cmd gap.safetensors $([ $cmd = convert ] && echo gap-out.safetensors)
  expect_err "gap.safetensors: data_offsets: bytes 8-16 of the data section are indexed by no tensor (a gap between tensor 'x' and tensor 'y')"
done
expect_no_file gap-out.safetensors
craft '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' '\x01\x02\x03\x04\x05\x06\x07\x08trailing' > tail.safetensors
expect_rc 2 ckpt-tool info tail.safetensors
expect_err "bytes 8-16 at the end of the data section are indexed by no tensor"
# A folder given where a file is expected says so.
mkdir dir.safetensors dir.h5 hf-with-dir hf-with-dir/model.safetensors
expect_rc 2 ckpt-tool info dir.safetensors
expect_err "dir.safetensors: is a folder, not a file"
expect_rc 2 ckpt-tool convert dir.h5 x.safetensors
expect_err "dir.h5: is a folder, not a file"
expect_rc 2 ckpt-tool info hf-with-dir
expect_err "hf-with-dir/model.safetensors: is a folder, not a safetensors file"
expect_rc 2 ckpt-tool convert "$orig" dir.safetensors --format safetensors
expect_err "dir.safetensors: is a folder; expected the path of a file to write"
# A file output's missing parent folders are created, as for folder outputs (one rule for all).
expect_rc 0 ckpt-tool convert "$orig" nope/dir/x.safetensors
expect_rc 0 ckpt-tool convert "$orig" nope2/dir/hf --shard-size 300KB
expect_rc 0 ckpt-tool diff nope/dir/x.safetensors nope2/dir/hf --atol 0 --rtol 0
if ckpt-tool convert "$orig" probe.h5 2>/dev/null; then
  expect_rc 0 ckpt-tool convert "$orig" nope3/dir/x.h5
  expect_rc 0 ckpt-tool diff "$orig" nope3/dir/x.h5 --atol 0 --rtol 0
fi
echo plain > plain
expect_rc 2 ckpt-tool convert "$orig" plain/x.safetensors
expect_err "plain"
expect_rc 2 ckpt-tool convert "$orig" plain --shard-size 300KB --format sharded
expect_err "plain: exists and is not a folder"
[ "$(cat plain)" = plain ] || fail "a folder output replaced a file"
# A folder output never replaces a folder that holds folders (a tree someone else owns).
mkdir -p tree/sub
expect_rc 2 ckpt-tool convert "$orig" tree
expect_err "tree: holds the folder 'sub'"
[ -d tree/sub ] || fail "tree/sub removed"
# Every numeric flag is finite: NaN tolerances would make any two checkpoints "equal".
for bad in nan inf -1 1e999; do
  expect_rc 2 ckpt-tool diff "$orig" "$orig" --atol "$bad"
  expect_err "--atol"
  expect_rc 2 ckpt-tool diff "$orig" "$orig" --rtol "$bad"
  expect_err "--rtol"
done
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
# --config: a subcommand's option given flat or nested under the subcommand's name.
echo '{"bitwise": true}' > flat.json
echo '{"diff": {"bitwise": true}}' > nested.json
for cfg in flat.json nested.json; do
  expect_rc 0 ckpt-tool diff "$orig" "$orig" --config $cfg --metrics m-$cfg
  grep -q '"bitwise": true' m-$cfg || fail "--config $cfg did not set diff's --bitwise"
done
echo "ok"
