# nbody-rl: integrate (files, named problems, policies), train (determinism, stop/resume, SIGTERM),
# evaluate, plots, and bad inputs (exit 2, the file and field named, no output).
source "$(dirname "$0")/lib.sh"

expect_rc 0 nbody-rl integrate --problem figure-eight --integrator ias15 --t-end 6.32591398 -o f8.csv --diagnostics f8.json \
  --plot-orbits f8.svg --plot-energy f8e.svg
grep -q '"relative_energy_error": [0-9.]*e-1[3-9]' f8.json || { cat f8.json; fail "figure-eight energy error"; }
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
expect_no_file bad.json
expect_no_file bad.safetensors
expect_no_temps .
echo "test_nbody_rl: ok"
