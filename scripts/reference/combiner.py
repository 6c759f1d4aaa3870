"""PyTorch reference for examples/combiner.lua (SEEDS.md §3, seed 003): the linear combiner on a base
of L blocks (MLP leaky_relu(0.5)², partial RoPE without NTK, XSA in every block, LN scale 1/√(i+1),
gated U-Net skips, tied head with softcap), written from SEEDS.md:

  x0 = RMSN(E[tokens]);  hs = RMSN(UNet(x0))                            [B, T, D]
  h  = hs[:, T−1]                                                       (the window's last position)
  T_1 = RMSN(UNet([x0; RMSN(h)]))[:, T]                                 (one thinking position)
  h' = (1 + α)·h + M·T_1 + β
  logits = softcap(E·[hs[:, :T−1]; h']), the loss their mean cross entropy over all B·T targets

(golfrt's "combined" graph: the base at positions 1..T−1, the combiner at the last). Every
parameter random, α, M and β included; dumps loss, logits, every gradient, and h, T_1.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_modules as sm  # noqa: E402

PRESETS = {
    "tiny": dict(vocab=64, dim=32, layers=5, heads=4, kv_heads=2, mlp_mult=4, rope_dims=4, rope_base=10000.0,
                 qk_gain=4.0),
    "full": dict(vocab=1024, dim=512, layers=11, heads=8, kv_heads=4, mlp_mult=4, rope_dims=16, rope_base=10000.0,
                 qk_gain=4.0),
    "gradcheck": dict(vocab=11, dim=8, layers=3, heads=2, kv_heads=1, mlp_mult=2, rope_dims=2, rope_base=10000.0,
                      qk_gain=4.0, seq=5, batch=2),
}


class Combiner(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1))
        self.M = nn.Parameter(torch.zeros(dim, dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, h, t1):
        return (1 + self.alpha) * h + t1 @ self.M.T + self.beta


class CombinerModel(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.dim, self.softcap = a.dim, a.softcap
        self.tok_emb = nn.Embedding(a.vocab, a.dim)
        blocks = [sm.Block(a.dim, a.heads, a.kv_heads, a.mlp_mult * a.dim, a.rope_dims, a.rope_base, 0, a.qk_gain,
                           xsa=True, act="leaky_relu2", slope=0.5, ln_scale=1.0 / math.sqrt(i + 1))
                  for i in range(a.layers)]
        self.blocks = sm.UNet(blocks, a.dim, gated=True)
        self.combiner = Combiner(a.dim)
        self.last = None

    def stack(self, x0):
        return sm.rms_norm(self.blocks(x0, x0))

    def forward(self, tokens, targets):
        x0 = sm.rms_norm(self.tok_emb(tokens))
        hs = self.stack(x0)
        T = hs.shape[1]
        h = hs[:, T - 1:T]
        t1 = self.stack(torch.cat((x0, sm.rms_norm(h)), dim=1))[:, T:T + 1]
        self.last = (h.detach(), t1.detach())
        hc = torch.cat((hs[:, :T - 1], self.combiner(h, t1)), dim=1).reshape(-1, self.dim)
        logits = sm.softcap(hc @ self.tok_emb.weight.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return CombinerModel(args).to(dtype)


def random_rules(args):
    eq = lambda s: (lambda n, p: n == s)  # noqa: E731
    return [
        (eq("combiner.alpha"), (0.0, 0.3)),
        (eq("combiner.M"), lambda p: (0.0, 1.0 / math.sqrt(p.shape[1]))),
        (eq("combiner.beta"), (0.0, 0.3)),
    ] + sm.common_random_rules(args.qk_gain)


def extra_entries(model, args):
    h, t1 = model.last
    return [("h", h), ("t1", t1)]


def describe(a):
    return f"vocab {a.vocab} dim {a.dim} layers {a.layers} heads {a.heads}/{a.kv_heads} rope {a.rope_dims}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("layers", int), ("heads", int), ("kv-heads", int),
                      ("mlp-mult", int), ("rope-dims", int), ("rope-base", float), ("qk-gain", float)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    sm.run_main(ap, PRESETS, build, random_rules, extra_entries=extra_entries, describe=describe)


if __name__ == "__main__":
    main()
