#!/usr/bin/env bash
# Extracts the build dependencies the GPU machine lacks (CLI11, fmt, nlohmann/json, doctest, zlib headers)
# from Debian's packages into DIR (default .deps, ignored by git) so that a build there finds them with
# CMAKE_PREFIX_PATH=DIR/usr. Run here, then carry DIR to the device (scripts/device/check.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-.deps}
mkdir -p "$dir/debs"
( cd "$dir/debs" && apt-get download libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9 doctest-dev zlib1g-dev >/dev/null 2>&1 )
for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$dir"; done
rm -rf "$dir/debs"
grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo '/.deps/' >> .git/info/exclude
echo "prepare-deps: headers in $dir/usr/include: $(ls "$dir/usr/include" | tr '\n' ' ')"
