# pfgm-sample: toy points are quick; training a denoiser and the feature classifier checkpoint and
# resume to the same bytes (LibTorch's generator, the EMA and the optimizer are in the checkpoint).
out_suffix=.safetensors
quick=(toy --dims 2 -n 200 -o @OUT@)
missing=(train --data @MISSING@ -o @OUT@)
long=(train --data "$DATA/pfgm/ring-train.csv" --max-steps 4000 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 500)
long2=(classifier --data "$DATA/mnist-256-images-idx3-ubyte.gz" --labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --epochs 50 --batch-size 32
       --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 50)
