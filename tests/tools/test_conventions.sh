# Every promise of the README, checked on every binary in the build's bin folder, so a new tool is
# checked the day it lands. A binary needs tests/tools/conventions/<binary>.sh (benchmark helpers,
# bench-*, are not tools), which declares, with the placeholders @OUT@ (an output path), @MISSING@ (an
# input that does not exist) and @CKPT@ (a checkpoint path):
#   quick=(...)     a successful run of a second or less that writes @OUT@ (or nothing)
#   missing=(...)   a run whose input @MISSING@ does not exist: exit 2 naming it, @OUT@ not written
#   long=(...)      optional, each command that trains or runs long: writes @OUT@, checkpoints to @CKPT@;
#                   the test sends one SIGTERM after long_term_after seconds (default 2): exit 130 and
#                   a checkpoint, then --resume finishes with the same bytes as an uninterrupted run.
#   long2=(...)     optional, a second such command (long3 ... likewise).
#   out_suffix=...  optional, the extension @OUT@ gets (e.g. .safetensors); default none.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.sh"
decl_dir="$here/conventions"
root=$(cd "$here/../.." && pwd)

# substitute CMD... -> the global array cmd with placeholders filled in.
substitute() {
  cmd=()
  local a
  for a in "$@"; do
    a=${a//@OUT@/$out}
    a=${a//@MISSING@/$missing_path}
    a=${a//@CKPT@/$ckpt}
    cmd+=("$a")
  done
}

# Same bytes: tensors compared bitwise (provenance metadata aside), JSON reports without their
# provenance (which names the run's own flags: --checkpoint, --resume, the output), other files byte for
# byte without their provenance lines.
same_output() {
  local a=$1 b=$2
  case "$a" in
    *.safetensors|*.h5) ckpt-tool diff -q --bitwise "$a" "$b" >/dev/null ;;
    *.json) same_report "$a" "$b" ;;
    *) if [ -d "$a" ]; then
         # A folder of tensors (a Hugging Face layout) compares as tensors; any other folder file by file.
         if ls "$a" | grep -q '\.safetensors$'; then ckpt-tool diff -q --bitwise "$a" "$b" >/dev/null; return; fi
         [ "$(ls "$a")" = "$(ls "$b")" ] || return 1
         local f
         for f in $(ls "$a"); do same_output "$a/$f" "$b/$f" || return 1; done
         return 0
       fi
       cmp -s <(grep -v '"time"\|"git_commit"' "$a") <(grep -v '"time"\|"git_commit"' "$b") ;;
  esac
}

tools=()
for exe in "$BIN"/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe")
  case "$name" in bench-*) continue ;; esac
  tools+=("$name")
done
[ ${#tools[@]} -ge 1 ] || fail "expected the tools in $BIN, found: ${tools[*]}"
export SOURCE_DATE_EPOCH=0

# ctest runs one test per tool ("tool: conventions <tool>", CONVENTIONS_TOOL set), in parallel and each
# within its time limit; without CONVENTIONS_TOOL this checks that every binary declares how it is
# checked and every declaration names a binary.
if [ -z "${CONVENTIONS_TOOL:-}" ]; then
  for tool in "${tools[@]}"; do
    [ -f "$decl_dir/$tool.sh" ] || fail "$tool has no conventions declaration ($decl_dir/$tool.sh): every binary in bin/ must declare how it is checked"
  done
  for decl in "$decl_dir"/*.sh; do
    [ -x "$BIN/$(basename "$decl" .sh)" ] || fail "$decl declares a tool that is not in $BIN"
  done
  echo "test_conventions: ${#tools[@]} tools declared (each checked by 'tool: conventions <tool>')"
  exit 0
fi
[ -x "$BIN/$CONVENTIONS_TOOL" ] || fail "CONVENTIONS_TOOL=$CONVENTIONS_TOOL is not a binary in $BIN"
tools=("$CONVENTIONS_TOOL")

for tool in "${tools[@]}"; do
  echo "== $tool"
  decl="$decl_dir/$tool.sh"
  [ -f "$decl" ] || fail "$tool has no conventions declaration ($decl): every binary in bin/ must declare how it is checked"
  quick=() missing=() long=() long2=() long3=() long_term_after=2 out_suffix=""
  # shellcheck disable=SC1090
  source "$decl"
  [ ${#quick[@]} -gt 0 ] && [ ${#missing[@]} -gt 0 ] || fail "$decl must set quick=(...) and missing=(...)"
  work="$SCRATCH/$tool"
  mkdir -p "$work"
  out="$work/out-quick$out_suffix" missing_path="$work/no-such-input" ckpt="$work/ckpt"

  # --help: exit 0 and an example line that names the binary; each subcommand's --help likewise.
  expect_rc 0 "$tool" --help
  grep -qE "^  $tool( |$)" "$SCRATCH/out" || fail "$tool --help has no example line naming the binary"
  subs=$(sed -n '/^Subcommands:/,/^$/p' "$SCRATCH/out" | awk 'NR > 1 && NF { print $1 }')
  for sub in $subs; do
    expect_rc 0 "$tool" "$sub" --help
    grep -qE "^  $tool $sub( |$)" "$SCRATCH/out" || fail "$tool $sub --help has no example line naming '$tool $sub'"
    # An unknown flag after the subcommand: exit 2, a message on stderr, nothing on stdout.
    expect_rc 2 "$tool" "$sub" --no-such-flag-xyz
    [ -s "$SCRATCH/err" ] && [ ! -s "$SCRATCH/out" ] || fail "$tool $sub: unknown flag must be reported on stderr only"
  done
  if [ -n "$subs" ]; then
    expect_rc 2 "$tool" no-such-subcommand
    expect_err "no-such-subcommand"
  fi

  # Every example of --help runs as written from the repository root (outputs under /tmp are moved into
  # the scratch folder), in the order shown.
  expect_rc 0 "$tool" --help
  mkdir -p "$work/examples"
  while IFS= read -r line; do
    line=${line#  }
    (cd "$root" && timeout 120 bash -euo pipefail -c "${line//\/tmp\//$work/examples/}") >"$work/example.log" 2>&1 ||
      { cat "$work/example.log"; fail "$tool: the help example does not run: $line"; }
  done < <(sed -n '/^Examples\{0,1\}:/,/^$/p' "$SCRATCH/out" | grep -E "^  $tool( |$)")

  # --version: the tool's name and version.
  expect_rc 0 "$tool" --version
  grep -qE "^$tool [0-9]+\.[0-9]+" "$SCRATCH/out" || fail "$tool --version must print '$tool VERSION'"

  # An unknown flag: exit 2, a message on stderr, nothing on stdout.
  expect_rc 2 "$tool" --no-such-flag-xyz
  [ -s "$SCRATCH/err" ] || fail "$tool: no message for an unknown flag"
  [ ! -s "$SCRATCH/out" ] || fail "$tool: stdout must stay empty on a usage error"
  expect_err "no-such-flag-xyz"

  # A missing input file: exit 2, the file named, no output left behind.
  substitute "${missing[@]}"
  expect_rc 2 "$tool" "${cmd[@]}"
  expect_err "no-such-input"
  [ ! -e "$out" ] || fail "$tool left $out behind after a missing input"
  expect_no_temps "$work"

  # The quick run, with common flags before and after the subcommand, and --metrics.
  substitute "${quick[@]}"
  expect_rc 0 "$tool" -q "${cmd[@]}"
  rm -rf "$out"
  expect_rc 0 "$tool" "${cmd[@]}" -q --seed 1 --threads 1 --metrics "$work/metrics.json"
  python3 - "$work/metrics.json" "$tool" <<'PY' || fail "$tool --metrics lacks a promised field"
import json, sys
m = json.load(open(sys.argv[1]))
for k in ("tool", "version", "provenance", "wall_s", "peak_rss_bytes", "results"):
    assert k in m, k
assert m["tool"] == sys.argv[2], m["tool"]
p = m["provenance"]
for k in ("tool", "version", "git_commit", "config", "seed", "time"):
    assert k in p, "provenance." + k
assert p["seed"] == 1 and p["config"]["threads"] == 1, p
assert isinstance(m["wall_s"], (int, float)) and m["wall_s"] >= 0
assert m["peak_rss_bytes"] > 0
PY
  # Outputs are checked before any work: under a file (not a folder) -> exit 2 naming the flag, and
  # the run's other outputs are not written.
  : > "$work/afile"
  rm -rf "$out"
  expect_rc 2 "$tool" "${cmd[@]}" --metrics "$work/afile/m.json"
  expect_err "--metrics"
  [ ! -e "$out" ] || fail "$tool wrote $out although --metrics could not be written"
  saved_out=$out
  out="$work/afile/out$out_suffix"
  substitute "${quick[@]}"
  expect_rc 2 "$tool" "${cmd[@]}"
  expect_err "afile"
  out=$saved_out
  substitute "${quick[@]}"
  # Common numeric flags are validated by name: negative or non-finite seeds, absurd thread counts.
  for bad in "--seed -1" "--seed nan" "--threads 100000" "--threads -2"; do
    expect_rc 2 "$tool" "${cmd[@]}" $bad
    expect_err "${bad%% *}"
    [ ! -e "$out" ] || fail "$tool wrote $out with $bad"
  done
  # --config: a known key works, an unknown key is exit 2 naming it.
  rm -rf "$out"
  echo '{"seed": 3}' > "$work/good.json"
  expect_rc 0 "$tool" "${cmd[@]}" --config "$work/good.json"
  echo '{"no-such-key-xyz": 1}' > "$work/bad.json"
  rm -rf "$out"
  expect_rc 2 "$tool" "${cmd[@]}" --config "$work/bad.json"
  expect_err "no-such-key-xyz"
  # Asking for CUDA where there is none is an error, never a silent fallback.
  if ! nvidia-smi >/dev/null 2>&1; then
    rm -rf "$out"
    expect_rc 2 "$tool" "${cmd[@]}" --device cuda
  fi

  # Long runs: one SIGTERM -> exit 130 with a checkpoint; --resume ends with an uninterrupted run's bytes.
  for var in long long2 long3; do
    eval "spec=(\"\${$var[@]}\")"
    [ ${#spec[@]} -gt 0 ] || continue
    out="$work/$var-ref$out_suffix" ckpt="$work/$var-ref.ckpt"
    substitute "${spec[@]}"
    expect_rc 0 "$tool" -q "${cmd[@]}"
    ref=$out
    out="$work/$var-run$out_suffix" ckpt="$work/$var-run.ckpt"
    substitute "${spec[@]}"
    set +e
    "$tool" -q "${cmd[@]}" >/dev/null 2>"$work/term.err" &
    pid=$!
    sleep "$long_term_after"
    kill -TERM $pid
    for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "$tool $var: still running 10 s after SIGTERM"; }
    wait $pid
    rc=$?
    set -e
    [ $rc -eq 130 ] || { cat "$work/term.err"; fail "$tool $var: SIGTERM gave exit $rc, expected 130 (did the run end before the signal?)"; }
    [ -e "$ckpt" ] || fail "$tool $var: no checkpoint at $ckpt after SIGTERM"
    [ ! -e "$out" ] || fail "$tool $var: an interrupted run must not leave its output"
    expect_rc 0 "$tool" -q "${cmd[@]}" --resume
    same_output "$ref" "$out" || fail "$tool $var: resumed output differs from an uninterrupted run"
    echo "   $var: SIGTERM -> 130, resumed to the same bytes"
  done
  echo "   ok"
done
echo "conventions: ${#tools[@]} binaries checked: ${tools[*]}"
