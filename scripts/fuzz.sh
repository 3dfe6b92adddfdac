#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) for the safetensors, IDX, CSV and YAML readers and runs
# each for SECONDS (default 600). Logs and any crashing inputs land in fuzz-out/<target>/.
# Usage: scripts/fuzz.sh [SECONDS] [safetensors|idx|csv|yaml ...]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh build fuzz
secs=${1:-600}
shift || true
targets=("${@:-safetensors idx csv yaml}")
targets=(${targets[@]})
out=fuzz-out
mkdir -p "$out/bin"
mkdir -p fuzz-out
cmake -DSRC="$PWD" -DOUT="$PWD/fuzz-out/git_info.cpp" -P cmake/git-info.cmake
srcs=(lib/src/core/log.cpp lib/src/core/signals.cpp lib/src/core/provenance.cpp fuzz-out/git_info.cpp lib/src/io/json.cpp
      lib/src/io/dtype.cpp lib/src/io/safetensors.cpp lib/src/io/csv.cpp lib/src/io/idx.cpp lib/src/io/atomic_file.cpp
      lib/src/io/yaml_lite.cpp)
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Ilib/include -DPARAMKIT_VERSION=\"fuzz\")
status=0
for t in "${targets[@]}"; do
  bin="$out/bin/fuzz_$t"
  if [ ! -x "$bin" ] || [ -n "$(find "${srcs[@]}" lib/include "tests/fuzz/fuzz_$t.cpp" -newer "$bin" 2>/dev/null | head -1)" ]; then
    echo "fuzz: building $bin" >&2
    clang++ "${flags[@]}" "tests/fuzz/fuzz_$t.cpp" "${srcs[@]}" -DFMT_HEADER_ONLY -lz -o "$bin"
  fi
  work="$out/$t"
  mkdir -p "$work/corpus"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "fuzz: running $t for ${secs}s" >&2
  set +e
  "$bin" "$work/corpus" "tests/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$secs" -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 >"$work/log" 2>&1
  rc=$?
  set -e
  execs=$(grep -a 'stat::number_of_executed_units' "$work/log" | awk '{print $2}')
  cov=$(grep -a '#[0-9]*.*cov:' "$work/log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
  echo "fuzz: $t: exit $rc, ${execs:-?} executions, coverage ${cov:-?} edges, crashes: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null | wc -l)"
  [ $rc -eq 0 ] || status=1
done
exit $status
