#!/usr/bin/env bash
# Draws table.csv (model,task accuracies...,mean) as a grouped bar chart in SVG with paramkit-plot
# (the library's plotter): one group per model, one bar per task plus the mean.
# Usage: plot.sh BIN TABLE.csv OUT.svg
set -euo pipefail
"$1/paramkit-plot" -q bar "$2" --y-max 1 --title "MNIST test accuracy per task (merges: lambda tuned on validation)" -o "$3"
