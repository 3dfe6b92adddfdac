# stn-tune: a small STN MLP tuned for two epochs on 256 MNIST images is quick; a long tuning run
# checkpoints and resumes to the same bytes (the trajectory and both optimizers are in the checkpoint).
train=(--train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --hidden 32)
out_suffix=.json
quick=(tune "${train[@]}" --hyper dropout.1=0.05 --epochs 2 -o @OUT@)
missing=(tune --train-images @MISSING@ --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz" --hyper dropout.1 -o @OUT@)
long=(tune "${train[@]}" --hyper dropout.in --hyper dropout.1 --hyper aug.shift --epochs 600 --batch-size 16 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 200)
long2=(retrain "${train[@]}" --hyper dropout.1=0.2 --hyper aug.cutout_length=6 --hyper aug.cutout_holes=1 --epochs 800 --batch-size 16 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 200)
