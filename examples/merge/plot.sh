#!/usr/bin/env bash
# Draws table.csv (model,task accuracies...,mean) as a grouped bar chart in SVG: one group per model,
# one bar per task plus the mean. No plotting library needed. Usage: plot.sh TABLE.csv OUT.svg
set -euo pipefail
csv=$1 out=$2
awk -F, '
NR == 1 { ncol = NF - 1; for (i = 2; i <= NF; ++i) head[i - 1] = $i; next }
{ ++nrow; name[nrow] = $1; for (i = 2; i <= NF; ++i) v[nrow, i - 1] = $i }
END {
  bw = 14; gap = 18; left = 50; top = 30; h = 220
  gw = ncol * bw + gap; width = left + nrow * gw + 20; height = top + h + 90
  split("#4e79a7 #f28e2b #59a14f #555555", color, " ")
  printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", width, height
  printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
  printf "<text x=\"%d\" y=\"18\" font-size=\"13\">MNIST test accuracy per task (merges: lambda tuned on validation)</text>\n", left
  for (t = 0; t <= 10; t += 2) {
    y = top + h - h * t / 10
    printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n", left, width - 20, y, y
    printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", left - 4, y + 4, t / 10
  }
  for (r = 1; r <= nrow; ++r) {
    x0 = left + (r - 1) * gw + gap / 2
    for (c = 1; c <= ncol; ++c) {
      bh = h * v[r, c]
      printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s %.4f</title></rect>\n", \
        x0 + (c - 1) * bw, top + h - bh, bw - 1, bh, color[(c - 1) % 4 + 1], name[r], head[c], v[r, c]
    }
    cx = x0 + ncol * bw / 2
    printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", cx, top + h + 14 + (r % 2 == 0 ? 14 : 0), name[r]
  }
  for (c = 1; c <= ncol; ++c) {
    lx = left + (c - 1) * 110
    printf "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", \
      lx, height - 16, color[(c - 1) % 4 + 1], lx + 14, height - 7, head[c]
  }
  print "</svg>"
}' "$csv" > "$out.part"
mv "$out.part" "$out"
