#!/usr/bin/python3
"""Baseline for bench-lm-train: the same GPT-2-like model in plain PyTorch eager (the way transformers'
GPT-2 runs with its eager attention: Conv1D addmm, matmul + masked softmax, tanh GELU, tied head), SFT
steps on random token batches: forward, next-token cross-entropy, backward, torch.optim.AdamW.
  /usr/bin/python3 scripts/bench/lm_train_eager.py [layers=12] [hidden=768] [heads=12] [batch=8] [seq=128] [steps=3] [threads=2] [vocab=50257]
Prints JSON like bench-lm-train. PROFILE=N prints the N most expensive ops (torch.autograd.profiler) to
stderr for the timed steps."""
import json
import math
import os
import sys
import time

import torch

defaults = ["12", "768", "12", "8", "128", "3", "2", "50257"]
L, H, nh, B, T, steps, threads, V = [int(a) for a in (sys.argv[1:] + defaults[len(sys.argv) - 1:])][:8]
torch.set_num_threads(threads)
torch.manual_seed(0)
maxpos, hd = 1024, H // nh
g = torch.Generator().manual_seed(0)
resid = 0.02 / math.sqrt(2 * L)
P = lambda t: torch.nn.Parameter(t)
r = lambda sd, *s: P(torch.randn(*s, generator=g) * sd)
wte, wpe = r(0.02, V, H), r(0.02, maxpos, H)
layers = [dict(ln1w=P(torch.ones(H)), ln1b=P(torch.zeros(H)), aw=r(0.02, H, 3 * H), ab=P(torch.zeros(3 * H)),
               pw=r(resid, H, H), pb=P(torch.zeros(H)), ln2w=P(torch.ones(H)), ln2b=P(torch.zeros(H)),
               fw=r(0.02, H, 4 * H), fb=P(torch.zeros(4 * H)), mw=r(resid, 4 * H, H), mb=P(torch.zeros(H)))
          for _ in range(L)]
lnfw, lnfb = P(torch.ones(H)), P(torch.zeros(H))
params = [wte, wpe, lnfw, lnfb] + [p for w in layers for p in w.values()]
causal = torch.ones(T, T, dtype=torch.bool).triu(1)


def forward(ids):
    Bn, Tn = ids.shape
    x = wte[ids] + wpe[torch.arange(Tn)]
    for w in layers:
        a = torch.nn.functional.layer_norm(x, (H,), w["ln1w"], w["ln1b"], 1e-5)
        qkv = torch.addmm(w["ab"], a.view(-1, H), w["aw"]).view(Bn, Tn, 3, nh, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        s = (q @ k.transpose(-1, -2) / math.sqrt(hd)).masked_fill(causal, torch.finfo(torch.float32).min)
        o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(-1, H)
        x = x + torch.addmm(w["pb"], o, w["pw"]).view(Bn, Tn, H)
        m = torch.nn.functional.layer_norm(x, (H,), w["ln2w"], w["ln2b"], 1e-5)
        m = torch.nn.functional.gelu(torch.addmm(w["fb"], m.view(-1, H), w["fw"]), approximate="tanh")
        x = x + torch.addmm(w["mb"], m, w["mw"]).view(Bn, Tn, H)
    x = torch.nn.functional.layer_norm(x, (H,), lnfw, lnfb, 1e-5)
    return x @ wte.T


opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
n_params = sum(p.numel() for p in params)
fwd = bwd = stp = total = 0.0
prof = int(os.environ.get("PROFILE", "0"))
profiler = None
for s in range(steps + 1):
    if s == 1 and prof:
        profiler = torch.autograd.profiler.profile()
        profiler.__enter__()
    ids = torch.randint(0, V, (B, T))
    t0 = time.perf_counter()
    opt.zero_grad()
    logits = forward(ids)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    t3 = time.perf_counter()
    if s == 0:
        continue
    fwd, bwd, stp, total = fwd + t1 - t0, bwd + t2 - t1, stp + t3 - t2, total + t3 - t0
if profiler is not None:
    profiler.__exit__(None, None, None)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=prof), file=sys.stderr)
n = float(steps)
print(json.dumps({"bench": "lm-train-eager", "arch": "gpt2", "layers": L, "hidden": H, "heads": nh, "vocab": V,
                  "parameters": n_params, "batch": B, "seq": T, "steps": steps, "threads": threads,
                  "seconds_per_step": round(total / n, 3), "forward_s": round(fwd / n, 3),
                  "backward_s": round(bwd / n, 3), "optimizer_s": round(stp / n, 3),
                  "tokens_per_s": round(B * T * n / total, 1), "loss": round(loss.item(), 4)}))
