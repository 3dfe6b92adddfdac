#!/usr/bin/env python3
"""The addition task of the rlhf-train demo: prompts "a+b=" with a checkable answer.

Writes into OUTDIR (deterministic for a seed):
  sft.jsonl        {"prompt": "12+34=", "response": "46"}           (SFT pairs; a share of them wrong: noisy demonstrations)
  pref.jsonl       {"prompt", "chosen": right sum, "rejected": a near miss}   (reward-model pairs)
  prompts.jsonl    {"prompt", "answer"}                               (RL prompts)
  eval.jsonl       {"prompt", "answer"}                               (held-out prompts, disjoint from the others)
  pref-eval.jsonl  preference pairs on the held-out prompts            (the reward model's held-out accuracy)
Usage: make-data.py OUTDIR [--digits 2] [--sft N] [--pref N] [--prompts N] [--eval N] [--noise 0.3] [--seed 0]
"""
import argparse
import json
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--digits", type=int, default=2)
    ap.add_argument("--sft", type=int, default=2000)
    ap.add_argument("--pref", type=int, default=2000)
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--eval", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.3, help="share of SFT responses off by a small amount")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    hi = 10 ** a.digits - 1
    pairs = [(x, y) for x in range(hi + 1) for y in range(hi + 1)]
    rng.shuffle(pairs)
    held = pairs[: a.eval]
    rest = pairs[a.eval:]

    def near_miss(s):
        d = rng.choice([-10, -2, -1, 1, 2, 10])
        return max(0, s + d) if max(0, s + d) != s else s + 1

    def pick(n):
        return [rest[rng.randrange(len(rest))] for _ in range(n)]

    os.makedirs(a.outdir, exist_ok=True)

    def write(name, rows):
        tmp = os.path.join(a.outdir, name + ".part")
        with open(tmp, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, os.path.join(a.outdir, name))

    sft = []
    for x, y in pick(a.sft):
        s = x + y
        r = near_miss(s) if rng.random() < a.noise else s
        sft.append({"prompt": f"{x}+{y}=", "response": str(r)})
    write("sft.jsonl", sft)
    write("pref.jsonl", [{"prompt": f"{x}+{y}=", "chosen": str(x + y), "rejected": str(near_miss(x + y))} for x, y in pick(a.pref)])
    write("prompts.jsonl", [{"prompt": f"{x}+{y}=", "answer": str(x + y)} for x, y in pick(a.prompts)])
    write("eval.jsonl", [{"prompt": f"{x}+{y}=", "answer": str(x + y)} for x, y in held])
    write("pref-eval.jsonl", [{"prompt": f"{x}+{y}=", "chosen": str(x + y), "rejected": str(near_miss(x + y))} for x, y in held])


if __name__ == "__main__":
    main()
