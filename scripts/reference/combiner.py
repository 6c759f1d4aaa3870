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


def gradient_fit(args):
    """The seed's combiner fit on random features: AdamW (torch.optim.AdamW, betas 0.9/0.999, eps 1e-8,
    weight decay 0.01) on α, M, β, full batch, cross entropy of softcap(h'·Eᵀ) with h, T_1 RMS-normalized
    normals, E ~ N(0, 0.5²), random targets, and a random starting combiner. Dumps the features, E, the
    start, the loss before each step and after the last, and the final α, M, β."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tensor_dump import write_tensor_dump
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(args.seed)
    n, d, v = args.fit_windows, args.dim, args.vocab
    h = sm.rms_norm(torch.randn(n, d, generator=gen, dtype=torch.float64)).to(dtype)
    t1 = sm.rms_norm(torch.randn(n, d, generator=gen, dtype=torch.float64)).to(dtype)
    y = torch.randint(0, v, (n,), generator=gen)
    emb = (0.5 * torch.randn(v, d, generator=gen, dtype=torch.float64)).to(dtype)
    comb = Combiner(d).to(dtype)
    sm.randomize_(comb.named_parameters(), gen, [(lambda n_, p: True, (0.0, 0.1))])
    start = [(f"start.{k}", p.detach().clone()) for k, p in comb.named_parameters()]
    opt = torch.optim.AdamW(comb.parameters(), lr=args.fit_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def loss_fn():
        logits = sm.softcap(comb(h, t1) @ emb.T, args.softcap)
        return sm.lm_loss(logits, y)

    losses = []
    for _ in range(args.fit_steps):
        opt.zero_grad()
        loss = loss_fn()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        losses.append(loss_fn().item())
    entries = [("fit.h", h), ("fit.t1", t1), ("fit.y", y.to(torch.int32)), ("tok_emb.weight", emb)] + start
    entries += [(f"combiner.{k}", p.detach()) for k, p in comb.named_parameters()]
    entries += [("fit.losses", torch.tensor(losses, dtype=torch.float64))]
    write_tensor_dump(args.out, entries)
    print(f"{args.out}: gradient fit, {n} windows, {args.fit_steps} steps, loss {losses[0]:.8g} -> {losses[-1]:.8g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit-steps", type=int, default=0, help="> 0: run the gradient fit reference instead (gradient_fit)")
    ap.add_argument("--fit-lr", type=float, default=1e-3)
    ap.add_argument("--fit-windows", type=int, default=48)
    for name, typ in [("vocab", int), ("dim", int), ("layers", int), ("heads", int), ("kv-heads", int),
                      ("mlp-mult", int), ("rope-dims", int), ("rope-base", float), ("qk-gain", float)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    if ap.parse_known_args()[0].fit_steps > 0:
        sm.add_common_args(ap)
        return gradient_fit(sm.apply_preset(ap.parse_args(), PRESETS))
    sm.run_main(ap, PRESETS, build, random_rules, extra_entries=extra_entries, describe=describe)


if __name__ == "__main__":
    main()
