# intdim-probe: two epochs on 256 MNIST images in a 100-dimensional subspace are quick; a long run
# checkpoints and resumes to the same bytes.
train=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
out_suffix=.json
quick=(train "${train[@]}" --d 100 --epochs 2 -o @OUT@)
missing=(train --train-images @MISSING@ --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --d 10 -o @OUT@)
long=(train "${train[@]}" --d 200 --epochs 800 --batch-size 64 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 100)
