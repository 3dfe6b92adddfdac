# nbody-rl: a short training run is quick; a longer one is checkpointed per episode and resumes bit-exactly.
out_suffix=.safetensors
quick=(train --episodes 2 --steps 5 --batch 4 --hidden 8 -o @OUT@)
missing=(evaluate --policy @MISSING@ -o @OUT@)
long=(train --episodes 1500 --steps 10 --batch 8 --hidden 16 --replay 1000 --threads 1 -o @OUT@ --checkpoint @CKPT@)
