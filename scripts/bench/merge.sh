#!/usr/bin/env bash
# Benchmark of pcb-merge on synthetic F32 models (HF folders, 1GB shards): every streaming method and
# PCB (per-tensor, global in memory, global streamed) against `cat` of the inputs plus writing one
# model, and global PCB against a straightforward PyTorch implementation of the reference algorithm
# (Debian's python3-torch) on the same inputs, outputs compared within 1e-6. Prints JSON, also saved
# to bench-out/merge-PARAMS.json. Usage: scripts/bench/merge.sh [PARAMS (default 500e6)] [MODELS (3)]
# Environment: ONLY="ties della ..." runs only those rows (and the PyTorch reference only with a global
# PCB row); BASELINE=path/to/another/pcb-merge also times that binary on each row and checks that both
# write the same bytes (ckpt-tool diff --bitwise): a before/after comparison in one run; SKIP_BUILD=1
# uses build/bin as it is (a shared build folder built elsewhere); BIN_DIR=folder times the binaries there.
set -euo pipefail
cd "$(dirname "$0")/../.."
params=${1:-500e6}
models=${2:-3}
if [ -z "${SKIP_BUILD:-}" ]; then
  ./scripts/setup-deps.sh build bench
  ./scripts/build.sh --target pcb-merge ckpt-tool bench-merge >/dev/null
fi
bin=${BIN_DIR:-$PWD/build/bin}
only=" ${ONLY:-} "
selected() { [ "$only" = "  " ] || [[ "$only" == *" $1 "* ]]; }
dir=$PWD/bench-out/merge-$params
[ -f "$dir/ft$models/model.safetensors.index.json" ] || [ -f "$dir/ft$models/model.safetensors" ] || "$bin/bench-merge" make "$dir" "$params" "$models" >/dev/null
fts=()
for i in $(seq 1 "$models"); do fts+=("$dir/ft$i"); done
threads=$(nproc)
now() { date +%s.%N; }
inputs=("$dir"/base/*.safetensors)
for i in $(seq 1 "$models"); do inputs+=("$dir"/ft$i/*.safetensors); done
cat "${inputs[@]}" > /dev/null  # warm the page cache for every contender
# Best of three; each timed command starts with no dirty pages pending (sync), so that writeback of
# an earlier output (or of the generated inputs) does not land on the next contender.
cat_s=""
for _ in 1 2 3; do
  rm -f "$dir/cat-out.bin"; sync
  t0=$(now); cat "${inputs[@]}" > /dev/null; cat "$dir"/base/*.safetensors > "$dir/cat-out.bin"; t1=$(now)
  s=$(echo "$t1 - $t0" | bc -l)
  if [ -z "$cat_s" ] || [ "$(echo "$s < $cat_s" | bc -l)" = 1 ]; then cat_s=$s; fi
done
rm -f "$dir/cat-out.bin"
rows=()
timed() {  # binary, output name, repeats, flags...: sets wall (best) and rss (largest)
  local exe=$1 name=$2 repeats=$3 w r; shift 3
  wall="" rss=0
  for _ in $(seq "$repeats"); do
    rm -rf "$dir/out-$name"  # a fresh output, as for cat (replacing a file costs the kernel its old pages)
    sync
    "$exe" -q --threads "$threads" --base "$dir/base" --models "${fts[@]}" "$@" --out "$dir/out-$name" --metrics "$dir/$name.json" || return 1
    w=$(grep -o '"wall_s": [0-9.e+-]*' "$dir/$name.json" | cut -d' ' -f2)
    r=$(grep -o '"peak_rss_bytes": [0-9]*' "$dir/$name.json" | cut -d' ' -f2)
    [ "$r" -gt "$rss" ] && rss=$r
    if [ -z "$wall" ] || [ "$(echo "$w < $wall" | bc -l)" = 1 ]; then wall=$w; fi
  done
}
run() {  # name, repeats (best wall time kept, like cat's), flags...
  local name=$1 repeats=$2; shift 2
  selected "$name" || return 0
  timed "$bin/pcb-merge" "$name" "$repeats" "$@"
  local row="\"wall_s\": $wall, \"ratio_to_cat\": $(printf %.2f "$(echo "$wall / $cat_s" | bc -l)"), \"peak_rss_mib\": $((rss / 1048576))"
  if [ -n "${BASELINE:-}" ]; then
    local new_wall=$wall new_rss=$rss same=false
    if timed "$BASELINE" "$name-baseline" "$repeats" "$@" 2>/dev/null; then
      "$bin/ckpt-tool" diff "$dir/out-$name" "$dir/out-$name-baseline" --bitwise >/dev/null && same=true
      row="$row, \"baseline\": {\"wall_s\": $wall, \"peak_rss_mib\": $((rss / 1048576)), \"bitwise_equal\": $same}"
    else
      row="$row, \"baseline\": {\"failed\": true}"  # e.g. a method the baseline does not have
    fi
    rm -rf "$dir/out-$name-baseline"
    wall=$new_wall rss=$new_rss
  fi
  rows+=("\"$name\": {$row}")
}
# The I/O-bound methods vary with the kernel's writeback (seconds of system time one run, not the
# next): best of three, as for cat. The compute-bound ones: one run.
run linear 3 --method linear
run task_arithmetic 3 --method task_arithmetic
run ties 1 --method ties --density 0.2
run dare_ties 1 --method dare_ties --density 0.2
run breadcrumbs 1 --method breadcrumbs --density 0.2
run breadcrumbs_ties 1 --method breadcrumbs_ties --density 0.2
run della 1 --method della --density 0.2
run pcb_per_tensor 1 --method pcb --pcb-scope per-tensor
run pcb_global_in_memory 1 --method pcb --memory-budget 64GiB
run pcb_global_streamed 1 --method pcb --memory-budget 1KB
ref='{"skipped": "python3 with torch and numpy not installed (./scripts/setup-deps.sh bench)"}'
# The reference holds the n x d task matrix and ~10 temporaries of its size: skip it where that
# cannot fit in the memory available.
ref_need=$(( $(du -bc "$dir"/ft*/*.safetensors | tail -1 | cut -f1) * 11 ))
avail=$(( $(grep MemAvailable /proc/meminfo | awk '{print $2}') * 1024 ))
if ! selected pcb_global_in_memory; then
  ref='{"skipped": "no global PCB row selected (ONLY)"}'
elif [ "$ref_need" -gt "$avail" ]; then
  ref="{\"skipped\": \"needs about $((ref_need >> 30)) GiB, $((avail >> 30)) GiB available\"}"
elif /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  ref_json=$(/usr/bin/python3 scripts/bench/pcb_reference.py "$dir/ref.safetensors" "$dir/base" "${fts[@]}" --threads "$threads" || echo '{"failed": true}')
  if [ -f "$dir/ref.safetensors" ]; then
    maxabs=$("$bin/ckpt-tool" diff "$dir/out-pcb_global_in_memory" "$dir/ref.safetensors" --json --atol 1e-6 --rtol 0 | grep -o '"max_abs": [0-9.e+-]*' | cut -d' ' -f2 | sort -g | tail -1)
    ref="{\"python_reference\": $ref_json, \"max_abs_difference_vs_pcb_global\": $maxabs}"
  else
    ref="{\"python_reference\": $ref_json}"
  fi
fi
json=$(printf '{"benchmark": "merge", "parameters": "%s", "models": %s, "threads": %s, "input_bytes": %s,\n "cat_inputs_and_write_one_s": %s,\n %s,\n "pytorch_reference": %s}\n' \
  "$params" "$models" "$threads" "$(cat "${inputs[@]}" | wc -c)" "$cat_s" "$(IFS=,; echo "${rows[*]}" | sed 's/},"/},\n "/g')" "$ref")
echo "$json" | tee "bench-out/merge-$params.json"
