# holobeam-sim: simulate against the closed forms it can be checked by (no noise: no error; every
# algorithm within its budget), the same results for 1 and 2 threads, sweep -> plot with slopes, exact
# resume, the beam heat map (decoded by Python's zlib), and bad inputs (exit 2 naming the flag).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
expect_rc 0 holobeam-sim simulate -q --n1 8 --n2 8 --sigma 0 --budget 512 --trials 200 -o clean.json
expect_rc 0 holobeam-sim simulate -q --n1 8 --n2 8 --sigma 0.05 --budget 300 --trials 300 --threads 1 -o t1.json
expect_rc 0 holobeam-sim simulate -q --n1 8 --n2 8 --sigma 0.05 --budget 300 --trials 300 --threads 2 -o t2.json
expect_rc 0 holobeam-sim simulate -q --n1 8 --n2 8 --noise lognormal --sigma 3 --budget 300 --trials 100 --oversample 2 -o ln.json
expect_rc 0 holobeam-sim simulate --n1 4 --n2 4 --budget 64 --trials 20 --table
expect_out "holobeam"
python3 - <<'PY' || fail "simulate"
import json
c = json.load(open("clean.json")); a = json.load(open("t1.json")); b = json.load(open("t2.json")); l = json.load(open("ln.json"))
names = [r["algorithm"] for r in c["results"]]
assert names == ["holobeam", "uniform", "sr", "sh", "sr-1d", "sh-1d", "ucbe", "exhaustive"], names
for r in c["results"]:
    assert r["errors"] == 0 and r["mean_regret"] == 0 and r["max_spent"] <= 512, r
for x, y in zip(a["results"], b["results"]):
    assert x == y, (x, y)
for r in a["results"] + l["results"]:
    assert r["max_spent"] <= 300 and r["ci_low"] <= r["p_error"] <= r["ci_high"] and 0 <= r["mean_gain"] <= 1, r
PY
expect_rc 0 holobeam-sim sweep -q --sizes 8x8,8x16 --sigmas 0.05 --budgets 64,256,1024 --trials 300 --csv s.csv -o s.json
expect_rc 0 holobeam-sim plot -q s.json --error perr.svg --rss rss.svg -o slopes.json
expect_rc 0 holobeam-sim plot -q s.json --size 8x16 --error perr2.svg
grep -q "<svg" perr.svg && grep -q "<svg" rss.svg || fail "svg"
python3 - <<'PY' || fail "sweep"
import json, csv
s = json.load(open("s.json")); p = json.load(open("slopes.json"))
assert s["configurations"] == 6 and len(s["rows"]) == 6 * 8 and s["finished"]
assert len(list(csv.DictReader(open("s.csv")))) == 48
# every algorithm's error probability falls with the budget: a negative slope of ln P per 1000 pilots
for alg, k in p["slope_ln_p_per_1000_pilots"].items():
    assert k is None or k < 0, (alg, k)
assert p["slope_ln_p_per_1000_pilots"]["holobeam"] < 0
PY
# Resume: a stop after 2 configurations, then --resume, gives the uninterrupted report.
expect_rc 0 holobeam-sim sweep -q --sizes 8x8,8x16 --sigmas 0.05 --budgets 64,256,1024 --trials 300 --checkpoint c.json --stop-after 2 -o part.json
expect_no_file part.json
expect_rc 0 holobeam-sim sweep -q --sizes 8x8,8x16 --sigmas 0.05 --budgets 64,256,1024 --trials 300 --checkpoint c.json --resume -o resumed.json
python3 -c "
import json
a = json.load(open('resumed.json')); b = json.load(open('s.json'))
assert a['rows'] == b['rows']
" || fail "resume is not exact"
expect_rc 0 holobeam-sim beam -q --n1 8 --n2 8 --i 2 --j 5 --resolution 64 -o beam.png
python3 - <<'PY' || fail "png"
import struct, zlib
b = open("beam.png", "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", b[16:24]); assert (w, h) == (64, 64) and b[24:26] == b"\x08\x02"
at, idat = 8, b""
while at < len(b):
    n, = struct.unpack(">I", b[at:at + 4]); t = b[at + 4:at + 8]
    if t == b"IDAT": idat += b[at + 8:at + 8 + n]
    at += 12 + n
assert len(zlib.decompress(idat)) == 64 * (64 * 3 + 1)
PY
# Bad inputs.
expect_rc 2 holobeam-sim simulate --n1 0 --trials 10 -o bad.json
expect_rc 2 holobeam-sim simulate --budget 0 -o bad.json
expect_rc 2 holobeam-sim simulate --sigma nan -o bad.json
expect_rc 2 holobeam-sim simulate --sigma -1 -o bad.json
expect_rc 2 holobeam-sim simulate --algorithms holobeam,nope -o bad.json
expect_err "nope"
expect_rc 2 holobeam-sim simulate --noise rayleigh -o bad.json
expect_rc 2 holobeam-sim simulate --trials 1099511627776 --budget 1099511627776 -o bad.json
expect_rc 2 holobeam-sim sweep --sizes 8y8 --budgets 64 -o bad.json
expect_err "--sizes"
expect_rc 2 holobeam-sim sweep --budgets 1.5 -o bad.json
expect_rc 2 holobeam-sim plot clean.json --error bad.svg
expect_err "rows"
expect_rc 2 holobeam-sim plot s.json --size 4x4 --error bad.svg
expect_rc 2 holobeam-sim beam --n1 8 --i 8 -o bad.png
for f in bad.json bad.svg bad.png; do expect_no_file $f; done
expect_no_temps .
