#!/usr/bin/env bash
# Scores a merged MNIST MLP on every task (digit subsets) and prints one number: the mean accuracy.
# Usage: eval-tasks.sh BIN DATA SPLIT MODEL [TASK ...]   SPLIT: val (seeded split of the training set) or test
# With MORE=1 it prints "task accuracy" lines before the mean (for the results table).
set -euo pipefail
bin=$1 data=$2 split=$3 model=$4
shift 4
tasks=("${@:-0,1,2,3 4,5,6 7,8,9}")
tasks=(${tasks[@]})
sum=0
for t in "${tasks[@]}"; do
  if [ "$split" = test ]; then
    src=(--train-images "$data/train-images-idx3-ubyte" --train-labels "$data/train-labels-idx1-ubyte"
         --test-images "$data/t10k-images-idx3-ubyte" --test-labels "$data/t10k-labels-idx1-ubyte")
  else
    src=(--train-images "$data/train-images-idx3-ubyte" --train-labels "$data/train-labels-idx1-ubyte")
  fi
  acc=$("$bin/paramkit-smoke" -q --threads 1 "${src[@]}" --digits "$t" --eval-only --init "$model")
  [ "${MORE:-0}" = 1 ] && echo "$t $acc"
  sum=$(echo "$sum + $acc" | bc -l)
done
echo "$sum / ${#tasks[@]}" | bc -l
