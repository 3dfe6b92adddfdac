#!/usr/bin/env bash
# Benchmark of widenet-train's MoE layer and training step: MoE forward + backward tokens/s with index
# dispatch against the dense one-hot-einsum dispatch and against a dense FFN of the same active FLOPs
# (goal: at most 1.5x the dense FFN's time), and a training step of ViT-MoE and WideNet against ViT at
# depth 6 and 12 (width 64, batch 128, 7x7 patches of 28x28 images). THREADS (default 1). Prints JSON,
# also saved to bench-out/widenet.json. NO_BUILD=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-moe >/dev/null
mkdir -p bench-out
"$PWD/build/bin/bench-moe" "${THREADS:-1}" "${DEVICE:-cpu}" | tee bench-out/widenet.json
