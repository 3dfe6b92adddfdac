#!/usr/bin/env bash
# Configures and builds paramkit (Release, Ninja, ccache + precompiled headers) into BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
"$PWD/scripts/setup-deps.sh" build
build_dir=${BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} ${CMAKE_ARGS:-} >/dev/null
fi
jobs=${JOBS:-$(nproc)}
cmake --build "$build_dir" -j "$jobs" "$@"
