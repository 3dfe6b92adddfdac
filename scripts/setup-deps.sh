#!/usr/bin/env bash
# Installs what paramkit needs on Debian 12 (when run as root), or says exactly what to install.
# Idempotent: a second run only checks. Usage: scripts/setup-deps.sh [build|fuzz|data|bench|r]...
# r: R and its survival package, the oracle for survfit's golden numbers and benchmark.
set -euo pipefail

build_pkgs=(cmake ninja-build ccache g++ make pkg-config libtorch-dev libopenblas0-openmp libcli11-dev liblemon-dev
            nlohmann-json3-dev libfmt-dev libhdf5-dev doctest-dev zlib1g-dev libgloo-dev)
fuzz_pkgs=(clang libclang-rt-14-dev)
bench_pkgs=(bc python3-torch python3-numpy python3-scipy)
r_pkgs=(r-base-core r-cran-survival)

want=()
for group in "${@:-build}"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    fuzz) want+=("${fuzz_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    r) want+=("${r_pkgs[@]}") ;;
    data) command -v npm >/dev/null 2>&1 || want+=(npm) ;;
    *) echo "setup-deps: unknown group '$group' (build, fuzz, data, bench, r)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing Debian packages: ${missing[*]}" >&2
  echo "setup-deps: install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/paramkit-apt.log 2>&1; then
  apt-get update -q >>/tmp/paramkit-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/paramkit-apt.log 2>&1 || {
    echo "setup-deps: apt-get failed; see /tmp/paramkit-apt.log" >&2; tail -20 /tmp/paramkit-apt.log >&2; exit 1; }
fi

# LibTorch is 15-25x slower on the reference BLAS: make sure OpenBLAS (OpenMP) is the one in use.
if [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]; then
  update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 >/dev/null 2>&1 || true
  update-alternatives --set liblapack.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3 >/dev/null 2>&1 || true
fi
