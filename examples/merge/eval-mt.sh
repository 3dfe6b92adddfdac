#!/usr/bin/env bash
# Scores a trunk on several MNIST tasks, each with its own head, and prints one number: the mean accuracy.
# Usage: eval-mt.sh BIN DATA SPLIT SEED DIR MODEL TASK...
#   SPLIT: val (the split of the training set that SEED's runs held out) or test. The head of task T is
#   read from DIR/ft-T/model.safetensors; {task} in MODEL is replaced by the task (a fine-tune per task).
# With MORE=1 it prints "task accuracy" lines before the mean (for the results table).
set -euo pipefail
bin=$1 data=$2 split=$3 seed=$4 dir=$5 model=$6
shift 6
src=(--train-images "$data/train-images-idx3-ubyte" --train-labels "$data/train-labels-idx1-ubyte")
[ "$split" = test ] && src+=(--test-images "$data/t10k-images-idx3-ubyte" --test-labels "$data/t10k-labels-idx1-ubyte")
sum=0
for t in "$@"; do
  acc=$("$bin/paramkit-smoke" -q --threads 1 --seed "$seed" "${src[@]}" --task "$t" --eval-only \
        --init "${model//\{task\}/$t}" --head "$dir/ft-$t/model.safetensors")
  [ "${MORE:-0}" = 1 ] && echo "$t $acc"
  sum=$(echo "$sum + $acc" | bc -l)
done
echo "$sum / $#" | bc -l
