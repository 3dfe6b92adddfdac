#!/usr/bin/env bash
# One call on the GPU machine: build against PyTorch's CUDA LibTorch (kernels/ on, HDF5 off), run every
# test (GPU-labelled ones included), the smoke example on CUDA, and the GPU benchmark. Results in $OUT.
# Prepare here first: scripts/device/prepare-deps.sh; then run with carry [".deps"].
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
exec > >(tee "$out/check.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
prefix="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)');$PWD/.deps/usr"
t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DPARAMKIT_WITH_HDF5=OFF -DPARAMKIT_WITH_CUDA=ON \
  -DZLIB_LIBRARY="$PWD/.deps/usr/lib/x86_64-linux-gnu/libz.a" -DZLIB_INCLUDE_DIR="$PWD/.deps/usr/include" || exit 1
cmake --build build-gpu -j 16 -- -k 0; echo "build exit: $?"
echo "build: $(( $(date +%s) - t0 )) s"
( cd build-gpu && ctest -j 8 --output-on-failure ) ; echo "ctest exit: $?"
( cd build-gpu && ctest -L gpu --output-on-failure ) ; echo "ctest gpu exit: $?"
./build-gpu/bin/paramkit-smoke --device cuda --train-images tests/data/mnist-256-images-idx3-ubyte.gz \
  --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --epochs 5 --out /tmp/smoke-gpu --metrics "$out/smoke-gpu.json"
echo "smoke on cuda exit: $?"
./build-gpu/bin/bench-decode $((1 << 28)) /tmp | tee "$out/bench_decode.json"
echo "bench exit: $?"
