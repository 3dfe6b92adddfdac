"""PyTorch eager twin of pfgm-sample's U-Net (lib/src/nn/denoiser.cpp) for scripts/bench/pfgm.sh: the same
layers and parameter count, the same EDM training step (PFGM++ perturbation at D = 128, preconditioned
weighted loss, Adam) and Heun sampler at 18 steps. Prints JSON like bench-unet.
    python3 unet_eager.py BASE MULT BATCH SAMPLE_BATCH THREADS"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def groups(ch):
    return 8 if ch % 8 == 0 else (4 if ch % 4 == 0 else 1)


class Fourier(nn.Module):
    def __init__(self, ch, scale=16.0):
        super().__init__()
        self.register_buffer("freqs", torch.randn(ch // 2) * scale)

    def forward(self, c):
        a = c.to(self.freqs.dtype)[:, None] * (2 * math.pi * self.freqs)[None]
        return torch.cat([a.cos(), a.sin()], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, attention):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.e = nn.Linear(emb, cout)
        self.n2, self.c2 = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.c2.weight); nn.init.zeros_(self.c2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.attention = attention
        if attention:
            self.an, self.qkv, self.proj = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, 3 * cout, 1), nn.Conv2d(cout, cout, 1)
            nn.init.zeros_(self.proj.weight); nn.init.zeros_(self.proj.bias)

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x))) + self.e(emb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h))) + (self.skip(x) if self.skip is not None else x)
        if self.attention:
            B, C, H, W = h.shape
            q = self.qkv(self.an(h)).view(B, 3, C, H * W)
            att = torch.softmax(torch.bmm(q[:, 0].transpose(1, 2), q[:, 1]) / math.sqrt(C), -1)
            h = h + self.proj(torch.bmm(q[:, 2], att.transpose(1, 2)).view(B, C, H, W))
        return h


class UNet(nn.Module):
    def __init__(self, channels=1, base=32, mult=(1, 2, 2), blocks=1, embedding=128):
        super().__init__()
        self.L, self.blocks = len(mult), blocks
        self.emb, self.emb1, self.emb2 = Fourier(64), nn.Linear(64, embedding), nn.Linear(embedding, embedding)
        self.stem = nn.Conv2d(channels, base, 3, padding=1)
        self.enc, self.dec, self.down, self.up, self.mid = (nn.ModuleList() for _ in range(5))
        skips, ch = [base], base
        for l, m in enumerate(mult):
            attn = l == self.L - 1 and self.L > 1
            for _ in range(blocks):
                self.enc.append(ResBlock(ch, base * m, embedding, attn)); ch = base * m; skips.append(ch)
            if l + 1 < self.L:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1)); skips.append(ch)
        self.mid.append(ResBlock(ch, ch, embedding, self.L > 1)); self.mid.append(ResBlock(ch, ch, embedding, False))
        for l in reversed(range(self.L)):
            attn = l == self.L - 1 and self.L > 1
            for _ in range(blocks + 1):
                self.dec.append(ResBlock(ch + skips.pop(), base * mult[l], embedding, attn)); ch = base * mult[l]
            if l > 0:
                self.up.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.out_norm, self.out = nn.GroupNorm(groups(ch), ch), nn.Conv2d(ch, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight); nn.init.zeros_(self.out.bias)

    def forward(self, x, c_noise):
        emb = F.silu(self.emb2(F.silu(self.emb1(self.emb(c_noise)))))
        h = self.stem(x); skips = [h]; e = d = 0
        for l in range(self.L):
            for _ in range(self.blocks):
                h = self.enc[e](h, emb); e += 1; skips.append(h)
            if l + 1 < self.L:
                h = self.down[d](h); d += 1; skips.append(h)
        h = self.mid[1](self.mid[0](h, emb), emb)
        k = u = 0
        for l in reversed(range(self.L)):
            for _ in range(self.blocks + 1):
                h = self.dec[k](torch.cat([h, skips.pop()], 1), emb); k += 1
            if l > 0:
                h = self.up[u](F.interpolate(h, scale_factor=2.0, mode="nearest")); u += 1
        return self.out(F.silu(self.out_norm(h)))


def precondition(net, x, sigma, sd=0.5):
    s = sigma.double(); s2 = s * s + sd * sd
    r = lambda v: v.to(x.dtype).view(-1, 1, 1, 1)
    return r(sd * sd / s2) * x + r(s * sd / s2.sqrt()) * net(r(1 / s2.sqrt()) * x, (s.log() / 4).to(x.dtype))


def perturb(y, sigma, D):
    B, N = y.shape[0], y[0].numel()
    a = torch._standard_gamma(torch.full((B,), N / 2.0, dtype=torch.float64))
    c = torch._standard_gamma(torch.full((B,), D / 2.0, dtype=torch.float64))
    R = sigma.double() * math.sqrt(D) * (a / c).sqrt()
    u = torch.randn_like(y); u = u / u.reshape(B, -1).norm(dim=1).view(-1, 1, 1, 1)
    return y + R.to(y.dtype).view(-1, 1, 1, 1) * u


def main():
    base, mult, batch, sample_batch, threads = int(sys.argv[1]), tuple(int(m) for m in sys.argv[2].split(",")), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads); torch.manual_seed(0)
    net = UNet(base=base, mult=mult)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    y = torch.rand(batch, 1, 28, 28) * 2 - 1

    def step():
        sigma = torch.exp(-1.2 + 1.2 * torch.randn(batch, dtype=torch.float64))
        x = perturb(y, sigma, 128)
        w = ((sigma * sigma + 0.25) / (sigma * 0.5) ** 2).float()
        loss = (w * (precondition(net, x, sigma) - y).square().reshape(batch, -1).mean(1)).mean()
        opt.zero_grad(); loss.backward(); opt.step()

    net.train()
    for _ in range(3): step()
    best = 1e30
    for _ in range(10):
        t0 = time.perf_counter(); step(); best = min(best, time.perf_counter() - t0)
    net.eval()

    @torch.no_grad()
    def sample(n, steps=18, smin=0.002, smax=80.0, rho=7.0, D=128):
        t = [(smax ** (1 / rho) + i / (steps - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho for i in range(steps)] + [0.0]
        chi2 = 2 * torch._standard_gamma(torch.full((n,), D / 2.0, dtype=torch.float64))
        x = torch.randn(n, 1, 28, 28, dtype=torch.float64) * (t[0] * (D / chi2).sqrt()).view(-1, 1, 1, 1)
        den = lambda x, s: precondition(net, x.float(), torch.full((n,), s, dtype=torch.float64)).double()
        for i in range(steps):
            d = (x - den(x, t[i])) / t[i]; xn = x + (t[i + 1] - t[i]) * d
            if t[i + 1] > 0:
                xn = x + (t[i + 1] - t[i]) * 0.5 * (d + (xn - den(xn, t[i + 1])) / t[i + 1])
            x = xn
        return x

    sample(2)
    t0 = time.perf_counter(); sample(sample_batch); ts = time.perf_counter() - t0
    print(json.dumps({"impl": f"PyTorch {torch.__version__} eager (Python)", "device": "cpu", "threads": threads, "params": params, "batch": batch,
                      "train_step_ms": round(1e3 * best, 2), "sample_batch": sample_batch, "sample_s": round(ts, 3), "images_per_s": round(sample_batch / ts, 2)}))


if __name__ == "__main__":
    main()
