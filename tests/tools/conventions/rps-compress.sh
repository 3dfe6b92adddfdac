# rps-compress: a shared-weight MLP for two epochs on 256 MNIST images is quick; a long run
# checkpoints and resumes to the same bytes.
train=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --hidden 32)
out_suffix=.json
quick=(train "${train[@]}" --method rps --compression 0.1 --epochs 2 -o @OUT@)
missing=(train --train-images @MISSING@ --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" -o @OUT@)
long=(train "${train[@]}" --method rps --compression 0.1 --epochs 8000 --batch-size 32 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 100)
long2=(train "${train[@]}" --method ltr --compression 0.3 --epochs 1000 --batch-size 32 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 100)
