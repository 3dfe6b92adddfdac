#!/usr/bin/env python3
"""Table (Markdown, CSV) and plot data of the rlhf-train demonstration in OUT (see demo.sh)."""
import json
import os
import subprocess
import sys

out = sys.argv[1]


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def results(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)["results"]


sft, rm = results("sft-metrics.json"), results("rm-metrics.json")
rows = []
for algo in ("remax", "ppo"):
    m = results(f"{algo}-metrics.json")
    recs = jsonl(os.path.join(out, f"{algo}.jsonl"))
    sec = sum(sum(r["seconds"].values()) for r in recs[1:]) / max(1, len(recs) - 1)
    rss = json.load(open(os.path.join(out, f"{algo}-metrics.json")))["peak_rss_bytes"] / 2**20
    rows.append((algo, m["eval_reward_initial"], m["eval_reward_final"], m["eval_reward_sampled_initial"], m["eval_reward_sampled_final"],
                 sum(r["reward_mean"] for r in recs[:100]) / 100, sum(r["reward_mean"] for r in recs[-100:]) / 100, sec, rss))
md = ["| run | held-out accuracy, greedy | held-out accuracy, sampled (T = 1) | training reward, first/last 100 iterations | s per iteration | peak RSS MiB |",
      "|---|---|---|---|---|---|"]
csv = ["run,greedy_before,greedy_after,sampled_before,sampled_after,train_reward_first25,train_reward_last25,s_per_iteration,peak_rss_mib"]
md.append(f"| SFT ({sft['steps']} steps) | {rows[0][1]:.3f} | {rows[0][3]:.3f} | | | |")
for r in rows:
    md.append(f"| {r[0]} (1000 iterations) | {r[1]:.3f} -> {r[2]:.3f} | {r[3]:.3f} -> {r[4]:.3f} | {r[5]:.3f} -> {r[6]:.3f} | {r[7]:.3f} | {r[8]:.0f} |")
    csv.append(",".join([r[0]] + [f"{x:.6g}" for x in r[1:]]))
md.append(f"\nReward model: held-out pairwise accuracy {rm['eval_accuracy']:.3f} ({rm['pairs']} training pairs, {rm['steps']} steps).")
# accuracy per iteration for the plot
series = ["iteration,remax_greedy,remax_sampled,ppo_greedy,ppo_sampled"]
ev = {a: {r["iteration"]: r for r in jsonl(os.path.join(out, f"{a}.jsonl")) if "eval_reward" in r} for a in ("remax", "ppo")}
series.append(f"0,{rows[0][1]},{rows[0][3]},{rows[1][1]},{rows[1][3]}")
for it in sorted(set(ev["remax"]) & set(ev["ppo"])):
    a, b = ev["remax"][it], ev["ppo"][it]
    series.append(f"{it},{a['eval_reward']},{a['eval_reward_sampled']},{b['eval_reward']},{b['eval_reward_sampled']}")
for name, text in (("table.md", "\n".join(md) + "\n"), ("table.csv", "\n".join(csv) + "\n"), ("eval.csv", "\n".join(series) + "\n")):
    with open(os.path.join(out, name + ".part"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, name + ".part"), os.path.join(out, name))
plot = os.path.join(os.path.dirname(sys.argv[0]), "..", "..", "build", "bin", "paramkit-plot")
binp = os.environ.get("PLOT", plot)
if os.path.exists(binp):
    subprocess.run([binp, "lines", os.path.join(out, "eval.csv"), "--x", "iteration", "--title", "held-out accuracy during RL",
                    "-o", os.path.join(out, "rl.svg")], check=True)
print("\n".join(md))
