#!/usr/bin/env python3
"""A straightforward PyTorch implementation of global PCB-Merging as the reference code computes it
(every parameter of a task flattened into one row; torch.sort for the quantiles), used as the
baseline of scripts/bench/merge.sh. Reads and writes safetensors (single file or HF folder) with the
standard library and numpy only. Prints JSON with its wall time and peak RSS.
Usage: pcb_reference.py OUT BASE MODEL... [--ratio R] [--clamp Q] [--lam L] [--threads N]"""
import argparse, json, os, resource, struct, sys, time

import numpy as np
import torch


def read_safetensors(path):
    files = [path]
    if os.path.isdir(path):
        idx = os.path.join(path, "model.safetensors.index.json")
        files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
        files = [os.path.join(path, f) for f in files]
    out = {}
    for f in files:
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
            data = fh.read()
        for name, info in header.items():
            if name == "__metadata__":
                continue
            assert info["dtype"] == "F32", "benchmark models are F32"
            b, e = info["data_offsets"]
            out[name] = torch.from_numpy(np.frombuffer(data, dtype=np.float32, count=(e - b) // 4, offset=b).reshape(info["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].contiguous().numpy().astype(np.float32)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
        blobs.append(t.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            fh.write(b)


def minmax(x):
    lo = x.min(dim=1, keepdim=True).values
    hi = x.max(dim=1, keepdim=True).values
    return (x - lo) / (hi - lo)


def quantile_clamp(x, lo_ratio, hi_ratio):
    d = x.shape[1]
    s = torch.sort(x, dim=1).values
    lo = s[:, int(d * lo_ratio)].unsqueeze(1)
    hi = s[:, int(d * (1 - hi_ratio) - 1)].unsqueeze(1)
    return torch.clamp(x, lo, hi)


def pcb(tau, ratio, q):
    n = tau.shape[0]
    a = quantile_clamp(tau.abs(), q, q)
    clamped = torch.sign(tau) * a
    intra = torch.exp(n * minmax(a) ** 2)
    inter = torch.tanh(tau * tau.sum(dim=0))
    score = minmax(quantile_clamp(intra * inter, 1 - ratio, 0))
    return clamped, score


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("base")
    p.add_argument("models", nargs="+")
    p.add_argument("--ratio", type=float, default=0.1)
    p.add_argument("--clamp", type=float, default=1e-4)
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    base = read_safetensors(a.base)
    names = sorted(base)
    flat_base = torch.cat([base[k].flatten() for k in names])
    rows = []
    for m in a.models:
        sd = read_safetensors(m)
        rows.append(torch.cat([sd[k].flatten() for k in names]) - flat_base)
        del sd
    tau = torch.stack(rows)
    del rows
    clamped, score = pcb(tau, a.ratio, a.clamp)
    merged = flat_base + (a.lam * clamped * score).sum(dim=0) / torch.clamp(score.sum(dim=0), min=1e-12)
    out, off = {}, 0
    for k in names:
        n = base[k].numel()
        out[k] = merged[off:off + n].reshape(base[k].shape)
        off += n
    write_safetensors(a.out, out)
    print(json.dumps({"wall_s": time.time() - t0, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    sys.exit(main())
