# A training job killed with SIGKILL and resumed ends with exactly the parameters of an uninterrupted
# run (CPU, one thread). SIGTERM stops at a safe point with a checkpoint and a non-zero exit.
source "$(dirname "$0")/lib.sh"
train=(paramkit-smoke -q --threads 1 --train-images "$DATA/mnist-256-images-idx3-ubyte.gz"
       --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --epochs 3 --batch-size 32
       --optimizer adamw --schedule cosine --warmup 3 --seed 4)
SOURCE_DATE_EPOCH=1 "${train[@]}" --out straight --log-every 1 --log-jsonl straight.jsonl >/dev/null

set +e
PARAMKIT_TEST_KILL_AT_STEP=11 "${train[@]}" --out resumed --checkpoint ck.safetensors --checkpoint-every 4 \
  --log-every 1 --log-jsonl resumed.jsonl 2>/dev/null
rc=$?
set -e
[ $rc -eq 137 ] || fail "the job was not killed (exit $rc)"
[ -f ck.safetensors ] || fail "no checkpoint after the kill"
expect_no_file resumed/manifest.json
expect_rc 0 ckpt-tool info ck.safetensors --json
expect_out '\"step\":8'
[ "$(wc -l < resumed.jsonl)" -eq 11 ] || fail "expected 11 log lines before the kill"
SOURCE_DATE_EPOCH=1 "${train[@]}" --out resumed --checkpoint ck.safetensors --checkpoint-every 4 --resume \
  --log-every 1 --log-jsonl resumed.jsonl > res.json
grep -q '"resumed":true' res.json || fail "did not resume"
expect_rc 0 ckpt-tool diff straight/model.safetensors resumed/model.safetensors --atol 0 --rtol 0
cmp straight.jsonl resumed.jsonl || fail "the resumed job's step log differs from the uninterrupted one"
[ "$(wc -l < straight.jsonl)" -eq 24 ] || fail "expected 24 step records"
expect_no_temps .

# SIGTERM: stop at the next safe point, leave the checkpoint, exit non-zero, no final outputs.
"${train[@]}" --epochs 2000 --out term --checkpoint term.safetensors --checkpoint-every 50 >/dev/null 2>term.err &
pid=$!
for _ in $(seq 1 300); do [ -f term.safetensors ] && break; sleep 0.1; done
[ -f term.safetensors ] || { kill -9 $pid; fail "no checkpoint appeared"; }
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 130 ] || { cat term.err; fail "SIGTERM gave exit $rc, expected 130"; }
grep -q "interrupted" term.err || fail "no 'interrupted' message"
expect_no_file term/manifest.json
ckpt-tool info term.safetensors >/dev/null
expect_no_temps .
echo "ok"
