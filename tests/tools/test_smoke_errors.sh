# paramkit-smoke on bad IDX inputs and bad usage: exit 2, a message naming the file, no outputs.
source "$(dirname "$0")/lib.sh"
imgs="$DATA/mnist-256-images-idx3-ubyte.gz"
labs="$DATA/mnist-256-labels-idx1-ubyte.gz"
printf '\x01\x02\x08\x01\x00\x00\x00\x01\x05' > badmagic.idx
expect_rc 2 paramkit-smoke --train-images badmagic.idx --train-labels "$labs" --out o1
expect_err "badmagic.idx: magic: not an IDX file"
expect_no_file o1
printf '\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02' > short.idx
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels short.idx --out o2
expect_err "short.idx: dims: dims [5] need 5 data bytes, the file has 2"
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02' > two.idx
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels two.idx --out o3
expect_err "2 labels for 256 images"
head -c 1000 "$imgs" > cut.gz
expect_rc 2 paramkit-smoke --train-images cut.gz --train-labels "$labs" --out o4
expect_err "cut.gz: gzip: truncated compressed data"
expect_rc 2 paramkit-smoke --train-images missing.idx --train-labels "$labs" --out o5
expect_err "missing.idx"
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" --out o6 --resume
expect_err "--resume needs --checkpoint"
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" --out o7 --model vgg
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" --out o8 --lr -1
for o in o1 o2 o3 o4 o5 o6 o7 o8; do expect_no_file $o; done
expect_no_temps .

# No examples left to train on, or a learning rate that can only diverge: exit 2 naming the cause.
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" -o o10 --train-limit 1 --max-steps 2
expect_err "no training examples"
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" -o o10 --lr 1e308 --max-steps 2
expect_err "--lr"
expect_no_file o10

# An output that is an existing file is refused before training.
: > afile
expect_rc 2 paramkit-smoke --train-images "$imgs" --train-labels "$labs" -o afile --max-steps 2
expect_err "not a folder"
# --stop-after leaves a checkpoint and no output set (Make must not take the job as done); --resume
# finishes it.
expect_rc 0 paramkit-smoke --train-images "$imgs" --train-labels "$labs" -o o9 --max-steps 6 --checkpoint ck9 --stop-after 2
expect_no_file o9
expect_err "--stop-after"
[ -e ck9 ] || fail "no checkpoint after --stop-after"
expect_rc 0 paramkit-smoke --train-images "$imgs" --train-labels "$labs" -o o9 --max-steps 6 --checkpoint ck9 --resume
[ -f o9/manifest.json ] || fail "the resumed run wrote no output set"
echo "ok"
