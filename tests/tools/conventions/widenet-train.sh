# widenet-train: a tiny WideNet for one epoch on 256 MNIST images is quick; a long run checkpoints and
# resumes to the same bytes (router noise and all: LibTorch's generator is in the checkpoint).
train=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --depth 2 --width 16 --heads 2 --warmup 0)
out_suffix=.json
quick=(train "${train[@]}" --model widenet --epochs 1 -o @OUT@)
missing=(train --train-images @MISSING@ --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" -o @OUT@)
long=(train "${train[@]}" --model widenet --epochs 150 --batch-size 32 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 50)
long2=(train "${train[@]}" --model vit-moe --epochs 200 --batch-size 32 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 50)
