#!/usr/bin/env bash
# Writes the multi-task merge comparison (the paper's setting: merged trunks, a head per task) as
# Markdown, CSV and an SVG bar chart (OUTDIR/table.md, table.csv, table.svg): test accuracy of each
# model on each task with that task's head, and the mean over tasks, as mean ± sd (sample sd) over the
# seeds; each seed's numbers in OUTDIR/sSEED/table.csv.
# Models of a seed (OUTDIR/sSEED/): individual = each task's own fine-tune (ft-TASK), base = the
# pre-trained trunk (pre), METHOD = merge/METHOD.safetensors (lambda of merge/METHOD.json's search).
# Usage: table-mt.sh BIN DATA OUTDIR "TASK..." "METHOD..." SEED...
set -euo pipefail
bin=$1 data=$2 out=$3
read -r -a tasks <<< "$4"
read -r -a methods <<< "$5"
shift 5
here=$(dirname "$0")
header="model$(printf ',%s' "${tasks[@]}"),mean"
for seed in "$@"; do
  d=$out/s$seed
  entries=("individual=$d/ft-{task}/model.safetensors" "base=$d/pre/model.safetensors")
  for m in "${methods[@]}"; do entries+=("$m=$d/merge/$m.safetensors"); done
  csv=$header
  for entry in "${entries[@]}"; do
    mapfile -t lines < <(MORE=1 "$here/eval-mt.sh" "$bin" "$data" test "$seed" "$d" "${entry#*=}" "${tasks[@]}")
    row=${entry%%=*}
    for l in "${lines[@]}"; do row+=",$(printf %.6f "${l##* }")"; done
    csv+=$'\n'"$row"
  done
  printf '%s\n' "$csv" > "$d/table.csv.part" && mv "$d/table.csv.part" "$d/table.csv"
done
# The lambda each seed's search chose, per method.
lambdas=()
for m in "${methods[@]}"; do
  l=""
  for seed in "$@"; do
    l+="${l:+, }$(tr -d ' \n' < "$out/s$seed/merge/$m.json" | grep -o '"best_lambda":\[[^]]*\]' | sed 's/.*\[//; s/\]//')"
  done
  lambdas+=("$m=$l")
done
# Mean and sample sd over the seeds' tables, row by row and column by column.
awk -F, -v csvfile="$out/table.csv.part" -v lambdas="$(IFS='|'; echo "${lambdas[*]}")" -v seeds="$*" '
  FNR == 1 { header = $0; next }
  { if (!($1 in seen)) { seen[$1] = 1; order[++rows] = $1 }
    n[$1]++; for (c = 2; c <= NF; c++) { s[$1, c] += $c; q[$1, c] += $c * $c } ncol = NF }
  END {
    split(lambdas, ls, "|"); for (i in ls) { k = ls[i]; sub(/=.*/, "", k); v = ls[i]; sub(/^[^=]*=/, "", v); lam[k] = v }
    split(header, h, ",")
    csv = "model"; md = "| model"; sep = "|---"
    for (c = 2; c <= ncol; c++) { csv = csv "," h[c] "," h[c] "_sd"; md = md " | " h[c]; sep = sep "|---" }
    print csv > csvfile
    printf "%s | lambda (seeds %s) |\n%s|---|\n", md, seeds, sep
    for (r = 1; r <= rows; r++) {
      k = order[r]; line = k; mdl = "| " k
      for (c = 2; c <= ncol; c++) {
        m = s[k, c] / n[k]; v = n[k] > 1 ? (q[k, c] - n[k] * m * m) / (n[k] - 1) : 0; sd = v > 0 ? sqrt(v) : 0
        line = line "," sprintf("%.4f,%.4f", m, sd); mdl = mdl " | " sprintf("%.4f ± %.4f", m, sd)
      }
      print line > csvfile
      printf "%s | %s |\n", mdl, (k in lam) ? lam[k] : ""
    }
  }' $(for seed in "$@"; do echo "$out/s$seed/table.csv"; done) > "$out/table.md.part"
mv "$out/table.csv.part" "$out/table.csv"
"$bin/paramkit-plot" -q bar "$out/table.csv" --y-max 1 --columns "${tasks[@]}" mean \
  --title "MNIST tasks, merged trunk + each task's head: test accuracy, mean of $# seeds" -o "$out/table.svg"
mv "$out/table.md.part" "$out/table.md"
cat "$out/table.md"
