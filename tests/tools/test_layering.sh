# The library's layers, as lib/CMakeLists.txt declares them: each domain includes only the domains it
# links; only the command layer (lib/*/cli) and tools/ use CLI11; the lower layers have no LibTorch.
source "$(dirname "$0")/lib.sh"
root=$(cd "$DATA/../.." && pwd)
declare -A allowed=(
  [core]="core"
  [numeric]="core numeric"
  [io]="core io"
  [text]="core io text"
  [cli]="core io cli data nn torch"
  [torch]="core io torch kernels"
  [data]="core io torch data"
  [nn]="core io torch data nn"
  [merge]="core io torch merge"
  [survival]="core io numeric survival"
  [nbody]="core io numeric torch nbody"
  [lm]="core io torch lm"
  [rlhf]="core io torch data nn lm text rlhf"
  [intdim]="core io intdim"
  [compress]="core io torch data nn compress kernels"
  [hpo]="core io torch data nn hpo"
  [cl]="core io torch data hpo cl"
  [ot]="core ot"
  [beam]="core beam"
  [gen]="core io torch data nn ot gen"
  [sb]="core io torch ot sb"
)
bad=0
for dir in "$root"/lib/include/paramkit/* "$root"/lib/src/*; do
  [ -d "$dir" ] || continue
  domain=$(basename "$dir")
  [ -n "${allowed[$domain]+x}" ] || { echo "lib domain '$domain' has no layer in test_layering.sh"; bad=1; continue; }
  while IFS= read -r line; do
    file=${line%%:*}
    dep=$(sed -E 's#.*"paramkit/([a-z_]+)/.*#\1#' <<<"$line")
    if [[ " ${allowed[$domain]} " != *" $dep "* ]]; then
      echo "$file: $domain may not include paramkit/$dep/ (allowed: ${allowed[$domain]})"
      bad=1
    fi
  done < <(grep -rH '#include "paramkit/' "$dir" || true)
  if [ "$domain" != cli ] && grep -rlE '#include <CLI/' "$dir"; then
    echo "^ CLI11 outside the command layer ($domain)"; bad=1
  fi
  case "$domain" in core|numeric|io|cli|text|intdim|ot|beam)
    if grep -rlE '#include <(torch/|ATen/|c10/)' "$dir"; then echo "^ LibTorch in the LibTorch-free layer $domain"; bad=1; fi ;;
  esac
done
# cli/nn_options is the one command-layer file that may use nn (it builds the paramkit_cli_nn target).
if grep -lE '#include "paramkit/(nn|data|torch)/' "$root"/lib/src/cli/*.cpp "$root"/lib/include/paramkit/cli/*.h | grep -v nn_options; then
  echo "^ the command layer (paramkit_cli) must not use LibTorch domains outside nn_options"; bad=1
fi
# ctest's doctest discovery splits test names at ';' and reads '[' ']' as CMake list brackets (an
# unbalanced one glues the following tests into one): such a case would run nothing and pass.
if grep -nE 'TEST_CASE\("[^"]*[][;]' "$root"/tests/unit/*.cpp; then
  echo "^ a doctest name with ';', '[' or ']' breaks ctest's test list: use ',' and parentheses"; bad=1
fi
[ $bad -eq 0 ] || fail "layering violated"
echo "ok"
