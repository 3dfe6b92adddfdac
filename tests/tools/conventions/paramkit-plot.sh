# paramkit-plot: draws a chart from a CSV; nothing trains.
out_suffix=.svg
quick=(bar "$DATA/merge-table.csv" -o @OUT@)
missing=(bar @MISSING@ -o @OUT@)
