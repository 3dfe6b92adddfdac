# A writer killed with SIGKILL mid-write leaves the previous file (or folder) intact; the next writer
# removes the dead writer's temp file (or folder). Readers refuse shard sets that are incomplete or
# disagree with their index. One SIGTERM ends a large conversion with exit 130 and no output.
source "$(dirname "$0")/lib.sh"
make_model m
orig=m/model.safetensors
ckpt-tool convert "$orig" out.safetensors --dtype F16
cp out.safetensors before.safetensors
set +e
PARAMKIT_TEST_KILL_AFTER_TENSOR=2 ckpt-tool convert "$orig" out.safetensors 2>/dev/null
rc=$?
set -e
[ $rc -eq 137 ] || fail "the writer was not killed (exit $rc)"
cmp out.safetensors before.safetensors || fail "the previous output changed"
ls -a | grep -q '^\.out\.safetensors\.tmp-' || fail "expected the killed writer's temp file"
ckpt-tool info out.safetensors >/dev/null
# The next run removes it and writes the new output.
ckpt-tool convert "$orig" out.safetensors
expect_no_temps .
ckpt-tool diff "$orig" out.safetensors --atol 0 --rtol 0 >/dev/null

# --- Folder outputs appear whole or not at all.
# The model (1 MB) at 300KB a shard is 3 shards; at F16 and 150KB, the same 3 with the same names.
ckpt-tool convert "$orig" hf --shard-size 300KB
echo '{"model_type":"mlp"}' > hf/config.json
cp -r hf hf.before
set +e
PARAMKIT_TEST_KILL_AFTER_SHARD=0 ckpt-tool convert "$orig" hf --shard-size 150KB --dtype F16 2>/dev/null
rc=$?
set -e
[ $rc -eq 137 ] || fail "the folder writer was not killed (exit $rc)"
diff -r hf hf.before >/dev/null || fail "a killed rewrite changed the old folder"
ls -a | grep -q '^\.hf\.tmp-' || fail "expected the killed writer's temp folder"
expect_rc 0 ckpt-tool diff "$orig" hf --atol 0 --rtol 0
# The next write removes the dead writer's temp folder and replaces the weights, keeping config.json.
expect_rc 0 ckpt-tool convert "$orig" hf --shard-size 150KB --dtype F16
expect_no_temps .
! ls -a | grep -q '^\.hf\.' || fail "temp folder left beside hf"
expect_rc 0 ckpt-tool info hf --json
expect_out '"dtype": "F16"'
! grep -q '"dtype": "F32"' out || fail "F32 tensors left after the F16 rewrite"
[ -f hf/config.json ] || fail "the folder's config.json was not kept"
# A fresh folder killed after its first shard is not there at all.
set +e
PARAMKIT_TEST_KILL_AFTER_SHARD=0 ckpt-tool convert "$orig" fresh/hf --shard-size 300KB 2>/dev/null
rc=$?
set -e
[ $rc -eq 137 ] || fail "the fresh folder writer was not killed (exit $rc)"
[ ! -e fresh/hf ] || fail "a killed fresh write left fresh/hf"
expect_rc 2 ckpt-tool info fresh/hf
expect_rc 0 ckpt-tool convert "$orig" fresh/hf --shard-size 300KB
expect_no_temps fresh
! ls -a fresh | grep -q '^\.hf\.' || fail "temp folder left beside fresh/hf"
# pcb-merge's folder outputs take the same path.
set +e
PARAMKIT_TEST_KILL_AFTER_SHARD=0 pcb-merge -q --method linear --models "$orig" "$orig" -o merged --shard-size 300KB 2>/dev/null
rc=$?
set -e
[ $rc -eq 137 ] || fail "the pcb-merge folder writer was not killed (exit $rc)"
[ ! -e merged ] || fail "a killed pcb-merge left its output folder"
expect_rc 0 pcb-merge -q --method linear --models "$orig" "$orig" -o merged --shard-size 300KB
! ls -a | grep -q '^\.merged\.' || fail "temp folder left beside merged"

# --- Readers refuse a shard set that is incomplete or disagrees with its index (exit 2, naming the file).
# The old index with one shard of an F16 rewrite (what a killed in-place rewrite used to leave).
ckpt-tool convert "$orig" f32 --shard-size 300KB
ckpt-tool convert "$orig" f16 --shard-size 150KB --dtype F16
cp -r f32 mixed
cp f16/model-00001-of-00003.safetensors mixed/
expect_rc 2 ckpt-tool info mixed
expect_err "mixed/model-00001-of-00003.safetensors: __metadata__.provenance: differs from that of mixed/model.safetensors.index.json"
# The first shard of a fresh folder alone (what a killed fresh write used to leave).
mkdir lone
cp f32/model-00001-of-00003.safetensors lone/
for cmd in "ckpt-tool info lone" "ckpt-tool convert lone lone.safetensors" \
    "pcb-merge -q --method task_arithmetic --base lone --models $orig -o lone-merged.safetensors"; do
  expect_rc 2 $cmd
  expect_err "lone: 'model-00002-of-00003.safetensors' is missing"
done
expect_no_file lone.safetensors
expect_no_file lone-merged.safetensors
# A shard the index names is missing; an index entry absent from its shard.
cp -r f32 holed
rm holed/model-00002-of-00003.safetensors
expect_rc 2 ckpt-tool info holed
expect_err "shard 'model-00002-of-00003.safetensors' is missing"
cp -r f32 swapped
cp f32/model-00003-of-00003.safetensors swapped/model-00002-of-00003.safetensors
expect_rc 2 ckpt-tool info swapped
expect_err "swapped/model-00002-of-00003.safetensors: tensor 'layers.0.weight': listed in model.safetensors.index.json but not in the shard"

# --- One SIGTERM ends a large conversion promptly: exit 130, no output, no temp file.
# A ~200 MB file: a small tensor first (the output's temp file appears once it is written), then one of
# 200 MB whose read and cast the signal interrupts.
n=52428800
h="{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"big\":{\"dtype\":\"F32\",\"shape\":[$n],\"data_offsets\":[8,$((8 + 4 * n))]}}"
h="$h$(printf '%*s' $(( (8 - ${#h} % 8) % 8 )) '')"
{ le64 ${#h}; printf '%s' "$h"; head -c $((8 + 4 * n)) /dev/urandom; } > big.safetensors
ckpt-tool info big.safetensors >/dev/null
# term_during OUT PATTERN CMD...: start CMD, send one SIGTERM once PATTERN (its temp output) exists,
# and expect exit 130 within a generous guard, with no output and no temp left.
term_during() {
  local out=$1 pattern=$2; shift 2
  "$@" 2>"$SCRATCH/err" &
  local pid=$! i
  for i in $(seq 2000); do compgen -G "$pattern" >/dev/null && break; sleep 0.005; done
  compgen -G "$pattern" >/dev/null || fail "no temp output appeared: $*"
  kill -TERM $pid
  # The guard: a stop that takes 30 s is a hang (the process is then killed and the test fails).
  for i in $(seq 600); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  kill -KILL $pid 2>/dev/null || true
  set +e
  wait $pid
  local rc=$?
  set -e
  [ $rc -eq 130 ] || { cat "$SCRATCH/err"; fail "one SIGTERM: expected exit 130, got $rc: $*"; }
  expect_err "interrupted"
  [ ! -e "$out" ] || fail "$out left after SIGTERM"
  ! compgen -G "$pattern" >/dev/null || fail "temp output left after SIGTERM: $*"
}
term_during big16.safetensors '.big16.safetensors.tmp-*' ckpt-tool convert big.safetensors big16.safetensors --dtype F16
term_during bigdir '.bigdir.tmp-*' ckpt-tool convert big.safetensors bigdir --shard-size 50MB
if ckpt-tool convert "$orig" probe.h5 2>/dev/null; then
  term_during big.h5 '.big.h5.tmp-*' ckpt-tool convert big.safetensors big.h5 --compress 9
fi
rm big.safetensors
expect_no_temps .
echo "ok"
