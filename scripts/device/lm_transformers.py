#!/usr/bin/env python3
"""Issue 11 on the GPU machine: paramkit_lm against Hugging Face transformers, in one run.

Status: written without a GPU or transformers at hand (no device lent to the sessions so far); only
the --fixtures half and the C++ tool have run (on the CPU, /usr/bin/python3 with torch 1.13). The
transformers half has only been syntax-checked: expect to fix small API details the first time.

What it does (python3 of the GPU machine: torch 2.11 + transformers 5.x; 4.x works too):
 1. fixtures: bench-lm-logits on tests/data/lm/{gpt2,llama,llama-tied} (float64 references of
    tests/data/lm/reference.py) on --device: logits at real tokens and 6 greedy tokens.
 2. parity: random GPT-2 (GPT2LMHeadModel, tied head) and Llama (LlamaForCausalLM: GQA 8 heads / 2
    key-value heads, rope llama3 with rope_theta 500000, untied head) models made with transformers
    (from_config, weights redrawn so that logits are O(1), not ~0), saved with save_pretrained
    (safetensors) into a temporary folder; transformers' logits on fixed ids, without padding and with
    left padding + attention_mask (+ position_ids cumsum(mask) - 1, what generate passes), against
    bench-lm-logits on the same folder and ids: max abs diff over real tokens, float32, must be <= --atol
    (1e-4). Also reported, not judged: 16 greedy tokens of both (a near-tie can flip one), and
    transformers' padded logits against each row run alone.
    When transformers writes the rope settings only as rope_parameters (transformers >= 5), a second
    Llama case reads the same weights with config.json rewritten to the 4.x keys (rope_theta,
    rope_scaling), so that a config-parsing gap and a numerical one are told apart.
 3. speed: GPT-2-small-like (12 x 768, vocab 50257) and Llama-like (12 x 768, 12/4 heads, vocab 32000)
    random models: transformers' generate(do_sample=False, max_new_tokens=128) at batch 32, prompt 32,
    against bench-lm-logits --time-batch 32 (greedy, KV cache), both float32 on --device, after a
    warm-up; tokens/s = batch x new tokens / seconds. Their logits are compared as in 2 too.
TF32: python sets torch.set_float32_matmul_precision("highest") (= torch.backends.cuda.matmul.allow_tf32
= False) and cudnn.allow_tf32 = False; paramkit leaves LibTorch's default, which is TF32 off for
matmuls (bench-lm-logits reports it as tf32_cublas).

Run: through scripts/device/check.sh (one device call: prepare-deps.sh here, then run "bash
scripts/device/check.sh" with carry [".deps"]), or alone there after the build:
Prints one JSON object and writes it to --json (default $OUT/lm_transformers.json). Exit 0: every
parity check within --atol; 1: a parity check failed or a step broke (the JSON says which); 2: usage.

  python3 scripts/device/lm_transformers.py --bin build-gpu/bin/bench-lm-logits --device cuda
  /usr/bin/python3 scripts/device/lm_transformers.py --bin build/bin/bench-lm-logits --device cpu --fixtures-only
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
          "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (no safetensors package needed)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        t = torch.frombuffer(data[a:b], dtype=DTYPES[h["dtype"]]) if b > a else torch.empty(0, dtype=DTYPES[h["dtype"]])
        out[name] = t.reshape(h["shape"]).clone()
    return out


def run_ours(binary, args):
    cmd = [binary] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def masked_max_diff(a, b, mask):
    """max |a - b| over positions [B, T] where mask is 1 (a, b [B, T, V])."""
    real = mask.bool()
    return float((a.double() - b.double()).abs()[real].max())


def tokens_until_eos(row, eos, n):
    """Generated tokens up to and including the first EOS, then -1, length n."""
    out = []
    for t in row[:n]:
        out.append(int(t))
        if int(t) in eos:
            break
    return out + [-1] * (n - len(out))


def greedy_report(ours, theirs):
    """Rows whose greedy tokens are identical, and the first differing step of the others."""
    same, first = 0, []
    for a, b in zip(ours, theirs):
        if list(a) == list(b):
            same += 1
        else:
            first.append(next(i for i, (x, y) in enumerate(zip(a, b)) if x != y))
    return {"rows_equal": same, "rows": len(ours), "first_difference_steps": first}


# ---------------------------------------------------------------- 1. fixtures (no transformers)
def fixture_checks(args, tmp):
    results = []
    for name in ("gpt2", "llama", "llama-tied"):
        exp = read_safetensors(os.path.join(ROOT, "tests/data/lm", name + "-expected.safetensors"))
        ids_path = os.path.join(tmp, "fixture-%s-ids.json" % name)
        with open(ids_path, "w") as f:
            json.dump({"input_ids": exp["input_ids"].tolist(), "attention_mask": exp["attention_mask"].tolist()}, f)
        out = os.path.join(tmp, "fixture-%s-ours.safetensors" % name)
        g = exp["greedy_tokens"].shape[1]
        run_ours(args.bin, ["--model", os.path.join(ROOT, "tests/data/lm", name), "--device", args.device,
                            "--ids", ids_path, "--out", out, "--greedy", g])
        ours = read_safetensors(out)
        d = masked_max_diff(ours["logits"], exp["logits"], exp["attention_mask"])
        greedy = greedy_report(ours["greedy_tokens"].tolist(), exp["greedy_tokens"].tolist())
        ok = d <= args.fixture_atol and greedy["rows_equal"] == greedy["rows"]
        results.append({"check": "fixture", "model": name, "max_abs_diff": d, "atol": args.fixture_atol,
                        "max_abs_logit": float(exp["logits"].abs().max()), "greedy": greedy, "ok": ok})
        print("fixture %-10s max abs diff %.3g (atol %g), greedy rows equal %d/%d: %s" %
              (name, d, args.fixture_atol, greedy["rows_equal"], greedy["rows"], "ok" if ok else "FAIL"), file=sys.stderr)
    return results


# ---------------------------------------------------------------- 2./3. transformers
def tf_major():
    import transformers
    return int(transformers.__version__.split(".")[0])


def gpt2_model(vocab, hidden, layers, heads, positions):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=vocab, n_positions=positions, n_embd=hidden, n_layer=layers, n_head=heads,
                     activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     layer_norm_epsilon=1e-5, bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    return GPT2LMHeadModel(cfg)  # from_config for a concrete class: the constructor


def llama_model(vocab, hidden, inter, layers, heads, kv_heads, positions, original_positions):
    from transformers import LlamaConfig, LlamaForCausalLM
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": original_positions}
    common = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                  num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=positions,
                  rms_norm_eps=1e-6, hidden_act="silu", attention_bias=False, mlp_bias=False,
                  tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    if tf_major() >= 5:  # rope_theta lives in rope_parameters
        cfg = LlamaConfig(rope_parameters=dict(rope, rope_theta=500000.0), **common)
    else:
        cfg = LlamaConfig(rope_theta=500000.0, rope_scaling=rope, **common)
    return LlamaForCausalLM(cfg)


def redraw(model, seed):
    """Weights with O(1) logits: matrices normal(0, 1/sqrt(hidden)), norms 1 + N(0, 0.1), biases N(0, 0.1)."""
    g = torch.Generator().manual_seed(seed)
    hidden = model.config.hidden_size
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(hidden))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:
                p.copy_(1 + torch.randn(p.shape, generator=g) * 0.1)
    return model


def save_hf(model, folder):
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # transformers versions that always write safetensors and dropped the flag
        model.save_pretrained(folder)
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def legacy_config_copy(folder, config, dest):
    """The folder with config.json's rope_parameters rewritten as transformers 4.x wrote them."""
    rp = dict(config["rope_parameters"])
    shutil.copytree(folder, dest)
    c = dict(config)
    del c["rope_parameters"]
    c["rope_theta"] = rp.pop("rope_theta")
    c["rope_scaling"] = None if rp.get("rope_type", "default") == "default" else rp
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    return dest


def id_cases(vocab, pad, seed):
    """(name, ids [B,T], mask [B,T]): 4 full rows; 4 left-padded rows of 48, 33, 17 and 1 tokens."""
    g = torch.Generator().manual_seed(seed)
    T = 48
    full = torch.randint(1, vocab, (4, T), generator=g)
    padded = torch.randint(1, vocab, (4, T), generator=g)
    mask = torch.zeros(4, T, dtype=torch.long)
    for b, n in enumerate((48, 33, 17, 1)):
        mask[b, T - n:] = 1
    padded = padded.masked_fill(mask == 0, pad)
    return [("no_padding", full, torch.ones(4, T, dtype=torch.long)), ("left_padding", padded, mask)]


def hf_logits(model, ids, mask, device):
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device))
    return out.logits.float().cpu()


def eos_ids(model):
    eos = model.config.eos_token_id
    if eos is None:
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return [] if eos is None else list(eos) if isinstance(eos, (list, tuple)) else [eos]


def hf_greedy(model, ids, mask, n, device):
    eos = set(eos_ids(model))
    pad = min(eos) if eos else 0
    with torch.no_grad():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                             max_new_tokens=n, pad_token_id=pad)
    gen = out[:, ids.shape[1]:].cpu().tolist()
    return [tokens_until_eos(r, eos, n) for r in gen]


def parity(args, tmp, label, model, folder, seed, greedy_n=16):
    """transformers vs bench-lm-logits on `folder` (saved from `model`), both id cases."""
    results = []
    device = args.device
    vocab = model.config.vocab_size
    for case, ids, mask in id_cases(vocab, 0, seed):
        r = {"check": "transformers", "model": label, "case": case, "atol": args.atol}
        try:
            theirs = hf_logits(model, ids, mask, device)
            ids_path = os.path.join(tmp, "%s-%s-ids.json" % (label, case))
            with open(ids_path, "w") as f:
                json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist()}, f)
            out = os.path.join(tmp, "%s-%s-ours.safetensors" % (label, case))
            info = run_ours(args.bin, ["--model", folder, "--device", device, "--ids", ids_path, "--out", out,
                                       "--greedy", greedy_n])
            ours = read_safetensors(out)
            r["max_abs_diff"] = masked_max_diff(ours["logits"], theirs, mask)
            r["max_abs_logit"] = float(theirs.abs()[mask.bool()].max())
            r["tf32_cublas_ours"] = info.get("tf32_cublas")
            r["ok"] = r["max_abs_diff"] <= args.atol
            if case == "left_padding":  # transformers' padded logits against each row alone
                alone = max(masked_max_diff(hf_logits(model, ids[b:b + 1, mask[b] == 1], torch.ones(1, int(mask[b].sum()), dtype=torch.long), device),
                                            theirs[b:b + 1, mask[b] == 1], torch.ones(1, int(mask[b].sum()), dtype=torch.long))
                            for b in range(ids.shape[0]))
                r["transformers_padded_vs_alone"] = alone
            r["greedy"] = greedy_report(ours["greedy_tokens"].tolist(), hf_greedy(model, ids, mask, greedy_n, device))
        except Exception as e:  # one broken case must not hide the others
            r["ok"] = False
            r["error"] = "%s: %s" % (type(e).__name__, e)
            traceback.print_exc()
        print("parity %-22s %-12s %s" % (label, case, json.dumps({k: r.get(k) for k in ("max_abs_diff", "ok", "error") if k in r})),
              file=sys.stderr)
        results.append(r)
    return results


def time_transformers(model, batch, prompt, new, device):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, model.config.vocab_size, (batch, prompt), generator=g).to(device)
    mask = torch.ones_like(ids)
    pad = (eos_ids(model) or [0])[0]
    kw = dict(attention_mask=mask, do_sample=False, pad_token_id=pad)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, **kw)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new, **kw)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        s = time.perf_counter() - t0
    n = out.shape[1] - prompt
    return {"batch": batch, "prompt": prompt, "new_tokens": n, "seconds": s, "tokens_per_s": batch * n / s}


def transformers_checks(args, tmp):
    import transformers
    torch.manual_seed(0)
    info = {"transformers": transformers.__version__}
    results, speed = [], []

    def attn(model):
        return getattr(model.config, "_attn_implementation", None)

    # 2. tiny parity models
    # 3. bench-size models, timed (and checked for parity too)
    models = [("gpt2-tiny", lambda: gpt2_model(1000, 128, 2, 4, 256), 11, False),
              ("llama-tiny", lambda: llama_model(1000, 128, 344, 2, 8, 2, 256, 64), 12, False),
              ("gpt2-12x768", lambda: gpt2_model(50257, 768, 12, 12, 1024), 13, True),
              ("llama-12x768", lambda: llama_model(32000, 768, 2048, 12, 12, 4, 1024, 256), 14, True)]
    for label, make, seed, timed in models:
        try:
            model = redraw(make(), seed).to(args.device).eval()
            info.setdefault("attn_implementation", attn(model))
            folder = os.path.join(tmp, label)
            config = save_hf(model, folder)
            info.setdefault("config_json_keys", {})[label] = sorted(config)
            if "rope_parameters" in config or "rope_scaling" in config:
                info.setdefault("config_json_rope", {})[label] = {k: config.get(k) for k in ("rope_theta", "rope_scaling", "rope_parameters") if k in config}
        except Exception as e:
            traceback.print_exc()
            results.append({"check": "transformers", "model": label, "ok": False, "error": "make/save: %s: %s" % (type(e).__name__, e)})
            continue
        results += parity(args, tmp, label, model, folder, seed)
        if "rope_parameters" in config and "rope_theta" not in config:
            legacy = legacy_config_copy(folder, config, folder + "-4x-config")
            results += parity(args, tmp, label + "-4x-config", model, legacy, seed)
        if timed and not args.no_speed:
            s = {"model": label, "device": args.device}
            try:
                s["transformers"] = time_transformers(model, args.batch, args.prompt, args.new_tokens, args.device)
                ours = run_ours(args.bin, ["--model", folder, "--device", args.device, "--time-batch", args.batch,
                                           "--time-prompt", args.prompt, "--time-new", args.new_tokens])
                s["paramkit"] = ours["generate"]
                s["speedup"] = round(s["paramkit"]["tokens_per_s"] / s["transformers"]["tokens_per_s"], 3)
            except Exception as e:
                traceback.print_exc()
                s["error"] = "%s: %s" % (type(e).__name__, e)
            print("speed %s" % json.dumps(s), file=sys.stderr)
            speed.append(s)
        del model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return info, results, speed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build-gpu/bin/bench-lm-logits"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--atol", type=float, default=1e-4, help="logits, transformers vs ours (float32)")
    ap.add_argument("--fixture-atol", type=float, default=1e-4, help="logits, tests/data/lm references vs ours")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--fixtures-only", action="store_true", help="skip transformers (step 1 only)")
    ap.add_argument("--no-speed", action="store_true", help="skip the generation timing (step 3)")
    ap.add_argument("--json", default=os.path.join(os.environ.get("OUT", "/tmp"), "lm_transformers.json"))
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        ap.error("--bin: %s is not an executable (build the bench-lm-logits target)" % args.bin)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device %s: torch sees no CUDA device" % args.device)

    torch.set_float32_matmul_precision("highest")  # no TF32 in float32 matmuls
    torch.backends.cudnn.allow_tf32 = False
    report = {"bench": "lm-transformers", "device": args.device, "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
              "float32_matmul_precision": torch.get_float32_matmul_precision()}
    tmp = tempfile.mkdtemp(prefix="lm-transformers-")
    try:
        checks = fixture_checks(args, tmp)
        if not args.fixtures_only:
            try:
                info, more, speed = transformers_checks(args, tmp)
                report.update(info)
                checks += more
                report["generate"] = speed
            except ImportError as e:
                report["transformers"] = "not importable: %s" % e
                checks.append({"check": "transformers", "ok": False, "error": "import: %s" % e})
    except Exception as e:
        traceback.print_exc()
        checks = [{"check": "script", "ok": False, "error": "%s: %s" % (type(e).__name__, e)}]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["checks"] = checks
    report["ok"] = all(c.get("ok") for c in checks)
    text = json.dumps(report, indent=1)
    print(text)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            f.write(text + "\n")
    except OSError as e:
        print("lm_transformers: cannot write %s: %s" % (args.json, e), file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
