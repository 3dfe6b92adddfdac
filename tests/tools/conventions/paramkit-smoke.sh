# paramkit-smoke: a two-step training run is quick; a long one checkpoints and resumes to the same bytes.
train=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
quick=("${train[@]}" --max-steps 2 -o @OUT@)
missing=(--train-images @MISSING@ --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" -o @OUT@)
long=("${train[@]}" --threads 1 --epochs 2000 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 50)
