# survfit: a Weibull fit of the veteran trial takes milliseconds; nothing trains long.
out_suffix=.json
quick=(fit "$DATA/survival/veteran.csv" --family weibull --formula "trt + karno" -o @OUT@)
missing=(fit @MISSING@ --family weibull -o @OUT@)
