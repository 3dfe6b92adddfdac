#!/usr/bin/env bash
# Builds everything and runs every test through ctest; any failure fails loudly (non-zero exit).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/build.sh
build_dir=${BUILD_DIR:-build}
if ! ctest --test-dir "$build_dir" --output-on-failure -j "${JOBS:-$(nproc)}" "$@"; then
  echo "test.sh: TESTS FAILED" >&2
  exit 1
fi
echo "test.sh: all tests passed in $(( $(date +%s) - start )) s"
