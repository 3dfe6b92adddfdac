# rlhf-train: SFT -> RM -> RL (every algorithm) on the tiny byte-level policy, the Hugging Face folders
# they write, generate and score, rewards from a rule and an external command (a failing or garbled
# scorer ends the run with exit 1 and a checkpoint), resume equivalence, and bad inputs (exit 2 naming
# the file, line and field, nothing written).
source "$(dirname "$0")/lib.sh"
T="$DATA/rlhf"
P="$T/tiny-policy"
export SOURCE_DATE_EPOCH=0

# SFT from a new model (config.json + byte tokenizer) and from a folder; the output is a Hugging Face folder.
expect_rc 0 rlhf-train sft --model-config "$T/tiny-gpt2.json" --tokenizer bytes --data "$T/add-sft.jsonl" --max-steps 3 -o sft0 -q
for f in config.json model.safetensors tokenizer_config.json; do [ -f "sft0/$f" ] || fail "sft output lacks $f"; done
expect_rc 0 ckpt-tool info sft0
expect_out "transformer.wte.weight"
expect_rc 0 rlhf-train sft --model "$P" --data "$T/add-sft.jsonl" --eval-data "$T/add-sft.jsonl" --max-steps 3 -o sft1 -q --metrics m-sft.json
python3 - <<'PY' || fail "sft metrics"
import json
r = json.load(open("m-sft.json"))["results"]
assert r["steps"] == 3 and r["finished"] and r["examples"] == 64 and r["eval_loss"] > 0, r
PY
# Packing: 664 tokens in rows of 32 are 21 rows, 2 batches of 16 per epoch.
expect_rc 0 rlhf-train sft --model "$P" --data "$T/add-sft.jsonl" --packing --max-length 32 -o sft2 -q --metrics m-pack.json
python3 -c "import json; r = json.load(open('m-pack.json'))['results']; assert r['tokens'] == 664 and r['steps'] == 2, r" || fail "sft --packing"
# A Llama model (grouped-query attention, untied head) through SFT and GRPO; a reward model named with
# its tokenizer (model:DIR@TOKENIZER, the way to score with a reward model of another tokenizer).
expect_rc 0 rlhf-train sft --model-config "$T/tiny-llama.json" --tokenizer bytes --data "$T/add-sft.jsonl" --max-steps 2 -o sft-llama -q
expect_rc 0 ckpt-tool info sft-llama
expect_out "model.layers.0.self_attn.k_proj.weight"
expect_out "lm_head.weight"
expect_rc 0 rlhf-train rm --model "$P" --data "$T/add-pref.jsonl" --max-steps 1 -o rm-any -q
expect_rc 0 rlhf-train rl --algo grpo --model sft-llama --prompts "$T/add-prompts.jsonl" --reward model:rm-any@bytes --iterations 1 \
  --batch-prompts 2 --group-size 3 --max-new-tokens 4 -o rl-llama -q
# BF16 compute: the saved folder holds BF16 tensors, and PPO (actor, critic, reference) trains on it.
expect_rc 0 rlhf-train sft --model "$P" --data "$T/add-sft.jsonl" --max-steps 2 --dtype BF16 -o sft-bf16 -q
expect_rc 0 ckpt-tool info sft-bf16
expect_out "BF16"
expect_rc 0 rlhf-train rl --algo ppo --dtype BF16 --model sft-bf16 --prompts "$T/add-prompts.jsonl" --reward rule:number --iterations 1 \
  --batch-prompts 4 --max-new-tokens 4 --kl-coef 0.1 -o rl-bf16 -q
expect_rc 2 rlhf-train sft --model "$P" --data "$T/add-sft.jsonl" --dtype F64 -o bad
expect_err "--dtype"
# RM: a score head on the policy; accuracy reported.
expect_rc 0 rlhf-train rm --model "$P" --data "$T/add-pref.jsonl" --eval-data "$T/add-pref.jsonl" --max-steps 3 -o rm0 -q --metrics m-rm.json
grep -q '"eval_accuracy"' m-rm.json || fail "rm: no accuracy"
expect_rc 0 ckpt-tool info rm0
expect_out "score.weight"

# RL with every algorithm and a rule reward; per-iteration metrics as JSON Lines; a plot.
for algo in remax ppo grpo rloo; do
  expect_rc 0 rlhf-train rl --algo "$algo" --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --iterations 2 \
    --batch-prompts 4 --group-size 2 --max-new-tokens 4 --kl-coef 0.05 -o "rl-$algo" --log-jsonl "rl-$algo.jsonl" --plot "rl-$algo.svg" -q
  python3 - "$algo" <<'PY' || fail "rl $algo: metrics"
import json, sys
algo = sys.argv[1]
recs = [json.loads(l) for l in open(f"rl-{algo}.jsonl")]
assert [r["iteration"] for r in recs] == [1, 2], recs
for r in recs:
    for k in ("reward_mean", "reward_std", "kl", "entropy", "response_length", "policy_loss", "seconds", "peak_rss_bytes"):
        assert k in r, (algo, k)
    assert "actor_generate" in r["seconds"] and "actor_train" in r["seconds"], r["seconds"]
    if algo == "remax": assert "actor_greedy" in r["seconds"] and "greedy_reward_mean" in r
    if algo == "ppo": assert "critic_train" in r["seconds"] and "value_loss" in r
PY
  grep -q '<svg' "rl-$algo.svg" || fail "rl $algo: no plot"
done
# The reward model as the reward; token-level ReMax; the policy output loads again.
expect_rc 0 rlhf-train rl --algo remax --remax-token-level --model "$P" --prompts "$T/add-prompts.jsonl" --reward model:rm0 \
  --iterations 1 --batch-prompts 4 --max-new-tokens 4 --kl-coef 0.1 -o rl-rm -q
expect_rc 0 rlhf-train generate --model rl-rm --prompts "$T/add-prompts.jsonl" --greedy --max-new-tokens 4 -o gen.jsonl -q
[ "$(wc -l < gen.jsonl)" -eq 32 ] || fail "generate: one line per prompt"
python3 - "$T/add-sft.jsonl" > with-answers.jsonl <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); a, b = r["prompt"].rstrip("=").split("+"); r["answer"] = str(int(a) + int(b)); print(json.dumps(r))
PY
expect_rc 2 rlhf-train score --reward rule:number --data "$T/add-sft.jsonl" -o scores.jsonl
expect_err "field 'answer': missing"
expect_rc 0 rlhf-train score --reward rule:number --data with-answers.jsonl -o scores.jsonl -q --metrics m-score.json
python3 - "$T/add-sft.jsonl" <<'PY' || fail "score rule:number: 1 exactly where the response is the sum"
import json, sys
rows = [json.loads(l) for l in open("scores.jsonl")]
assert len(rows) == 64
for r in rows:
    a, b = r["prompt"].rstrip("=").split("+")
    assert r["score"] == (1.0 if int(r["response"]) == int(a) + int(b) else 0.0), r
assert 0 < sum(r["score"] for r in rows) < 64
PY

# An external scorer: JSON Lines in, one number per line out (here: the response length).
cat > scorer.py <<'PY'
import json, sys
for line in sys.stdin:
    print(len(json.loads(line)["response"]))
PY
expect_rc 0 rlhf-train score --reward "cmd:python3 scorer.py" --data "$T/add-sft.jsonl" -o s-cmd.jsonl -q
python3 -c "
import json
for l in open('s-cmd.jsonl'):
    r = json.loads(l); assert r['score'] == len(r['response']), r
" || fail "cmd scorer: scores"
# A failing or garbled scorer: exit 1 naming it, a checkpoint of the state before the iteration, no output.
printf 'import sys\nsys.stdin.read()\nprint("not a number")\n' > garbled.py
expect_rc 1 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward "cmd:python3 garbled.py" --iterations 3 \
  --batch-prompts 4 --max-new-tokens 4 --checkpoint ck-bad.safetensors -o rl-bad
expect_err "not a finite number"
expect_err "checkpoint saved"
[ -f ck-bad.safetensors ] || fail "no checkpoint after a failing scorer"
expect_no_file rl-bad
expect_rc 1 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward "cmd:exit 3" --iterations 1 --batch-prompts 4 --max-new-tokens 4 -o rl-bad
expect_err "failed (status 3)"
# Once fixed, --resume continues from it.
expect_rc 0 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward "cmd:python3 scorer.py" --iterations 3 \
  --batch-prompts 4 --max-new-tokens 4 --checkpoint ck-bad.safetensors --resume -o rl-fixed -q

# Resume equivalence: 4 iterations straight, or 2 + --resume 2 more, give the same tensors.
rl_args=(rl --algo ppo --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --iterations 4 --batch-prompts 4
         --max-new-tokens 4 --kl-coef 0.05 --minibatches 2 --epochs 2 --threads 1)
expect_rc 0 rlhf-train "${rl_args[@]}" -o full -q
expect_rc 0 rlhf-train "${rl_args[@]}" -o part -q --checkpoint ck.safetensors --stop-after 2
expect_no_file part
expect_rc 0 rlhf-train "${rl_args[@]}" -o part -q --checkpoint ck.safetensors --resume
expect_rc 0 ckpt-tool diff full part --atol 0 --rtol 0
# One SIGTERM ends a long RL run with exit 130 and no output.
sigterm_ends 2 rl-long rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --iterations 1000000 \
  --batch-prompts 4 --max-new-tokens 8 --threads 1 -o rl-long

# Bad inputs: exit 2 naming the file, line and field; nothing written.
printf '{"prompt": "1+1=", "response": "2"}\nnot json\n' > bad1.jsonl
expect_rc 2 rlhf-train sft --model "$P" --data bad1.jsonl -o bad
expect_err "bad1.jsonl: line 2"
printf '{"prompt": "1+1="}\n' > bad2.jsonl
expect_rc 2 rlhf-train sft --model "$P" --data bad2.jsonl -o bad
expect_err "bad2.jsonl: line 1: field 'response': missing"
printf '{"prompt": "1+1=", "chosen": "2", "rejected": 3}\n' > bad3.jsonl
expect_rc 2 rlhf-train rm --model "$P" --data bad3.jsonl -o bad
expect_err "field 'rejected': expected a string"
printf '\n\n' > empty.jsonl
expect_rc 2 rlhf-train rl --model "$P" --prompts empty.jsonl --reward rule:number -o bad
expect_err "empty.jsonl: no examples"
printf '{"prompt": "1+1="}\n' > noanswer.jsonl
expect_rc 2 rlhf-train rl --model "$P" --prompts noanswer.jsonl --reward rule:number -o bad
expect_err "has no answer"
expect_rc 2 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:nope -o bad
expect_err "unknown rule"
expect_rc 2 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward "rule:regex:(" -o bad
expect_err "not a valid regular expression"
sed 's/"gpt2"/"bert"/' "$T/tiny-gpt2.json" > badcfg.json
expect_rc 2 rlhf-train sft --model-config badcfg.json --tokenizer bytes --data "$T/add-sft.jsonl" -o bad
expect_err "model_type"
printf '{"model": {"type": "WordPiece"}}' > badtok.json
expect_rc 2 rlhf-train sft --model "$P" --tokenizer badtok.json --data "$T/add-sft.jsonl" -o bad
expect_err "badtok.json"
printf 'garbage' > ck-garbage.safetensors
expect_rc 2 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --checkpoint ck-garbage.safetensors --resume -o bad
expect_err "ck-garbage.safetensors"
expect_rc 2 rlhf-train rl --algo grpo --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --checkpoint ck.safetensors --resume -o bad
expect_err "the checkpoint is of --algo ppo"
expect_rc 2 rlhf-train rl --algo grpo --group-size 1 --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number -o bad
expect_err "--group-size"
expect_rc 2 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --max-new-tokens 100 -o bad
expect_err "--max-new-tokens"
expect_rc 2 rlhf-train rl --model "$P" --prompts "$T/add-prompts.jsonl" --reward rule:number --temperature nan -o bad
expect_rc 2 rlhf-train sft --model "$P" --model-config "$T/tiny-gpt2.json" --data "$T/add-sft.jsonl" -o bad
expect_err "exclude each other"
expect_no_file bad
expect_no_temps .
echo "test_rlhf_train: ok"
