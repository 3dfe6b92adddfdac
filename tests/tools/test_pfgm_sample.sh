# pfgm-sample: the toy -> train -> sample -> evaluate -> plot pipeline on points (D = 128 and inf), a tiny
# U-Net on 64 MNIST images with a PNG grid checked by an independent decoder and the classifier's
# Frechet distance, exact resume, determinism, the perturbation flags, and bad inputs (exit 2 naming
# the field, nothing written).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
T="$DATA/pfgm"
img="$DATA/mnist-256-images-idx3-ubyte.gz" lab="$DATA/mnist-256-labels-idx1-ubyte.gz"

expect_rc 0 pfgm-sample toy -q --dims 2 --modes 4 --radius 2 --sd 0.15 -n 800 -o train.csv
expect_rc 0 pfgm-sample toy -q --dims 2 --modes 4 --radius 2 --sd 0.15 -n 800 --draw 1 -o test.csv
cmp -s train.csv test.csv && fail "two draws gave the same points"
for D in 128 inf; do
  expect_rc 0 pfgm-sample train -q --data train.csv --D $D --hidden 64,64 --max-steps 800 --batch-size 128 --threads 1 --report train-$D.json -o m$D.safetensors
  expect_rc 0 pfgm-sample sample -q m$D.safetensors -n 400 --threads 1 -o s$D.safetensors --grid s$D.svg
  expect_rc 0 pfgm-sample evaluate -q s$D.safetensors --reference test.csv -o e$D.json
  expect_rc 0 pfgm-sample sample -q m$D.safetensors -n 400 --threads 1 --output-noise 2 -o n$D.safetensors
  expect_rc 0 pfgm-sample evaluate -q n$D.safetensors --reference test.csv -o en$D.json
done
expect_rc 0 pfgm-sample plot e128.json einf.json en128.json eninf.json --x output_noise --metric w2 -o plot.svg --summary plot.json
grep -q "<svg" s128.svg && grep -q "<svg" plot.svg || fail "no SVG"
python3 - <<'PY' || fail "toy pipeline"
import json
for D in ("128", "inf"):
    t = json.load(open(f"train-{D}.json")); e = json.load(open(f"e{D}.json")); n = json.load(open(f"en{D}.json"))
    assert t["finished"] and t["steps"] == 800 and t["D"] == D, t
    assert e["run"]["D"] == D and e["run"]["steps"] == 18 and e["run"]["nfe_per_sample"] == 35 and e["nonfinite"] == 0, e
    # 4 well-separated modes: samples land near the data and cover it; a denoiser with output noise 2 does not.
    assert e["precision"] > 0.6 and e["recall"] > 0.85 and e["w2"] < 1.5 * e["w2_reference_halves"], e
    assert n["w2"] > 2 * e["w2"] and n["run"]["output_noise"] == 2, (e["w2"], n["w2"])
    assert e["points_compared"] == 400 and e["precision_reference_halves"] > 0.8, e
p = json.load(open("plot.json"))
assert {(x["D"], x["output_noise"]) for x in p["points"]} == {("128", 0), ("inf", 0), ("128", 2), ("inf", 2)}, p
PY

# Resume: a stop after 150 steps and a resume give the uninterrupted run's weights, bit for bit.
tr=(--data train.csv --D 64 --hidden 32 --max-steps 300 --batch-size 64 --threads 1 -q)
expect_rc 0 pfgm-sample train "${tr[@]}" --checkpoint r.ckpt --stop-after 150 -o part.safetensors
expect_no_file part.safetensors
expect_rc 0 pfgm-sample train "${tr[@]}" --checkpoint r.ckpt --resume -o resumed.safetensors
expect_rc 0 pfgm-sample train "${tr[@]}" -o straight.safetensors
expect_rc 0 ckpt-tool diff resumed.safetensors straight.safetensors --atol 0 --rtol 0
# Same seed, same samples; another seed, others.
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 4 --threads 1 -o a.csv
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 4 --threads 1 -o b.csv
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 5 --threads 1 -o c.csv
cmp -s a.csv b.csv || fail "samples are not deterministic"
cmp -s a.csv c.csv && fail "two seeds gave the same samples"
# Perturbations change the samples; euler and churn run.
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 4 --threads 1 --quantize-bits 4 -o q.csv
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 4 --threads 1 --weight-noise 0.2 -o w.csv
expect_rc 0 pfgm-sample sample -q straight.safetensors -n 50 --seed 4 --threads 1 --method euler --churn 10 --steps 10 -o eu.csv
cmp -s a.csv q.csv && fail "quantisation changed nothing"
cmp -s a.csv w.csv && fail "weight noise changed nothing"

# Images: a tiny U-Net, a PNG grid (decoded by Python's zlib), the classifier and its Frechet distance.
expect_rc 0 pfgm-sample train -q --data "$img" --limit 64 --base 8 --mult 1,2 --embedding 16 --max-steps 3 --batch-size 16 --threads 1 -o u.safetensors
expect_rc 0 pfgm-sample sample -q u.safetensors -n 6 --steps 4 --threads 1 -o u.idx --grid u.png --grid-cols 3
expect_rc 0 pfgm-sample sample -q u.safetensors -n 40 --steps 4 --threads 1 -o u.h5
expect_rc 0 pfgm-sample classifier -q --data "$img" --labels "$lab" --epochs 1 --threads 1 -o clf.safetensors
expect_rc 0 pfgm-sample evaluate -q u.h5 --reference "$img" --reference-labels "$lab" --classifier clf.safetensors -o ue.json
expect_rc 0 pfgm-sample evaluate -q "$img" --reference "$img" --classifier clf.safetensors -o self.json
python3 - <<'PY' || fail "images"
import json, struct, zlib
b = open("u.png", "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
at, idat = 8, b""
while at < len(b):
    n, = struct.unpack(">I", b[at:at + 4]); typ = b[at + 4:at + 8]; data = b[at + 8:at + 8 + n]
    assert struct.unpack(">I", b[at + 8 + n:at + 12 + n])[0] == zlib.crc32(typ + data) & 0xffffffff, typ
    if typ == b"IHDR": w, h = struct.unpack(">II", data[:8]); assert data[8:10] == b"\x08\x00"
    if typ == b"IDAT": idat += data
    at += 12 + n
# 6 images of 28x28 in 3 columns, 2 pixels of padding: 3*28 + 4*2 = 92 wide, 2*28 + 3*2 = 62 high
assert (w, h) == (92, 62), (w, h)
assert len(zlib.decompress(idat)) == h * (w + 1)
idx = open("u.idx", "rb").read()
assert idx[:4] == b"\x00\x00\x08\x03" and struct.unpack(">III", idx[4:16]) == (6, 28, 28)
e = json.load(open("ue.json")); s = json.load(open("self.json"))
assert e["kind"] == "images" and e["fd"] > 0 and len(e["class_histogram"]) == 10 and 0 <= e["classifier_reference_accuracy"] <= 1, e
assert abs(sum(e["class_histogram"]) - 1) < 1e-9 and 1 <= e["class_score"] <= 10
# The data against itself: distance zero; an untrained denoiser's samples are far from the data.
assert s["fd"] < 1e-6 and e["fd"] > 2 * e["fd_reference_floor"] > 0, (s["fd"], e["fd"], e["fd_reference_floor"])
assert "not Inception" in e["feature_space"]
PY

# Bad inputs: exit 2, the file or flag named, nothing written.
printf 'x1,x2\n0,1\nnan,2\n1,1\n' > nan.csv
expect_rc 2 pfgm-sample train --data nan.csv -o bad.safetensors
expect_err "nan.csv"; expect_err "x1"
printf 'x1,x2\n0,1\n' > one.csv
expect_rc 2 pfgm-sample train --data one.csv -o bad.safetensors
expect_err "at least 2"
printf 'x1,x2\n0,1\n1e308,2\n1,1\n' > huge.csv
expect_rc 2 pfgm-sample train --data huge.csv -o bad.safetensors
expect_err "1e15"
expect_rc 2 pfgm-sample train --data train.csv --D -3 -o bad.safetensors
expect_err "--D"
expect_rc 2 pfgm-sample train --data train.csv --D abc -o bad.safetensors
expect_err "--D"
expect_rc 2 pfgm-sample train --data train.csv --mult 1,2 -o bad.safetensors --hidden 0
expect_err "--hidden"
expect_rc 2 pfgm-sample train --data train.csv --lr nan -o bad.safetensors
expect_rc 2 pfgm-sample train --data "$img" --limit 64 --mult 1,2,2,2 -o bad.safetensors
expect_err "divisible"
printf 'hello' > junk.txt
expect_rc 2 pfgm-sample train --data junk.txt -o bad.safetensors
expect_err "junk.txt"
expect_rc 2 pfgm-sample sample clf.safetensors -o bad.csv
expect_err "paramkit.pfgm"
expect_rc 2 pfgm-sample sample straight.safetensors --steps 0 -o bad.csv
expect_rc 2 pfgm-sample sample straight.safetensors --quantize-bits 1 -o bad.csv
expect_rc 2 pfgm-sample sample straight.safetensors --sigma-min 5 --sigma-max 1 -o bad.csv
expect_err "sigma"
expect_rc 2 pfgm-sample sample straight.safetensors -o bad.idx
expect_rc 2 pfgm-sample sample u.safetensors -n 2 --steps 2 -o bad.csv
expect_rc 2 pfgm-sample sample straight.safetensors -n 5 -o bad.csv --grid bad.png
expect_rc 2 pfgm-sample evaluate s128.safetensors --reference "$img" -o bad.json
expect_err "reference"
expect_rc 2 pfgm-sample evaluate u.h5 --reference "$img" -o bad.json
expect_err "--classifier"
expect_rc 2 pfgm-sample plot e128.json --x steps --metric fd -o bad.svg
expect_err "fd"
expect_rc 2 pfgm-sample toy --sd 0 -o bad.csv
expect_rc 2 pfgm-sample toy -n 0 -o bad.csv
for f in bad.safetensors bad.csv bad.idx bad.png bad.json bad.svg; do expect_no_file $f; done
expect_no_temps .
