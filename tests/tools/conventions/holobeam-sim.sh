# holobeam-sim: a small Monte Carlo is quick; a sweep checkpoints after every configuration and resumes
# to the same report (each configuration's trials are seeded from the run's seed and its index).
out_suffix=.json
quick=(simulate --n1 4 --n2 4 --budget 64 --trials 50 -o @OUT@)
missing=(plot @MISSING@ -o @OUT@)
long=(sweep --sizes 16x16 --sigmas 0.05,0.1,0.2 --budgets 2000,4000,8000 --trials 300 --algorithms holobeam,sr,sh,uniform --threads 1 -o @OUT@ --checkpoint @CKPT@)
