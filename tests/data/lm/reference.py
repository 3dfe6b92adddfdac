#!/usr/bin/python3
"""Independent reference for paramkit's causal LMs (tests/unit/test_lm.cpp).

Writes tiny GPT-2 and Llama models with random weights as Hugging Face folders (config.json +
model.safetensors, written here with struct + json) and, for each, <name>-expected.safetensors with
input ids, attention mask, the logits of every real token (each row run alone, unpadded) and greedy
continuations. The forward passes follow the formulas of the GPT-2 and Llama papers / the
transformers modeling files (layer norm, gelu_new, Conv1D [in, out] weights; RMSNorm, rotary
embeddings with rotate_half, llama3 and linear rope scaling, grouped-query attention, SwiGLU), in
float64 plain PyTorch, one sequence at a time, without any KV cache or padding logic.

Run from the repository root:  /usr/bin/python3 tests/data/lm/reference.py
(Debian's python3-torch 1.13; no transformers and no safetensors package needed.)
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        b = tensor_bytes(tensors[name])
        header[name] = {"dtype": DT[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata or {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- GPT-2
def gpt2_weights(cfg, g):
    H, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    r = lambda *s: torch.randn(*s, generator=g) * 0.3
    w = {"transformer.wte.weight": r(V, H), "transformer.wpe.weight": r(P, H)}
    for i in range(L):
        p = "transformer.h.%d." % i
        w[p + "ln_1.weight"] = 1 + r(H) / 3
        w[p + "ln_1.bias"] = r(H) / 3
        w[p + "attn.c_attn.weight"] = r(H, 3 * H)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = r(3 * H) / 3
        w[p + "attn.c_proj.weight"] = r(H, H)
        w[p + "attn.c_proj.bias"] = r(H) / 3
        w[p + "ln_2.weight"] = 1 + r(H) / 3
        w[p + "ln_2.bias"] = r(H) / 3
        w[p + "mlp.c_fc.weight"] = r(H, 4 * H)
        w[p + "mlp.c_fc.bias"] = r(4 * H) / 3
        w[p + "mlp.c_proj.weight"] = r(4 * H, H)
        w[p + "mlp.c_proj.bias"] = r(H) / 3
    w["transformer.ln_f.weight"] = 1 + r(H) / 3
    w["transformer.ln_f.bias"] = r(H) / 3
    return w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_attention(q, k, v):
    # q [nh, T, hd], k/v [nh, T, hd]
    T, hd = q.shape[1], q.shape[2]
    s = q @ k.transpose(1, 2) / math.sqrt(hd)
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v


def gpt2_logits(cfg, w, ids):
    H, nh, L, eps = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg["layer_norm_epsilon"]
    hd, T = H // nh, len(ids)
    ids = torch.tensor(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]
    for i in range(L):
        p = "transformer.h.%d." % i
        a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = [t.reshape(T, nh, hd).transpose(0, 1) for t in qkv.split(H, -1)]
        o = causal_attention(q, k, v).transpose(0, 1).reshape(T, H)
        x = x + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["transformer.wte.weight"].T


# ---------------------------------------------------------------- Llama
def llama_weights(cfg, g):
    H, V, I, L = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or H // nh
    r = lambda *s: torch.randn(*s, generator=g) * 0.3
    w = {"model.embed_tokens.weight": r(V, H)}
    for i in range(L):
        p = "model.layers.%d." % i
        w[p + "self_attn.q_proj.weight"] = r(nh * hd, H)  # Linear: [out, in]
        w[p + "self_attn.k_proj.weight"] = r(nkv * hd, H)
        w[p + "self_attn.v_proj.weight"] = r(nkv * hd, H)
        w[p + "self_attn.o_proj.weight"] = r(H, nh * hd)
        w[p + "mlp.gate_proj.weight"] = r(I, H)
        w[p + "mlp.up_proj.weight"] = r(I, H)
        w[p + "mlp.down_proj.weight"] = r(H, I)
        w[p + "input_layernorm.weight"] = 1 + r(H) / 3
        w[p + "post_attention_layernorm.weight"] = 1 + r(H) / 3
    w["model.norm.weight"] = 1 + r(H) / 3
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = r(V, H)
    return w


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def inv_freq(cfg, hd):
    theta = cfg.get("rope_theta", 10000.0)
    f = torch.tensor([1.0 / theta ** (2 * i / hd) for i in range(hd // 2)], dtype=torch.float64)
    rs = cfg.get("rope_scaling")
    if rs is None:
        return f
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return f / rs["factor"]
    assert kind == "llama3"
    # Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth ramp in between.
    out = []
    old = rs["original_max_position_embeddings"]
    for x in f.tolist():
        wavelen = 2 * math.pi / x
        if wavelen < old / rs["high_freq_factor"]:
            out.append(x)
        elif wavelen > old / rs["low_freq_factor"]:
            out.append(x / rs["factor"])
        else:
            s = (old / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
            out.append((1 - s) * x / rs["factor"] + s * x)
    return torch.tensor(out, dtype=torch.float64)


def rope(x, pos, f):
    # x [n, T, hd]: pairs (i, i + hd/2) rotated by angle pos * f[i].
    h = x.shape[-1] // 2
    ang = pos[:, None].double() * f[None, :]
    c, s = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def llama_logits(cfg, w, ids):
    H, nh, nkv, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    hd = cfg.get("head_dim") or H // nh
    eps, T = cfg["rms_norm_eps"], len(ids)
    f = inv_freq(cfg, hd)
    pos = torch.arange(T)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for i in range(L):
        p = "model.layers.%d." % i
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (a @ w[p + "self_attn.q_proj.weight"].T).reshape(T, nh, hd).transpose(0, 1)
        k = (a @ w[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, hd).transpose(0, 1)
        v = (a @ w[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, hd).transpose(0, 1)
        q, k = rope(q, pos, f), rope(k, pos, f)
        group = [h * nkv // nh for h in range(nh)]  # query head h reads key/value head h // (nh / nkv)
        o = causal_attention(q, k[group], v[group]).transpose(0, 1).reshape(T, nh * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g_ = m @ w[p + "mlp.gate_proj.weight"].T
        m = (g_ * torch.sigmoid(g_) * (m @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        x = x + m
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------- fixtures
def greedy(logits_fn, prompt, n, eos):
    seq = list(prompt)
    for _ in range(n):
        t = int(logits_fn(seq)[-1].argmax())
        seq.append(t)
        if t in eos:
            break
    return seq[len(prompt):]


def make(name, cfg, weights_fn, logits_fn, store_dtype, seed):
    g = torch.Generator().manual_seed(seed)
    w = weights_fn(cfg, g)
    w = {k: v.to(store_dtype) for k, v in w.items()}  # as stored
    w64 = {k: v.double() for k, v in w.items()}       # what the reference computes with
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    V = cfg["vocab_size"]
    prompts = [[int(x) for x in torch.randint(1, V, (n,), generator=g)] for n in (8, 5, 1)]
    T = max(map(len, prompts))
    ids = torch.zeros(len(prompts), T, dtype=torch.int64)
    mask = torch.zeros(len(prompts), T, dtype=torch.int64)
    logits = torch.zeros(len(prompts), T, V, dtype=torch.float32)
    N = 6
    gen = torch.full((len(prompts), N), -1, dtype=torch.int64)
    eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], list) else [cfg["eos_token_id"]]
    for b, p in enumerate(prompts):  # left padding; each row computed alone
        ids[b, T - len(p):] = torch.tensor(p)
        mask[b, T - len(p):] = 1
        logits[b, T - len(p):] = logits_fn(cfg, w64, p).float()
        out = greedy(lambda s: logits_fn(cfg, w64, s), p, N, eos)
        gen[b, :len(out)] = torch.tensor(out)
    write_safetensors(os.path.join(HERE, name + "-expected.safetensors"),
                      {"input_ids": ids, "attention_mask": mask, "logits": logits, "greedy_tokens": gen},
                      {"format": "pt", "origin": "tests/data/lm/reference.py"})


def main():
    torch.manual_seed(0)
    gpt2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 64, "n_embd": 16,
            "n_layer": 2, "n_head": 4, "n_positions": 32, "n_ctx": 32, "n_inner": None,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
            "bos_token_id": 63, "eos_token_id": 63, "tie_word_embeddings": True}
    make("gpt2", gpt2, gpt2_weights, gpt2_logits, torch.float32, 1)
    llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 64, "hidden_size": 16,
             "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 32, "rms_norm_eps": 1e-6, "rope_theta": 100.0, "hidden_act": "silu",
             "attention_bias": False, "tie_word_embeddings": False, "initializer_range": 0.02,
             "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16},
             "bos_token_id": 1, "eos_token_id": [2, 3]}
    make("llama", llama, llama_weights, llama_logits, torch.bfloat16, 2)
    tied = dict(llama, head_dim=8, num_key_value_heads=1, tie_word_embeddings=True, rope_theta=10000.0,
                rope_scaling={"type": "linear", "factor": 2.0}, eos_token_id=2)
    make("llama-tied", tied, llama_weights, llama_logits, torch.float16, 3)


if __name__ == "__main__":
    main()
