#!/usr/bin/env bash
# Builds paramkit (Release), fetches the example data when missing, runs the examples pipeline over
# every tool that exists and summarises what it produced. Idempotent: a second run redoes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh build data
./scripts/build.sh >/dev/null
./scripts/fetch-data.sh
start=$(date +%s)
make -C examples --no-print-directory BIN="$PWD/build/bin" DATA="$PWD/data/mnist" OUT="$PWD/examples/out"
out=examples/out
echo
echo "demo: finished in $(( $(date +%s) - start )) s; outputs in $out/"
json_field() { grep -o "\"$2\": *[^,}]*" "$1" | head -1 | cut -d: -f2 | tr -d ' '; }
echo "  paramkit-smoke  $out/smoke/model.safetensors  (MLP on MNIST: test accuracy $(json_field $out/smoke/results.json test_accuracy), $(json_field $out/smoke/results.json steps) steps)"
echo "                  $out/smoke/eval.json, metrics.json, manifest.json"
echo "  pcb-merge       $out/merge/table.md, table.svg  (MNIST: 3 digit-subset fine-tunes merged by task_arithmetic, ties, dare_ties, pcb; test accuracy)"
sed 's/^/                  /' "$out/merge/table.md"
echo "  ckpt-tool       $out/ckpt/info.json  ($(json_field $out/ckpt/info.json parameters) parameters)"
echo "                  $out/ckpt/model.h5  (HDF5, gzip), $out/ckpt/hf/  ($(ls $out/ckpt/hf/*.safetensors | wc -l) shards + index)"
echo "                  $out/ckpt/diff-h5.json  (equal: $(json_field $out/ckpt/diff-h5.json equal)), $out/ckpt/diff-bf16.json  (BF16 within 2^-7 relative: $(json_field $out/ckpt/diff-bf16.json equal))"
echo "  survfit         $out/survival/  (veteran trial: Kaplan-Meier by treatment, Weibull / log-logistic / APGW / MPR fits over KM as SVG)"
echo "                  APGW logLik $(json_field $out/survival/apgw.json loglik), kappa = 1 nested $(json_field $out/survival/apgw-k1.json loglik); LR test p = $(json_field $out/survival/lrt.json p)"
echo "  nbody-rl        $out/nbody/  (figure-eight with IAS15: |dE/E| $(json_field $out/nbody/fig8.json relative_energy_error); DQN policy, eval.json, pareto.svg)"
