# rlhf-train, ReaLHF part: plan (search, --compare, --plan round trip, bad plans), launch and realloc
# (every pair of 4-process layouts equals the direct re-shard bit for bit across real processes; a
# killed process stops the others with a message; bad layouts exit 2 before any transfer).
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=0
expect_rc 0 rlhf-train plan -q --nodes 2 --actor 7b --critic 7b --iterations 3000 --compare -o plan.json --timeline plan.svg
grep -q "<svg" plan.svg || fail "timeline"
expect_rc 0 rlhf-train plan -q --nodes 2 --plan plan.json -o again.json
python3 - <<'PY' || fail "plan"
import json
a = json.load(open("plan.json")); b = json.load(open("again.json"))
assert [c["call"] for c in a["plan"]["calls"]] == ["actor_gen", "reward_inf", "ref_inf", "critic_inf", "actor_train", "critic_train"]
for c in a["plan"]["calls"]:
    assert c["dp"] * c["tp"] * c["pp"] == c["mesh"]["size"] and c["mesh"]["first"] + c["mesh"]["size"] <= 16, c
    assert c["end_s"] >= c["start_s"] and c["memory_gb"] <= 80
assert abs(a["plan"]["iteration_s"] - b["plan"]["iteration_s"]) < 1e-9
assert a["plan"]["iteration_s"] <= min(a["fixed_layout"]["iteration_s"], a["heuristic"]["iteration_s"]) + 1e-9
assert a["simulated"] is True
PY
expect_rc 2 rlhf-train plan --nodes 1 --plan plan.json -o bad.json
expect_err "outside the 8 devices"
python3 -c "
import json
p = json.load(open('plan.json'))['plan']; p['calls'][0]['dp'] = 3
json.dump(p, open('nondiv.json', 'w'))"
expect_rc 2 rlhf-train plan --nodes 2 --plan nondiv.json -o bad.json
expect_err "is not the mesh size"
# profile writes a cluster file that plan reads
expect_rc 0 rlhf-train profile -q --hidden 64 --tokens 64 -o here.json
expect_rc 0 rlhf-train plan -q --cluster here.json --batch 8 --prompt-len 16 --gen-len 16 --iterations 200 -o here-plan.json
python3 -c "
import json
c = json.load(open('here.json'))
assert c['nodes'] == 1 and c['gpus_per_node'] == 1 and c['measured']['matmul_gflops'] > 0.1 and c['flops'] > 1e8
assert json.load(open('here-plan.json'))['plan']['iteration_s'] > 0
" || fail "profile"
printf '{"nodes": 1, "gpus_per_node": 8, "flops": -1}' > badcluster.json
expect_rc 2 rlhf-train plan --cluster badcluster.json -o bad.json
expect_err "flops"
expect_rc 2 rlhf-train plan --nodes 2 --actor 9b -o bad.json
expect_no_file bad.json

if ! rlhf-train launch -n 1 -- rlhf-train realloc --from 1,1,1 --to 1,1,1 -o probe.json 2>probe.err; then
  grep -q "no c10d Gloo" probe.err && { echo "skipped (no c10d Gloo in this build): launch/realloc"; exit 0; }
  cat probe.err; fail "probe"
fi
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train realloc -q --all-pairs --layers 4 --hidden 32 -o realloc.json
python3 - <<'PY' || fail "realloc"
import json
r = json.load(open("realloc.json"))
assert r["world"] == 4 and r["all_exact"] and len(r["pairs"]) == 36, (r["world"], len(r["pairs"]))
for p in r["pairs"]:
    assert p["exact"] and p["bytes"] > 0
    if p["from"] == p["to"]:
        assert p["moved_bytes"] == 0, p
PY
# A killed process: the others stop, the launch fails naming it, rank 0 writes nothing.
PARAMKIT_TEST_DIE_RANK=2 expect_rc 1 rlhf-train launch -n 3 -- rlhf-train realloc -q --all-pairs -o died.json
expect_err "rank 2 was killed"
expect_no_file died.json
expect_rc 2 rlhf-train launch -n 2 -- rlhf-train realloc -q --from 1,4,1 --to 1,1,2 -o bad.json
expect_err "needs at least as many processes"
expect_rc 2 rlhf-train launch -n 2 -- rlhf-train realloc -q --from 1,3,1 --to 1,1,2 -o bad.json
expect_no_file bad.json
WORLD_SIZE=2 RANK=7 MASTER_PORT=1 expect_rc 2 rlhf-train realloc --all-pairs -o bad.json
expect_err "RANK=7"
expect_no_temps .
