#!/usr/bin/python3
"""Baseline for bench-lm-generate: the same GPT-2-small-like model in plain PyTorch eager (the way
transformers' GPT-2 runs: Conv1D addmm, a key/value cache grown with torch.cat), greedy, batch B.
  /usr/bin/python3 scripts/bench/lm_generate_eager.py [batch=16] [prompt=32] [new=128] [threads=2] [layers=12]
Prints JSON like bench-lm-generate."""
import json
import math
import sys
import time

import torch

B, P, N, threads, L = [int(a) for a in (sys.argv[1:] + ["16", "32", "128", "2", "12"][len(sys.argv) - 1:])][:5]
torch.set_num_threads(threads)
V, H, nh, maxpos = 50257, 768, 12, 1024
hd = H // nh
g = torch.Generator().manual_seed(0)
r = lambda *s: torch.randn(*s, generator=g) * 0.02
wte, wpe = r(V, H), r(maxpos, H)
layers = [dict(ln1w=torch.ones(H), ln1b=torch.zeros(H), aw=r(H, 3 * H), ab=torch.zeros(3 * H), pw=r(H, H),
               pb=torch.zeros(H), ln2w=torch.ones(H), ln2b=torch.zeros(H), fw=r(H, 4 * H), fb=torch.zeros(4 * H),
               mw=r(4 * H, H), mb=torch.zeros(H)) for _ in range(L)]
lnfw, lnfb = torch.ones(H), torch.zeros(H)


def step(ids, pos, cache):
    Bn, T = ids.shape
    x = wte[ids] + wpe[pos]
    for i, w in enumerate(layers):
        a = torch.nn.functional.layer_norm(x, (H,), w["ln1w"], w["ln1b"], 1e-5)
        qkv = torch.addmm(w["ab"], a.view(-1, H), w["aw"]).view(Bn, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if cache[i] is not None:
            k = torch.cat([cache[i][0], k], 2)
            v = torch.cat([cache[i][1], v], 2)
        cache[i] = (k, v)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if T > 1:
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(-1, H)
        x = x + torch.addmm(w["pb"], o, w["pw"]).view(Bn, T, H)
        m = torch.nn.functional.layer_norm(x, (H,), w["ln2w"], w["ln2b"], 1e-5)
        m = torch.nn.functional.gelu(torch.addmm(w["fb"], m.view(-1, H), w["fw"]), approximate="tanh")
        x = x + torch.addmm(w["mb"], m, w["mw"]).view(Bn, T, H)
    x = torch.nn.functional.layer_norm(x[:, -1], (H,), lnfw, lnfb, 1e-5)
    return x @ wte.T


with torch.no_grad():
    ids = torch.randint(1, V, (B, P), generator=g)
    t0 = time.time()
    cache = [None] * L
    logits = step(ids, torch.arange(P), cache)
    for t in range(N):
        tok = logits.argmax(-1, keepdim=True)
        if t == N - 1:
            break
        logits = step(tok, torch.tensor([P + t]), cache)
    s = time.time() - t0
print(json.dumps({"bench": "lm-generate-eager", "arch": "gpt2", "layers": L, "batch": B, "prompt": P, "new_tokens": N,
                  "threads": threads, "seconds": round(s, 3), "tokens_per_s": round(B * N / s, 1)}))
