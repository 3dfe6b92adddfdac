# paramkit-smoke --task: a trunk (trunk.*) with a head per task (head.*), --freeze, --head, and bad usage.
source "$(dirname "$0")/lib.sh"
tr=(-q --threads 1 --train-images "$DATA/mnist-256-images-idx3-ubyte.gz" --train-labels "$DATA/mnist-256-labels-idx1-ubyte.gz")
expect_rc 0 paramkit-smoke "${tr[@]}" --task digit --max-steps 4 -o pre
expect_rc 0 ckpt-tool info pre/model.safetensors
expect_out "head.weight            F32      [10, 256]"
expect_out "trunk.layers.1.weight  F32      [256, 256]"
expect_out "metadata task: digit"
# A task with another number of classes gets a new head (the base's does not fit); --freeze trunk is
# a linear probe: the trunk stays the base's.
expect_rc 0 paramkit-smoke "${tr[@]}" --task parity --init pre/model.safetensors --freeze trunk --max-steps 4 -o probe
expect_rc 0 ckpt-tool info probe/model.safetensors
expect_out "head.weight            F32      [2, 256]"
expect_rc 1 ckpt-tool diff probe/model.safetensors pre/model.safetensors --atol 0 --rtol 0
grep -Eq '^trunk.layers.0.weight +ok' out && grep -Eq '^trunk.layers.1.bias +ok' out || fail "--freeze trunk changed the trunk"
# --freeze head trains the trunk under the probe's head, which stays as it was.
expect_rc 0 paramkit-smoke "${tr[@]}" --task parity --init probe/model.safetensors --freeze head --max-steps 4 -o ft
expect_rc 1 ckpt-tool diff ft/model.safetensors probe/model.safetensors --atol 0 --rtol 0
grep -Eq '^head.weight +ok' out && grep -Eq '^trunk.layers.0.weight +differs' out || fail "--freeze head: wrong parts changed"
# --head: the trunk of one file with the head of another; the probe's trunk is the base's, so the base
# with the probe's head scores what the probe scores.
a=$(paramkit-smoke "${tr[@]}" --task parity --eval-only --init probe/model.safetensors)
b=$(paramkit-smoke "${tr[@]}" --task parity --eval-only --init pre/model.safetensors --head probe/model.safetensors)
[ "$a" = "$b" ] || fail "--head: $a != $b"
# Image tasks transform the inputs: the digit head on rotated digits scores another accuracy.
c=$(paramkit-smoke "${tr[@]}" --task rot90 --eval-only --init pre/model.safetensors)
d=$(paramkit-smoke "${tr[@]}" --task digit --eval-only --init pre/model.safetensors)
[ "$c" != "$d" ] || fail "rot90 and digit score the same ($c)"

# Bad usage: exit 2, no output.
expect_rc 2 paramkit-smoke "${tr[@]}" --head probe/model.safetensors --max-steps 2 -o bad1
expect_err "--head and --freeze need --task"
expect_rc 2 paramkit-smoke "${tr[@]}" --task colour --max-steps 2 -o bad2
expect_rc 2 paramkit-smoke "${tr[@]}" --task digit --model lenet5 --max-steps 2 -o bad3
expect_err "--model must be mlp"
expect_rc 2 paramkit-smoke "${tr[@]}" --task digit --freeze everything --max-steps 2 -o bad4
paramkit-smoke "${tr[@]}" --max-steps 2 -o plain >/dev/null
expect_rc 2 paramkit-smoke "${tr[@]}" --task digit --init plain/model.safetensors --max-steps 2 -o bad5
expect_err "missing tensors: trunk.layers.0.bias"
expect_rc 2 paramkit-smoke "${tr[@]}" --task mod3 --eval-only --init pre/model.safetensors --head probe/model.safetensors
expect_err "shape mismatch: head.bias"
for o in bad1 bad2 bad3 bad4 bad5; do expect_no_file $o; done
echo "ok"
