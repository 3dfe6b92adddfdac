#!/usr/bin/env bash
# Benchmark: read every tensor of a 2 GiB safetensors file vs `cat file > /dev/null` in the same run
# (page cache warm for both; goal ratio >= 0.8), and peak RSS of a lazy load of one 128 MiB tensor
# (goal: about the tensor's size, not the file's). Prints JSON; also saved to bench-out/safetensors_read.json.
# Usage: scripts/bench/safetensors_read.sh [GIB] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
gib=${1:-2}
reps=${2:-3}
./scripts/setup-deps.sh build bench
./scripts/build.sh --target bench-safetensors >/dev/null
bin=build/bin/bench-safetensors
mkdir -p bench-out
file=bench-out/bench-${gib}g.safetensors
[ -f "$file" ] || "$bin" make "$file" "$gib"
bytes=$(stat -c %s "$file")
cat "$file" > /dev/null  # warm the page cache for both contenders
now() { date +%s.%N; }
best() { sort -g | head -1; }
cats=(); views=(); reuses=(); freshs=()
for _ in $(seq 1 "$reps"); do
  t0=$(now); cat "$file" > /dev/null; t1=$(now)
  cats+=("$(echo "$t1 - $t0" | bc -l)")
  for m in view reuse fresh; do
    s=$("$bin" read "$file" $m | sed -E 's/.*"seconds":([0-9.e+-]+).*/\1/')
    case $m in view) views+=("$s") ;; reuse) reuses+=("$s") ;; fresh) freshs+=("$s") ;; esac
  done
done
cat_s=$(printf '%s\n' "${cats[@]}" | best)
entry() {  # name seconds
  printf '"%s": {"seconds": %s, "gib_per_s": %.3f, "ratio_vs_cat": %.3f}' "$1" "$2" \
    "$(echo "$bytes / $2 / 1073741824" | bc -l)" "$(echo "$cat_s / $2" | bc -l)"
}
peak=$("$bin" peak "$file" layers.3.weight)
json=$(cat <<JSON
{"benchmark": "safetensors_read", "file_bytes": $bytes, "repeats": $reps, "page_cache": "warm for every contender",
 "cat": {"seconds": $cat_s, "gib_per_s": $(echo "$bytes / $cat_s / 1073741824" | bc -l | xargs printf %.3f)},
 $(entry read_zero_copy_view "$(printf '%s\n' "${views[@]}" | best)"),
 $(entry read_copy_reused_buffer "$(printf '%s\n' "${reuses[@]}" | best)"),
 $(entry read_copy_fresh_tensors "$(printf '%s\n' "${freshs[@]}" | best)"),
 "goal_ratio": 0.8,
 "lazy_load_one_tensor": $peak,
 "machine": "$(nproc) cores, $(uname -m)"}
JSON
)
echo "$json" | tee bench-out/safetensors_read.json
