#!/usr/bin/env bash
# Writes the merge comparison as Markdown, CSV and an SVG bar chart (table.md, table.csv, table.svg):
# test accuracy of each model on each task and the mean.
# Usage: table.sh BIN DATA OUTDIR NAME=MODEL...
set -euo pipefail
bin=$1 data=$2 out=$3
shift 3
here=$(dirname "$0")
csv="model,task_0123,task_456,task_789,mean"
md="| model | digits 0-3 | digits 4-6 | digits 7-9 | mean |\n|---|---|---|---|---|"
for entry in "$@"; do
  name=${entry%%=*} model=${entry#*=}
  mapfile -t lines < <(MORE=1 "$here/eval-tasks.sh" "$bin" "$data" test "$model")
  a=$(echo "${lines[0]}" | cut -d' ' -f2) b=$(echo "${lines[1]}" | cut -d' ' -f2) c=$(echo "${lines[2]}" | cut -d' ' -f2)
  m=${lines[3]}
  csv+=$'\n'"$name,$a,$b,$c,$m"
  md+="\n| $name | $(printf %.4f "$a") | $(printf %.4f "$b") | $(printf %.4f "$c") | $(printf %.4f "$m") |"
done
printf '%s\n' "$csv" > "$out/table.csv.part" && mv "$out/table.csv.part" "$out/table.csv"
"$here/plot.sh" "$bin" "$out/table.csv" "$out/table.svg"
printf "$md\n" > "$out/table.md.part" && mv "$out/table.md.part" "$out/table.md"
cat "$out/table.md"
