# Helpers for tool tests: a clean scratch folder, exit-code and message assertions.
set -euo pipefail
: "${BIN:?BIN must name the folder of the built binaries}" "${DATA:?}" "${SCRATCH:?}"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SCRATCH"
export PATH="$BIN:$PATH"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_rc CODE CMD...: run CMD, stdout to ./out, stderr to ./err, and check its exit code.
expect_rc() {
  local want=$1; shift
  set +e
  "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
  local rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    echo "--- stdout"; cat "$SCRATCH/out"; echo "--- stderr"; cat "$SCRATCH/err"
    fail "expected exit $want, got $rc: $*"
  fi
}

expect_err() { grep -qF -- "$1" "$SCRATCH/err" || { cat "$SCRATCH/err"; fail "stderr lacks '$1'"; }; }
expect_out() { grep -qF -- "$1" "$SCRATCH/out" || { cat "$SCRATCH/out"; fail "stdout lacks '$1'"; }; }
expect_no_file() { [ ! -e "$1" ] || fail "$1 should not exist"; }
expect_no_temps() { ! ls -a "${1:-.}" | grep -q '\.tmp-' || { ls -la "${1:-.}"; fail "temp files left in ${1:-.}"; }; }

# A small trained model to work on (seeded, so the same every time).
make_model() {
  paramkit-smoke -q --train-images "$DATA/mnist-256-images-idx3-ubyte.gz" \
    --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --max-steps 2 --threads 1 --out "$1" >/dev/null
}

# Bytes of a little-endian u64 for crafting safetensors headers.
le64() { local n=$1 i; for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(( (n >> (8*i)) & 255 )))"; done; }

# sigterm_ends DELAY OUTPUT CMD...: one SIGTERM after DELAY seconds ends CMD within 10 s with exit 130,
# an 'interrupted' message, and OUTPUT not written.
sigterm_ends() {
  local delay=$1 output=$2; shift 2
  "$@" >/dev/null 2>"$SCRATCH/sig.err" &
  local pid=$! i
  sleep "$delay"
  kill -0 "$pid" 2>/dev/null || fail "$* ended before the signal (make the job longer)"
  kill -TERM "$pid"
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fail "$* still running 10 s after one SIGTERM"; fi
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ] || { cat "$SCRATCH/sig.err"; fail "$*: exit $rc after SIGTERM, expected 130"; }
  grep -q "interrupted" "$SCRATCH/sig.err" || fail "$*: no 'interrupted' message"
  expect_no_file "$output"
}

# same_report A.json B.json: the two JSON reports are equal apart from their "provenance" (which names
# each run's own flags and outputs).
same_report() {
  python3 -c 'import json, sys; strip = lambda f: {k: v for k, v in json.load(open(f)).items() if k != "provenance"}; sys.exit(strip(sys.argv[1]) != strip(sys.argv[2]))' "$1" "$2"
}
