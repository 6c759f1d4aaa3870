"""PyTorch reference of the Fractal Compressor (SEEDS.md 4, seed 000) for golfrt's golden test
(tests/golden_fractal_test.cc against examples/fractal.lua, preset tiny).

  A(E) = fc2·GELU(fc1·E + b1) + b2          E [vocab, embed]: the byte-level virtual vocab, A row-wise
  x = RMSN(A(E)[t])
  for i = 0 .. N-1:
      if i > 0 and i % K == 0:  push x;  x = Fold_f(x)          (f = the fold's index)
      x = Block(x + iter_pos[i])
  for each fold, last first:  x = pushed + Upsample(x)
  logits = 30·tanh(RMSN(x)·A(E)ᵀ / 30)

  Fold_f(x)[m] = w0⊙x[2m-1] + w1⊙x[2m] + pos_f[m]    (x[-1] = 0: shifted right by one, then paired)
  Upsample(z)[j] = z[j // 2]

Spectral matrices, built directly here (golfrt composes them differently, see golf/spectral.lua):
  D_n[k, i] = s_k·cos(πk(2i+1)/(2n)), s_0 = √(1/n), s_k = √(2/n)          (--basis dct)
  D_n = the rows of the Sylvester Hadamard matrix / √n sorted by their number of sign changes
                                                                          (--basis hadamard)
  SpectralLinear(n_in → n_out): W = D_out[:r_out]ᵀ·C·D_in[:r_in], r = ceil(ρ·n), y = x·Wᵀ
  SharedProjector (d → d for q, d → mlp·d for up): one C [r_up, r_in];
      W_up = D_up[:r_up]ᵀ·C·D_d[:r_in],  W_q = D_d[:r_q]ᵀ·C[:r_q]·D_d[:r_in],  r_q = ceil(ρ·d)
      q = x·W_qᵀ + shift_q,  up = x·W_upᵀ + shift_up
  Block: x += attn_scale⊙Attn(RMSN x);  x += mlp_scale⊙down(relu²(up(RMSN x)))
  Attn: q (shared), k, v, proj spectral; RMSN of q, k per head; partial RoPE; q·q_gain; causal GQA.

Run with /usr/bin/python3 (torch 1.13):
  /usr/bin/python3 scripts/reference/fractal.py --out /tmp/fractal.bin [--dtype float64] [--basis hadamard]
  /usr/bin/python3 scripts/reference/fractal.py --gradcheck
Tiny config: vocab 260, embed 8, hidden 16, dim 32, heads 4, kv_heads 2, rope_dims 4, mlp 4, rho 0.5,
iterations 5, fold every 2 (folds before iterations 2 and 4: 16 -> 8 -> 4 positions), seq 16, batch 2.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_modules as sm  # noqa: E402

PRESETS = {
    "tiny": dict(vocab=260, embed=8, hidden=16, dim=32, heads=4, kv_heads=2, mlp_mult=4, rho=0.5, iterations=5,
                 fold_every=2, rope_dims=4, rope_base=10000.0, qk_gain=1.5),
    "full": dict(vocab=260, embed=64, hidden=288, dim=4352, heads=68, kv_heads=34, mlp_mult=4, rho=0.254,
                 iterations=12, fold_every=4, rope_dims=16, rope_base=10000.0, qk_gain=1.5),
    "gradcheck": dict(vocab=12, embed=4, hidden=6, dim=8, heads=2, kv_heads=1, mlp_mult=2, rho=0.5, iterations=3,
                      fold_every=1, rope_dims=2, rope_base=10000.0, qk_gain=1.5, seq=8, batch=2),
}


def rank(rho, n):
    return max(1, min(n, math.ceil(rho * n)))


def dct_basis(n):
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    s = torch.full((n, 1), math.sqrt(2.0 / n), dtype=torch.float64)
    s[0] = math.sqrt(1.0 / n)
    return s * torch.cos(math.pi * k * (2 * i + 1) / (2 * n))


def hadamard_basis(n):
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    assert h.shape[0] == n, f"Hadamard basis needs a power of two, not {n}"
    changes = (h[:, 1:] != h[:, :-1]).sum(1)
    return h[changes.argsort()] / math.sqrt(n)


class Bases:
    def __init__(self, kind):
        self.kind, self.cache = kind, {}

    def get(self, n, r, dtype):
        if n not in self.cache:
            self.cache[n] = dct_basis(n) if self.kind == "dct" else hadamard_basis(n)
        return self.cache[n][:r].to(dtype)


def spectral(bases, x, C, n_in, n_out):
    d_in, d_out = bases.get(n_in, C.shape[1], C.dtype), bases.get(n_out, C.shape[0], C.dtype)
    return x @ (d_out.T @ C @ d_in).T


class SpectralLinear(nn.Module):
    def __init__(self, bases, n_in, n_out, rho):
        super().__init__()
        self.bases, self.n_in, self.n_out = bases, n_in, n_out
        self.coef = nn.Parameter(torch.zeros(rank(rho, n_out), rank(rho, n_in)))

    def forward(self, x):
        return spectral(self.bases, x, self.coef, self.n_in, self.n_out)


class SharedProjector(nn.Module):
    def __init__(self, bases, dim, up, rho):
        super().__init__()
        self.bases, self.dim, self.up, self.r_q = bases, dim, up, rank(rho, dim)
        self.coef = nn.Parameter(torch.zeros(rank(rho, up), rank(rho, dim)))
        self.shift_q = nn.Parameter(torch.zeros(dim))
        self.shift_up = nn.Parameter(torch.zeros(up))

    def q(self, x):
        return spectral(self.bases, x, self.coef[: self.r_q], self.dim, self.dim) + self.shift_q

    def up_proj(self, x):
        return spectral(self.bases, x, self.coef, self.dim, self.up) + self.shift_up


class SpectralBlock(nn.Module):
    def __init__(self, a, bases):
        super().__init__()
        d, self.H, self.Hkv = a.dim, a.heads, a.kv_heads
        self.hd = d // a.heads
        kv = self.Hkv * self.hd
        self.shared = SharedProjector(bases, d, a.mlp_mult * d, a.rho)
        self.c_k = SpectralLinear(bases, d, kv, a.rho)
        self.c_v = SpectralLinear(bases, d, kv, a.rho)
        self.proj = SpectralLinear(bases, d, d, a.rho)
        self.down = SpectralLinear(bases, a.mlp_mult * d, d, a.rho)
        self.q_gain = nn.Parameter(torch.full((a.heads,), a.qk_gain))
        self.attn_scale = nn.Parameter(torch.ones(d))
        self.mlp_scale = nn.Parameter(torch.ones(d))
        self.rope_dims, self.rope_base, self.train_len = a.rope_dims, a.rope_base, a.seq

    def attention(self, x):
        B, T, D = x.shape
        q = sm.rms_norm(self.shared.q(x).reshape(B, T, self.H, self.hd))
        k = sm.rms_norm(self.c_k(x).reshape(B, T, self.Hkv, self.hd))
        v = self.c_v(x).reshape(B, T, self.Hkv, self.hd)
        cos, sin = sm.rotary_tables(T, self.rope_dims, self.rope_base, self.train_len)
        q = sm.apply_partial_rotary(q, cos, sin, self.rope_dims) * self.q_gain[None, None, :, None]
        k = sm.apply_partial_rotary(k, cos, sin, self.rope_dims)
        return self.proj(sm.causal_attention(q, k, v).reshape(B, T, D))

    def forward(self, x):
        x = x + self.attn_scale * self.attention(sm.rms_norm(x))
        return x + self.mlp_scale * self.down(F.relu(self.shared.up_proj(sm.rms_norm(x))).square())


class SequenceFolder(nn.Module):
    def __init__(self, dim, length):
        super().__init__()
        self.weight = nn.Parameter(torch.full((2, dim), 0.5))
        self.pos = nn.Parameter(torch.zeros(length, dim))

    def forward(self, x):
        B, L, D = x.shape
        shifted = torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), 1)
        y = (shifted.reshape(B, L // 2, 2, D) * self.weight).sum(2)
        return y + self.pos[: L // 2]


def upsample(z):
    return z.repeat_interleave(2, dim=1)


class FoldedRecurrentBlock(nn.Module):
    def __init__(self, a, block):
        super().__init__()
        self.iterations, self.fold_every = a.iterations, a.fold_every
        folds = (a.iterations - 1) // a.fold_every
        self.block = block
        self.iter_pos = nn.Parameter(torch.zeros(a.iterations, a.dim))
        self.folds = nn.ModuleList(SequenceFolder(a.dim, a.seq >> (f + 1)) for f in range(folds))

    def forward(self, x):
        pushed = []
        for i in range(self.iterations):
            if i > 0 and i % self.fold_every == 0:
                pushed.append(x)
                x = self.folds[len(pushed) - 1](x)
            x = self.block(x + self.iter_pos[i])
        for res in reversed(pushed):
            x = res + upsample(x)
        return x


class ByteVocab(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.emb = nn.Parameter(torch.zeros(a.vocab, a.embed))
        self.fc1 = nn.Parameter(torch.zeros(a.hidden, a.embed))
        self.fc1_bias = nn.Parameter(torch.zeros(a.hidden))
        self.fc2 = nn.Parameter(torch.zeros(a.dim, a.hidden))
        self.fc2_bias = nn.Parameter(torch.zeros(a.dim))

    def assembled(self):
        return F.gelu(self.emb @ self.fc1.T + self.fc1_bias) @ self.fc2.T + self.fc2_bias


class Fractal(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.softcap, self.dim = a.softcap, a.dim
        self.vocab = ByteVocab(a)
        self.blocks = FoldedRecurrentBlock(a, SpectralBlock(a, Bases(a.basis)))

    def forward(self, tokens, targets):
        table = self.vocab.assembled()
        x = self.blocks(sm.rms_norm(table[tokens]))
        logits = sm.softcap(sm.rms_norm(x).reshape(-1, self.dim) @ table.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return Fractal(args).to(dtype)


def random_rules(args):
    ends = lambda *s: (lambda n, p: n.endswith(s))  # noqa: E731
    fan_in = lambda p: (0.0, 1.0 / math.sqrt(p.shape[-1]))  # noqa: E731
    return [
        (ends("vocab.emb"), (0.0, 1.0)),
        (ends("fc1", "fc2", ".coef"), fan_in),
        (ends("_bias", "shift_q", "shift_up"), (0.0, 0.1)),
        (ends("q_gain"), (args.qk_gain, 0.3)),
        (ends("attn_scale", "mlp_scale"), (1.0, 0.2)),
        (ends("iter_pos", ".pos"), (0.0, 0.3)),
        (ends(".weight"), (0.5, 0.2)),
    ]


def describe(a):
    return (f"dim {a.dim} heads {a.heads}/{a.kv_heads} rho {a.rho} iterations {a.iterations} fold every "
            f"{a.fold_every} basis {a.basis}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("embed", int), ("hidden", int), ("dim", int), ("heads", int),
                      ("kv-heads", int), ("mlp-mult", int), ("rho", float), ("iterations", int),
                      ("fold-every", int), ("rope-dims", int), ("rope-base", float), ("qk-gain", float)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    ap.add_argument("--basis", choices=["dct", "hadamard"], default="dct")
    sm.run_main(ap, PRESETS, build, random_rules, describe=describe)


if __name__ == "__main__":
    main()
