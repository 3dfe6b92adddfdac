# A writer killed with SIGKILL mid-write leaves the previous file intact; the next writer removes the
# dead writer's temp file.
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
echo "ok"
