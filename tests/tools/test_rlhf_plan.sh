# rlhf-train, ReaLHF part: plan (search, --compare, --plan round trip, bad plans), launch, realloc
# (every pair of 4-process layouts equals the direct re-shard bit for bit across real processes; a
# killed process stops the others with a message; bad layouts exit 2 before any transfer), verify
# (tensor/pipeline/data-parallel forward, backward and generation equal one process for every 4-process
# layout) and rl --plan (ReMax, PPO, GRPO: the executed plan's training equals the single-process run; bad
# plans exit 2 before any process connects; a killed process fails the launch and --resume finishes the run).
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
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train realloc -q --all-pairs --arch gpt2 --layers 4 --hidden 32 -o realloc-gpt2.json
python3 - <<'PY' || fail "realloc"
import json
for f in ["realloc.json", "realloc-gpt2.json"]:
    r = json.load(open(f))
    assert r["world"] == 4 and r["all_exact"] and len(r["pairs"]) == 36, (f, r["world"], len(r["pairs"]))
    for p in r["pairs"]:
        assert p["exact"] and p["bytes"] > 0
        if p["from"] == p["to"]:
            assert p["moved_bytes"] == 0, p
PY

# Parallel execution equals one process: logits, loss, every gradient shard, greedy and sampled tokens.
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train verify -q --all-layouts -o verify.json
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train verify -q --all-layouts --arch gpt2 --micro-batches 3 -o verify-gpt2.json
python3 - <<'PY' || fail "verify"
import json
for f in ["verify.json", "verify-gpt2.json"]:
    r = json.load(open(f))
    got = sorted((l["layout"]["pp"], l["layout"]["tp"], l["layout"]["dp"]) for l in r["layouts"])
    assert got == [(1, 1, 4), (1, 2, 2), (1, 4, 1), (2, 1, 2), (2, 2, 1), (4, 1, 1)], got
    for l in r["layouts"]:
        assert l["pass"] and l["greedy_tokens_equal"], l
        assert l["logits_max_abs_diff"] < 1e-5 and l["grad_max_abs_diff"] < 1e-5, l
PY
expect_rc 2 rlhf-train launch -n 2 -- rlhf-train verify --layout 1,3,1 -o bad.json
expect_no_file bad.json

# rl --plan: ReMax under a plan on 4 processes equals the single-process run (rollouts on one replica;
# training over 2 replicas x 2 stages with 2 micro-batches).
D="$DATA/rlhf"
COMMON="--algo remax --model-config $D/tiny-llama-4l.json --tokenizer bytes --prompts $D/add-prompts.jsonl --reward rule:regex:[a-m]
        --batch-prompts 4 --max-new-tokens 6 --kl-coef 0.1 --lr 1e-3 -q"
cat > plan4.json <<'JSON'
{"calls": [
 {"call": "actor_gen", "mesh": {"first": 0, "size": 2}, "dp": 1, "tp": 2, "pp": 1},
 {"call": "actor_greedy_gen", "mesh": {"first": 2, "size": 2}, "dp": 1, "tp": 1, "pp": 2},
 {"call": "reward_inf", "mesh": {"first": 0, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "ref_inf", "mesh": {"first": 2, "size": 2}, "dp": 1, "tp": 1, "pp": 2},
 {"call": "actor_train", "mesh": {"first": 0, "size": 4}, "dp": 2, "tp": 1, "pp": 2, "micro_batches": 2}
]}
JSON
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train profile -q --hidden 64 --tokens 64 -o cluster4.json
EVAL="--eval-prompts $D/add-prompts.jsonl --eval-reward rule:regex:[0-9]"
expect_rc 0 rlhf-train rl $COMMON $EVAL --iterations 3 -o single --metrics single-metrics.json
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $COMMON $EVAL --iterations 3 --plan plan4.json --cluster cluster4.json -o planned \
  --plan-report report.json --timeline timeline.svg --log-jsonl planned.jsonl --metrics planned-metrics.json
expect_rc 0 ckpt-tool diff -q single/model.safetensors planned/model.safetensors --atol 1e-5
grep -q "<svg" timeline.svg || fail "plan timeline"
python3 - <<'PY' || fail "plan report"
import json
r = json.load(open("report.json"))
assert sorted(c["call"] for c in r["calls"]) == ["actor_gen", "actor_greedy_gen", "actor_train", "ref_inf", "reward_inf"], r["calls"]
for c in r["calls"]:
    assert c["measured"]["end_s"] >= c["measured"]["start_s"] >= 0 and c["predicted"]["end_s"] > c["predicted"]["start_s"], c
assert r["predicted_iteration_s"] > 0 and r["measured_iteration_s"] > 0 and r["world"] == 4
a, b = json.load(open("single-metrics.json"))["results"], json.load(open("planned-metrics.json"))["results"]
assert b["iterations"] == 3 and b["finished"] and "plan" in b, b.keys()  # rank 0's report, not another rank's
for k in ["eval_reward_initial", "eval_reward_sampled_initial"]:
    assert a[k] == b[k], (k, a[k], b[k])
for k in ["eval_reward_final", "eval_reward_sampled_final"]:
    assert 0 <= b[k] <= 1, (k, b[k])
log = [json.loads(l) for l in open("planned.jsonl")]
assert [x["iteration"] for x in log] == [1, 2, 3] and all(x["realloc_bytes"] > 0 for x in log), log
PY
# A reward model split by the plan (tp 2), GPT-2 with a tied head trained tp 2, reference dp 2.
cat > plan2rm.json <<'JSON'
{"calls": [
 {"call": "actor_gen", "mesh": {"first": 0, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "actor_greedy_gen", "mesh": {"first": 1, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "reward_inf", "mesh": {"first": 0, "size": 2}, "dp": 1, "tp": 2, "pp": 1},
 {"call": "ref_inf", "mesh": {"first": 0, "size": 2}, "dp": 2, "tp": 1, "pp": 1},
 {"call": "actor_train", "mesh": {"first": 0, "size": 2}, "dp": 1, "tp": 2, "pp": 1}
]}
JSON
RM="--algo remax --model $D/tiny-policy --prompts $D/add-prompts.jsonl --reward model:$D/tiny-rm --iterations 2 --batch-prompts 4
    --max-new-tokens 4 --kl-coef 0.1 --lr 1e-3 -q"
expect_rc 0 rlhf-train rl $RM -o rm-single
expect_rc 0 rlhf-train launch -n 2 -- rlhf-train rl $RM --plan plan2rm.json -o rm-planned
expect_rc 0 ckpt-tool diff -q rm-single/model.safetensors rm-planned/model.safetensors --atol 1e-5
# PPO under a plan: the critic's inference (dp 2) and training (tp 2) on two processes while the actor
# trains on all four; equal to the single-process PPO run. Stopped after 2 iterations and resumed (the
# critic and both AdamW states in the checkpoint), equal to the run straight through.
cat > ppo4.json <<'JSON'
{"calls": [
 {"call": "actor_gen", "mesh": {"first": 0, "size": 2}, "dp": 1, "tp": 2, "pp": 1},
 {"call": "reward_inf", "mesh": {"first": 0, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "ref_inf", "mesh": {"first": 2, "size": 2}, "dp": 1, "tp": 1, "pp": 2},
 {"call": "critic_inf", "mesh": {"first": 2, "size": 2}, "dp": 2, "tp": 1, "pp": 1},
 {"call": "actor_train", "mesh": {"first": 0, "size": 4}, "dp": 2, "tp": 1, "pp": 2, "micro_batches": 2},
 {"call": "critic_train", "mesh": {"first": 2, "size": 2}, "dp": 1, "tp": 2, "pp": 1}
]}
JSON
PPO="${COMMON/remax/ppo} --critic-lr 1e-3 --minibatches 2 --epochs 2 --iterations 3"
expect_rc 0 rlhf-train rl $PPO -o ppo-single
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $PPO --plan ppo4.json -o ppo-planned
# (12 AdamW steps amplify the reordered sums' 1e-7 differences where gradients are near 0: 1.2e-5 at most;
# a wrong term moves weights by ~lr = 1e-3)
expect_rc 0 ckpt-tool diff -q ppo-single/model.safetensors ppo-planned/model.safetensors --atol 1e-4
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $PPO --plan ppo4.json --checkpoint ppo.ckpt --stop-after 2 -o ppo-resumed
expect_no_file ppo-resumed
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $PPO --plan ppo4.json --checkpoint ppo.ckpt --resume -o ppo-resumed
expect_rc 0 ckpt-tool diff -q ppo-planned/model.safetensors ppo-resumed/model.safetensors --atol 1e-6
# GRPO under a plan (2 samples per prompt; training dp 2 over minibatches of 2 rows).
cat > grpo2.json <<'JSON'
{"calls": [
 {"call": "actor_gen", "mesh": {"first": 0, "size": 2}, "dp": 1, "tp": 1, "pp": 2},
 {"call": "reward_inf", "mesh": {"first": 1, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "ref_inf", "mesh": {"first": 0, "size": 1}, "dp": 1, "tp": 1, "pp": 1},
 {"call": "actor_train", "mesh": {"first": 0, "size": 2}, "dp": 2, "tp": 1, "pp": 1}
]}
JSON
GRPO="${COMMON/remax/grpo} --group-size 2 --batch-prompts 2 --minibatches 2 --iterations 2"
expect_rc 0 rlhf-train rl $GRPO -o grpo-single
expect_rc 0 rlhf-train launch -n 2 -- rlhf-train rl $GRPO --plan grpo2.json -o grpo-planned
expect_rc 0 ckpt-tool diff -q grpo-single/model.safetensors grpo-planned/model.safetensors --atol 1e-4
# dp above a PPO minibatch (4 prompts / 2 minibatches = 2 rows) exits 2
python3 -c "
import json
p = json.load(open('ppo4.json')); p['calls'][5] = dict(p['calls'][5], dp=2, tp=1); p['calls'][4] = dict(p['calls'][4], dp=4, pp=1)
json.dump(p, open('ppo-dp4.json', 'w'))"
expect_rc 2 rlhf-train launch -n 4 -- rlhf-train rl $PPO --plan ppo-dp4.json -o bad
expect_err "exceeds the 2 rows of a minibatch"
# Bad plans: exit 2 on every process before any connects, nothing written.
python3 -c "
import json
p = json.load(open('plan4.json'))
p['calls'][4]['mesh']['size'] = 8; p['calls'][4]['dp'] = 4; json.dump(p, open('big.json', 'w'))
p = json.load(open('plan4.json'))
p['calls'][0]['mesh']['size'] = 3; p['calls'][0]['tp'] = 3; json.dump(p, open('nondiv4.json', 'w'))"
expect_rc 2 rlhf-train launch -n 4 -- rlhf-train rl $COMMON --iterations 3 --plan big.json -o bad
expect_err "outside the 4 processes"
expect_rc 2 rlhf-train launch -n 4 -- rlhf-train rl $COMMON --iterations 3 --plan nondiv4.json -o bad
expect_err "tp 3 does not divide"
expect_no_file bad
# A process killed after two iterations: the launch fails naming it; --resume finishes the run, equal to
# an uninterrupted one.
PARAMKIT_TEST_DIE_RANK=1 expect_rc 1 rlhf-train launch -n 4 -- rlhf-train rl $COMMON --iterations 4 --plan plan4.json \
  --checkpoint ck.safetensors --checkpoint-every 1 -o resumed
expect_err "rank 1 was killed"
expect_no_file resumed
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $COMMON --iterations 4 --plan plan4.json --checkpoint ck.safetensors --resume -o resumed
expect_rc 0 rlhf-train launch -n 4 -- rlhf-train rl $COMMON --iterations 4 --plan plan4.json -o straight
expect_rc 0 ckpt-tool diff -q resumed/model.safetensors straight/model.safetensors --atol 1e-6
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
