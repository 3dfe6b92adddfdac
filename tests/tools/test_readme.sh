# Every tool README's example runs as written (build/bin replaced by the build's bin folder).
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
# Builds without HDF5 (-DPARAMKIT_WITH_HDF5=OFF) cannot run examples that write .h5 files.
make_model m
have_h5=1
ckpt-tool convert m/model.safetensors probe.h5 2>/dev/null || have_h5=0
for readme in "$root"/tools/*/README.md; do
  block=$(sed -n '/<!-- example:start -->/,/<!-- example:end -->/p' "$readme" | grep -v '^<!--' | grep -v '^```')
  [ -n "$block" ] || fail "$readme has no example block"
  if [ $have_h5 = 0 ] && grep -q '\.h5' <<<"$block"; then
    echo "skipped (no HDF5 in this build): $readme"
    continue
  fi
  (cd "$root" && bash -euo pipefail -c "${block//build\/bin\//$BIN/}") || fail "example of $readme failed"
done
echo "ok"
