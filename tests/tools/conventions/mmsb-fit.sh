# mmsb-fit: simulating a few snapshots is quick; a fit checkpoints after every refinement round and
# resumes to the same folder (each round's randomness comes from the seed and the round number). The
# suffix is the snapshots' (.csv); the fit's output folder takes it too.
out_suffix=.csv
quick=(simulate --system spring --params 1 --x0 1,1 --times 0,1 -n 50 -o @OUT@)
missing=(fit --data @MISSING@ -o @OUT@)
long=(fit --data "$DATA/mmsb/lv.csv" --holdout 1,3 --rounds 8 --tolerance 0 --ipf-iterations 3 --dt 0.05 --threads 1 -o @OUT@ --checkpoint @CKPT@)
