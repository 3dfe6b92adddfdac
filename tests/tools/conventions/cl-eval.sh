# cl-eval: a Split run of a small MLP on 256 MNIST images is quick; a long DER run (reservoir buffer with
# stored logits) checkpoints at any batch and resumes to the same bytes.
img="$DATA/mnist-256-images-idx3-ubyte.gz" lab="$DATA/mnist-256-labels-idx1-ubyte.gz"
d=(--train-images "$img" --train-labels "$lab" --test-images "$img" --test-labels "$lab" --hidden 32 --memory 20)
out_suffix=.json
quick=(run "${d[@]}" --algorithm finetune -o @OUT@)
missing=(run --train-images @MISSING@ --train-labels "$lab" --test-images "$img" --test-labels "$lab" --algorithm finetune -o @OUT@)
long=(run "${d[@]}" --algorithm der --epochs 1000 --batch-size 16 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 500)
long2=(run "${d[@]}" --algorithm icarl --epochs 1000 --batch-size 16 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 500)
