#!/usr/bin/env bash
# One call on the GPU machine: build against PyTorch's CUDA LibTorch (kernels/ on, HDF5 off), run every
# test (GPU-labelled ones included), the smoke example on CUDA, paramkit_lm against transformers, and the
# GPU benchmarks. Results in $OUT (only 8 files come back: every result is also printed into check.log).
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
# widenet-train and stn-tune on CUDA (never run on a GPU yet): a tiny WideNet and an STN MLP with
# dropout and augmentation driven per example, each a few steps.
mn=(--train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz)
./build-gpu/bin/widenet-train --device cuda train "${mn[@]}" --model widenet --depth 4 --width 32 --epochs 2 --warmup 0 -o "$out/widenet-gpu.json"
echo "widenet on cuda exit: $?"
./build-gpu/bin/stn-tune --device cuda tune "${mn[@]}" --hidden 32 --hyper dropout.1 --hyper aug.shift --hyper aug.cutout_length \
  --hyper aug.cutout_holes --hyper aug.brightness --hyper aug.contrast --hyper l2 --epochs 3 --batch-size 32 -o /tmp/stn-gpu.json
echo "stn on cuda exit: $?"
# paramkit_lm against transformers (issue 11): logits parity of random GPT-2/Llama checkpoints saved by
# transformers, and greedy generation tokens/s at batch 32 x 128 new tokens (scripts/device/lm_transformers.py,
# not run on a GPU yet). Without transformers only the tests/data/lm fixtures are compared on CUDA.
lm_args=(--bin build-gpu/bin/bench-lm-logits --device cuda --json "$out/lm_transformers.json")
if python3 -c 'import transformers' 2>/dev/null; then
  PYTHONUNBUFFERED=1 timeout 300 python3 scripts/device/lm_transformers.py "${lm_args[@]}"
  echo "lm_transformers exit: $?"
else
  echo "lm_transformers: transformers SKIPPED (python3 cannot import transformers); fixtures only"
  PYTHONUNBUFFERED=1 timeout 120 python3 scripts/device/lm_transformers.py "${lm_args[@]}" --fixtures-only
  echo "lm_transformers (fixtures only) exit: $?"
fi
./build-gpu/bin/bench-decode $((1 << 28)) /tmp | tee "$out/bench_decode.json"
echo "bench exit: $?"
# rps-compress: the shared-weight gather and atomic scatter-add (kernels/shared.cu) against a device
# copy of the same bytes (goal: gather >= 70% of it), and compressed training steps against dense.
./build-gpu/bin/bench-rps 16 cuda | tee "$out/bench_rps.json"
echo "bench rps exit: $?"
# widenet-train: the MoE layer with index dispatch against one-hot einsums and an equal-FLOP dense FFN,
# and ViT / ViT-MoE / WideNet training steps, on the GPU (never run yet).
./build-gpu/bin/bench-moe 16 cuda | tee "$out/bench_moe.json"
echo "bench moe exit: $?"
# pcb-merge on the GPU against the CPU, on a synthetic 100M-parameter model with 3 fine-tunes: wall
# time of each method on each device, and the largest difference between the two merges.
./build-gpu/bin/bench-merge make /tmp/merge-gpu 100e6 3 > /dev/null
for m in task_arithmetic ties dare_ties pcb; do
  for dev in cpu cuda; do
    ./build-gpu/bin/pcb-merge -q --device $dev --base /tmp/merge-gpu/base --models /tmp/merge-gpu/ft1 /tmp/merge-gpu/ft2 /tmp/merge-gpu/ft3 \
      --method $m --density 0.2 --out /tmp/merge-gpu/out-$m-$dev --metrics "$out/merge-$m-$dev.json"
    echo "merge $m on $dev exit: $? wall: $(grep -o '"wall_s": [0-9.]*' "$out/merge-$m-$dev.json")"
  done
  ./build-gpu/bin/ckpt-tool diff /tmp/merge-gpu/out-$m-cpu /tmp/merge-gpu/out-$m-cuda --atol 1e-5 --rtol 0 --json > "$out/merge-$m-diff.json"
  echo "merge $m cpu vs cuda within 1e-5: exit $?"
done
