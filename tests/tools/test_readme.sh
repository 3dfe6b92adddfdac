# Every tool README's example runs as written (build/bin replaced by the build's bin folder).
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for readme in "$root"/tools/*/README.md; do
  block=$(sed -n '/<!-- example:start -->/,/<!-- example:end -->/p' "$readme" | grep -v '^<!--' | grep -v '^```')
  [ -n "$block" ] || fail "$readme has no example block"
  (cd "$root" && bash -euo pipefail -c "${block//build\/bin\//$BIN/}") || fail "example of $readme failed"
done
echo "ok"
