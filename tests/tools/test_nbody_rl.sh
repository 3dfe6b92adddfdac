# nbody-rl: integrate (files, named problems, policies), train (determinism, stop/resume, SIGTERM),
# evaluate, plots, and bad inputs (exit 2, the file and field named, no output).
source "$(dirname "$0")/lib.sh"

expect_rc 0 nbody-rl integrate --problem figure-eight --integrator ias15 --t-end 6.32591398 -o f8.csv --diagnostics f8.json \
  --plot-orbits f8.svg --plot-energy f8e.svg
# IAS15 over one period of the figure-eight at machine precision (|dE/E0| < 1e-15; 0 measured).
grep -o '"relative_energy_error": [^,]*' f8.json | awk '{ exit !($2 < 1e-15) }' || { cat f8.json; fail "figure-eight energy error"; }
head -1 f8.csv | grep -q "t,body,x,y,z,vx,vy,vz,energy_error" || fail "trajectory header"
grep -q "<polyline" f8.svg && grep -q "<polyline" f8e.svg || fail "plots"
# Initial conditions from a file (2-D CSV) and JSON, with units.
printf 'm,x,y,vx,vy\n3,1,3,0,0\n4,-2,-1,0,0\n5,1,-1,0,0\n' > pyth.csv
expect_rc 0 nbody-rl integrate pyth.csv --integrator hermite --param 0.01 --t-end 1 --diagnostics h.json
grep -q '"energy_initial": -12.8166' h.json || fail "Pythagorean E0 = -769/60"
printf '{"units": "nbody", "bodies": [{"m": 1, "x": [0, 0], "v": [0, 0]}, {"m": 1, "x": [1, 0], "v": [0, 1]}]}' > two.json
expect_rc 0 nbody-rl integrate two.json --integrator rk45 --t-end 1 --output two.h5 --diagnostics two.json.out
if [ -f two.h5 ]; then expect_rc 0 ckpt-tool info two.h5; expect_out "energy_error"; fi

# Training: a few short episodes; the same seed gives the same policy; stop + resume equals one run.
tr=(--episodes 4 --steps 10 --batch 8 --eps-decay 20 --seed 5)
expect_rc 0 nbody-rl train "${tr[@]}" -o p1.safetensors --log-jsonl p1.jsonl
expect_rc 0 nbody-rl train "${tr[@]}" --out p2.safetensors  # the old spelling of --output
expect_rc 0 ckpt-tool diff p1.safetensors p2.safetensors --bitwise
[ "$(wc -l < p1.jsonl)" -eq 4 ] || fail "one log record per episode"
expect_rc 0 nbody-rl train "${tr[@]}" --output p3.safetensors --checkpoint ck.safetensors --stop-after 2
expect_no_file p3.safetensors
expect_rc 0 nbody-rl train "${tr[@]}" --output p3.safetensors --checkpoint ck.safetensors --resume
expect_rc 0 ckpt-tool diff p1.safetensors p3.safetensors --bitwise
# Checkpointing every episode changes nothing in the result.
expect_rc 0 nbody-rl train "${tr[@]}" -o p4.safetensors --checkpoint ck4.safetensors --checkpoint-every 1
expect_rc 0 ckpt-tool diff p1.safetensors p4.safetensors --bitwise

# SIGTERM: the run stops at the next episode boundary with a checkpoint, exit 130 and no policy; resumed,
# it ends with the policy and episode log of a run never stopped (that one runs alongside).
sig=(--episodes 1500 --steps 10 --batch 8 --hidden 16 --replay 1000 --seed 3 --threads 1)
nbody-rl train "${sig[@]}" -o straight.safetensors --checkpoint straight-ck.safetensors --log-jsonl straight.jsonl \
  >/dev/null 2>straight.err &
straight_pid=$!
trap 'kill $straight_pid 2>/dev/null || true' EXIT  # not left running when a check fails
nbody-rl train "${sig[@]}" -o term.safetensors --checkpoint term-ck.safetensors --log-jsonl term.jsonl >/dev/null 2>term.err &
pid=$!
sleep 2
kill -0 $pid 2>/dev/null || { fail "training finished within 2 s, before the signal; raise --episodes in this test"; }
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 130 ] || { cat term.err; fail "SIGTERM gave exit $rc, expected 130"; }
grep -q "interrupted" term.err || { cat term.err; fail "no 'interrupted' message"; }
expect_no_file term.safetensors
[ -f term-ck.safetensors ] || { fail "no checkpoint after SIGTERM"; }
expect_rc 0 nbody-rl train "${sig[@]}" -o term.safetensors --checkpoint term-ck.safetensors --log-jsonl term.jsonl --resume
expect_err "resumed from term-ck.safetensors"
wait $straight_pid || { cat straight.err; fail "the uninterrupted run failed"; }
trap - EXIT
expect_rc 0 ckpt-tool diff straight.safetensors term.safetensors --bitwise
cmp straight.jsonl term.jsonl || fail "the resumed run's episode log differs from the uninterrupted one"
# The policy drives an integration and is evaluated against fixed eta (and transferred to RK45).
expect_rc 0 nbody-rl integrate --problem paper:3 --units msun-au-yr --integrator hermite --policy p1.safetensors --t-end 1 --diagnostics pol.json
grep -q '"policy_choices"' pol.json || fail "policy choices not reported"
expect_rc 0 nbody-rl evaluate --policy p1.safetensors --seeds 2 -o ev.json --csv ev.csv --plot pareto.svg
grep -q '"best_fixed"' ev.json && grep -q "<circle" pareto.svg || fail "evaluation outputs"
[ "$(wc -l < ev.csv)" -eq $((2 * 12 + 1)) ] || fail "evaluation rows: $(wc -l < ev.csv)"
expect_rc 0 nbody-rl evaluate --policy p1.safetensors --integrator rk45 --seeds 1 --out ev-rk.json
grep -q '"integrator": "rk45"' ev-rk.json || fail "transfer integrator"

# Bad inputs.
printf 'm,x,y,vx\n1,0,0,0\n1,1,0,0\n' > cols.csv
expect_rc 2 nbody-rl integrate cols.csv --t-end 1 --diagnostics bad.json
expect_err "cols.csv: header"
printf 'm,x,y,vx,vy\n1,0,0,0,0\n0,1,0,0,0\n' > mass.csv
expect_rc 2 nbody-rl integrate mass.csv --t-end 1 --diagnostics bad.json
expect_err "mass.csv: body 2: m"
printf 'm,x,y,vx,vy\n1,0,0,0,0\n-1,1,0,0,0\n' > neg.csv
expect_rc 2 nbody-rl integrate neg.csv --t-end 1 --diagnostics bad.json
printf 'm,x,y,vx,vy\n1,0,0,0,0\n1,0,0,1,0\n' > same.csv
expect_rc 2 nbody-rl integrate same.csv --t-end 1 --diagnostics bad.json
expect_err "coincide"
printf 'm,x,y,vx,vy\n1,0,0,0,0\n1,inf,0,1,0\n' > inf.csv
expect_rc 2 nbody-rl integrate inf.csv --t-end 1 --diagnostics bad.json
expect_rc 2 nbody-rl integrate pyth.csv --integrator verlet --t-end 1 --diagnostics bad.json
expect_err "unknown integrator"
expect_rc 2 nbody-rl train --integrator verlet --episodes 1 --out bad.safetensors
# Stopping and checkpointing flags need --checkpoint (a stopped run continues from it).
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --stop-after 2
expect_err "--stop-after needs --checkpoint"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --checkpoint-every 2
expect_err "--checkpoint-every needs --checkpoint"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --resume
expect_err "--resume needs --checkpoint"
expect_rc 2 nbody-rl integrate two.json --policy p1.safetensors --t-end 1 --diagnostics bad.json
expect_err "three bodies"
# Every numeric flag finite and in range, the flag named, before any work (issue 10).
bad_integrate() {  # bad_integrate FLAG-NAMED ARGS...: exit 2, the flag named, no output
  local flag=$1; shift
  expect_rc 2 nbody-rl integrate "$@" --diagnostics bad.json
  expect_err "$flag"
  expect_no_file bad.json
}
f8=(--problem figure-eight)
bad_integrate --t-end "${f8[@]}" --t-end nan
bad_integrate --t-end "${f8[@]}" --t-end inf
bad_integrate --t-end "${f8[@]}" --t-end -1
bad_integrate --param "${f8[@]}" --param -1  # was silently the default
bad_integrate --param "${f8[@]}" --param nan
bad_integrate --param "${f8[@]}" --param 0
bad_integrate --param "${f8[@]}" --integrator rk45 --param 5
bad_integrate --output-every "${f8[@]}" --output-every 1e-300
bad_integrate --max-steps "${f8[@]}" --max-steps 0
bad_integrate --decision-interval "${f8[@]}" --policy p1.safetensors --decision-interval nan
bad_integrate --decision-interval "${f8[@]}" --policy p1.safetensors --decision-interval 1e-300
bad_integrate --max-steps "${f8[@]}" --integrator leapfrog --param 1e-300  # 1e300 fixed steps: refused
bad_integrate "paper:-1" --problem paper:-1
bad_integrate "out of range" --problem paper:99999999999999999999  # was a bare "stoull"
bad_integrate "10000 bodies" --problem plummer:99999999
grep -q "stoull\|[0-9]\{40\}" err && fail "library message or a long number in: $(cat err)"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --lr 1e308
expect_err "--lr"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --eps-decay -1
expect_err "--eps-decay"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --step-time nan
expect_err "--step-time"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --reward reward6
expect_err "--reward"
expect_rc 2 nbody-rl train "${tr[@]}" -o bad.safetensors --reward error-cost --cost-weight inf
expect_err "--cost-weight"
[ ! -e bad.safetensors ] || fail "a refused training run left a policy"
# The aligned reward trains and its policy evaluates; the policy file records the reward.
expect_rc 0 nbody-rl train "${tr[@]}" --reward error-cost --cost-weight 1 -o ec.safetensors
grep -aq '\\"reward\\":\\"error-cost\\"' ec.safetensors || fail "the policy file does not record its reward"
expect_rc 0 nbody-rl evaluate --policy ec.safetensors --seeds 1 -o ec.json
expect_rc 2 nbody-rl evaluate --policy p1.safetensors --seeds 0 -o bad.json
expect_err "--seeds"
expect_rc 2 nbody-rl evaluate --policy p1.safetensors --integrator verlet -o bad.json
expect_err "unknown integrator"
# An adaptive run is bounded while it runs: exit 1 at --max-steps, naming it.
expect_rc 1 nbody-rl integrate "${f8[@]}" --t-end 1e300 --max-steps 2000 --diagnostics bad.json
expect_err "--max-steps"

# Bodies that meet: a fixed step landing exactly on the collision (light bodies moving at +-1 meet at
# t = 1 = 2 steps) ends with exit 1 and the cause, not NaN diagnostics; the adaptive ones stop at the
# collapsed step.
printf 'm,x,y,vx,vy\n1e-30,-1,0,1,0\n1e-30,1,0,-1,0\n' > hit.csv
expect_rc 1 nbody-rl integrate hit.csv --integrator leapfrog --param 0.5 --t-end 3 --output-every 0.5 --diagnostics bad.json
expect_err "bodies met"
printf 'm,x,y,vx,vy\n1,-1,0,0,0\n1,1,0,0,0\n' > fall.csv
for i in ias15 hermite rk45; do
  expect_rc 1 timeout 60 nbody-rl integrate fall.csv --integrator $i --t-end 3 --diagnostics bad.json
  expect_err "collapsed"
done

# One SIGTERM ends a long integration (checked every force evaluation, not between output samples):
# exit 130, no output. The watchdog only guards against a hang (it would make the exit 137).
nbody-rl integrate "${f8[@]}" --t-end 1e300 --diagnostics bad.json 2>term-int.err &
pid=$!
sleep 1
kill -TERM $pid
( sleep 20; kill -KILL $pid 2>/dev/null ) &
watchdog=$!
set +e
wait $pid
rc=$?
set -e
kill $watchdog 2>/dev/null || true
[ $rc -eq 130 ] || { cat term-int.err; fail "SIGTERM during integrate gave exit $rc, expected 130"; }
grep -q "interrupted" term-int.err || fail "no 'interrupted' message"

# Progress: a bar per episode when stderr is a terminal (script gives it one), nothing otherwise.
if script -qec true /dev/null >/dev/null 2>&1; then
  script -qec "nbody-rl train --episodes 3 --steps 5 --batch 4 --hidden 8 -o tty.safetensors" /dev/null >tty.log
  grep -q "episodes \[.*\] 3/3" tty.log || { cat -v tty.log; fail "no progress bar on a terminal"; }
fi
expect_rc 0 nbody-rl train --episodes 3 --steps 5 --batch 4 --hidden 8 -o notty.safetensors
[ ! -s err ] || { cat err; fail "training wrote to stderr without a terminal or -v"; }

# Start-up: nbody-rl links no LibTorch (it starts in milliseconds); train runs in the helper beside it,
# and a binary without its helper says so (exit 1) while integrating still works.
if command -v ldd >/dev/null; then
  ! ldd "$BIN/nbody-rl" | grep -q "libtorch\|libc10" || fail "nbody-rl links LibTorch: --version and integrate would wait for it to load"
fi
mkdir -p lonely/bin
cp "$BIN/nbody-rl" lonely/bin/
expect_rc 0 lonely/bin/nbody-rl integrate "${f8[@]}" --t-end 0.1 --diagnostics lonely.json
expect_rc 1 lonely/bin/nbody-rl train --episodes 1 --steps 2 --hidden 8 --batch 4 -o bad.safetensors
expect_err "nbody-rl-train"
expect_rc 2 lonely/bin/nbody-rl train --episodes 0 -o bad.safetensors  # flags are checked before the helper
expect_err "--episodes"

expect_no_file bad.json
expect_no_file bad.safetensors
expect_no_temps .
echo "test_nbody_rl: ok"
