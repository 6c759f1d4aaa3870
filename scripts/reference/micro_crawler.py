"""PyTorch reference of the Micro Crawler (SEEDS.md 1b, seed 002): 4 flat blocks + 2 shared crawler blocks
with the deliberation gate, for golfrt's golden tests.

  x = Smear(RMSN(E[t] + Trigram(t))); x0 = x
  x ← UNet4(x, x0)                                  (flat blocks F0..F3: 2 push + 2 pop)
  C(h) = C2(C1(h)) with the crawler blocks (XSA and VE on both, LN scale 1/√5 and 1/√6, x0 as above)
  single firing (--firing single, the default training step):
      s = C(x + p_0); g = σ(W_g[s; r]); out = s + λ·(g⊙s + (1−g)⊙r − s)
  double firing (--firing double: eval, calibration, distillation, replay):
      f_k = C(x + p_k), k = 0, 1, both from the same x;  g1 = σ(W_g[f_0; f_1]); c = g1⊙f_0 + (1−g1)⊙f_1;
      g2 = σ(W_g[c; r]); out = f_1 + λ·(g2⊙c + (1−g2)⊙r − f_1)
  logits = 30·tanh(RMSN(out)·Eᵀ / 30)
[a; b] is the concatenation along the channel axis (a first), so W_g [d, 2d] multiplies a with its first
d columns; r [d] is broadcast over batch and positions.

Builds the tiny config by default, randomizes EVERY parameter, runs forward and backward on a random batch and
writes parameters, tokens, targets, logits [B·T, V], loss and grad.<name> of every parameter
(scripts/reference/tensor_dump.py). Run with /usr/bin/python3 (torch 1.13):

  /usr/bin/python3 scripts/reference/micro_crawler.py --out /tmp/crawl.bin [--firing double] [--dtype float64]
  /usr/bin/python3 scripts/reference/micro_crawler.py --count-only        # full config: 29,829,952
  /usr/bin/python3 scripts/reference/micro_crawler.py --gradcheck [--firing double]
  options: --smear old|gated|none, --gated-skips, --no-ln-scale, --trigram-primes 36313,27191,51647,
           --train-len N, --dump-rope, --own-init (QR loop positions, orthogonal W_g, λ = 0, r = 0)

Tiny config (default): vocab 64, dim 32, heads 4, kv_heads 2 (head dim 8), rope_dims 4, mlp_mult 4
(hidden 128), 4 flat + 2 crawler blocks, trigram 64 buckets × 8 (primes 36313, 27191, 51647), ve_dim 8,
smear old, plain skips, VE ×0.1 constant, train_len 0, seq 16, batch 2, tokens[:,0] = tokens[0,8] = BOS (1),
firing single.
Full config (--preset full): vocab 1024, dim 640, heads 10, kv_heads 5, rope_dims 16, train_len 1024,
mlp_mult 4, trigram 8192 × 128, ve_dim 128: 29,829,952 parameters (29,829,953 with --ve-scale learned).

Parameters at the tiny config (d = 32, kv_dim = 16; name -> shape: role):
  tok_emb.weight                  [64, 32]   E, tied head
  trigram.table                   [64, 8]    TrigramHash table (K × d_b)
  trigram.proj.weight             [32, 8]    TrigramHash projection d_b → d
  trigram.scale                   [1]        TrigramHash scalar (init 0.05)
  smear.gate                      [32]       SmearGate w (old form; --smear gated: smear.gate [1, 12], smear.lambda [1])
  flat.<i>.attn.c_q.weight        [32, 32]   flat block F_i, i = 0..3 (no XSA, no VE, LN scale 1/√(i+1))
  flat.<i>.attn.c_k.weight        [16, 32]
  flat.<i>.attn.c_v.weight        [16, 32]
  flat.<i>.attn.proj.weight       [32, 32]
  flat.<i>.attn.q_gain            [4]
  flat.<i>.mlp.fc.weight          [128, 32]
  flat.<i>.mlp.proj.weight        [32, 128]
  flat.<i>.attn_scale             [32]
  flat.<i>.mlp_scale              [32]
  flat.<i>.resid_mix              [2, 32]
  flat.skip_weights               [2, 32]    U-Net skip weights of the flat part (--gated-skips adds flat.skip_gates)
  ve.embed.weight                 [64, 8]    VE shared table
  ve.proj.weight                  [16, 8]    VE projection d_ve → Hkv·hd
  ve.scales                       [2]        VE per-layer scalars: entry k for crawler block C_{k+1}
    (--ve-scale learned adds ve.scale [1]: the ×0.1 as a learned scalar, init 0.1)
  crawler.<k>.*                   (as flat.<i>.*) crawler block C_{k+1}, k = 0, 1 (XSA, VE, LN scale 1/√(5+k))
  loop_pos                        [2, 32]    p_0, p_1 (rows)
  delib.gate.weight               [32, 64]   W_g (d × 2d)
  delib.lambda                    [1]        λ (init 0)
  delib.ref                       [32]       r, the learned reference (init 0)
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
    "tiny": dict(vocab=64, dim=32, heads=4, kv_heads=2, mlp_mult=4, flat=4, rope_dims=4, rope_base=10000.0,
                 train_len=0, qk_gain=1.5, trigram_buckets=64, trigram_dim=8, ve_dim=8),
    "full": dict(vocab=1024, dim=640, heads=10, kv_heads=5, mlp_mult=4, flat=4, rope_dims=16, rope_base=10000.0,
                 train_len=1024, qk_gain=1.5, trigram_buckets=8192, trigram_dim=128, ve_dim=128),
    "gradcheck": dict(vocab=11, dim=8, heads=2, kv_heads=1, mlp_mult=2, flat=4, rope_dims=2, rope_base=10000.0,
                      train_len=3, qk_gain=1.5, trigram_buckets=7, trigram_dim=4, ve_dim=4, seq=5, batch=2),
}


class Deliberation(nn.Module):
    """The deliberation gate: W_g [d, 2d] (gate.weight), λ [1], reference r [d]."""

    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim, bias=False)
        self.register_parameter("lambda", nn.Parameter(torch.zeros(1)))
        self.ref = nn.Parameter(torch.zeros(dim))

    def g(self, a, b):
        return torch.sigmoid(self.gate(torch.cat((a, b), dim=-1)))

    def single(self, s):
        lam, r = getattr(self, "lambda").to(s.dtype), self.ref.to(s.dtype).expand_as(s)
        g = self.g(s, r)
        return s + lam * (g * s + (1 - g) * r - s)

    def double(self, f0, f1):
        lam, r = getattr(self, "lambda").to(f0.dtype), self.ref.to(f0.dtype).expand_as(f0)
        g1 = self.g(f0, f1)
        c = g1 * f0 + (1 - g1) * f1
        g2 = self.g(c, r)
        return f1 + lam * (g2 * c + (1 - g2) * r - f1)


class MicroCrawler(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, hd = a.dim, a.dim // a.heads
        self.dim, self.softcap, self.firing = d, a.softcap, a.firing

        def block(layer, crawler):
            return sm.Block(d, a.heads, a.kv_heads, a.mlp_mult * d, a.rope_dims, a.rope_base, a.train_len, a.qk_gain,
                            xsa=crawler, act="relu2", ln_scale=1.0 / math.sqrt(layer + 1) if a.ln_scale else 1.0)

        self.tok_emb = nn.Embedding(a.vocab, d)
        self.trigram = sm.HashEmbedding(3, a.trigram_buckets, a.trigram_dim, d, sm.parse_layers(a.trigram_primes))
        self.smear = sm.make_smear(a.smear, d, a.bos_id)
        self.flat = sm.UNet([block(i, False) for i in range(a.flat)], d, gated=a.gated_skips)
        self.ve = sm.ValueEmbedding(a.vocab, a.ve_dim, a.kv_heads * hd, 2, learned_scale=a.ve_scale == "learned")
        self.crawler = nn.ModuleList(block(a.flat + k, True) for k in range(2))
        self.loop_pos = nn.Parameter(torch.zeros(2, d))
        self.delib = Deliberation(d)

    def forward(self, tokens, targets):
        x = sm.rms_norm(self.tok_emb(tokens) + self.trigram(tokens))
        if self.smear is not None:
            x = self.smear(x, tokens)
        x0 = x
        x = self.flat(x, x0)
        ve_base = self.ve.base(tokens)

        def crawl(h):
            for k, blk in enumerate(self.crawler):
                h = blk(h, x0, extra_v=self.ve.for_layer(ve_base, k))
            return h

        p = self.loop_pos.to(x.dtype)
        if self.firing == "single":
            out = self.delib.single(crawl(x + p[0]))
        else:
            out = self.delib.double(crawl(x + p[0]), crawl(x + p[1]))
        out = sm.rms_norm(out).reshape(-1, self.dim)
        logits = sm.softcap(out @ self.tok_emb.weight.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return MicroCrawler(args).to(dtype)


def random_rules(args):
    return [(lambda n, p: n == "delib.ref", (0.0, 1.0))] + sm.common_random_rules(args.qk_gain)


def own_init(model, args):
    """SEEDS.md init: E ~ N(0, 0.005²), matrices (W_g included) orthogonal, zero output projections and
    TrigramHash table/projection, VE table N(0, 1) and an orthogonal projection, QR loop positions, λ = 0,
    r = 0."""
    sm.seed_init_(model.named_parameters(), zero=("attn.proj.weight", "mlp.proj.weight", "trigram.table",
                                                  "trigram.proj.weight"))
    with torch.no_grad():
        model.ve.embed.weight.normal_(0.0, 1.0)
        model.loop_pos.copy_(sm.loop_positions_init(2, args.dim, "qr"))


def describe(a):
    return (f"vocab {a.vocab} dim {a.dim} heads {a.heads}/{a.kv_heads} rope {a.rope_dims} flat {a.flat} + 2 crawler, "
            f"trigram {a.trigram_buckets}x{a.trigram_dim} smear {a.smear} firing {a.firing}"
            f"{' gated-skips' if a.gated_skips else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("heads", int), ("kv-heads", int), ("mlp-mult", int),
                      ("flat", int), ("rope-dims", int), ("rope-base", float), ("train-len", int), ("qk-gain", float),
                      ("trigram-buckets", int), ("trigram-dim", int), ("ve-dim", int)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    ap.add_argument("--trigram-primes", default="36313,27191,51647",
                    help="p0 (current token), p1 (previous), p2 (the one before)")
    ap.add_argument("--firing", choices=["single", "double"], default="single")
    ap.add_argument("--smear", choices=["old", "gated", "none"], default="old")
    ap.add_argument("--ve-scale", choices=["fixed", "learned"], default="fixed",
                    help="VE's ×0.1: a constant (golfrt's nn.ValueEmbedding) or a learned scalar ve.scale (the "
                         "original code; the record's parameter count includes it)")
    ap.add_argument("--gated-skips", action="store_true")
    ap.add_argument("--no-ln-scale", dest="ln_scale", action="store_false")
    sm.run_main(ap, PRESETS, build, random_rules, own_init=own_init, describe=describe)


if __name__ == "__main__":
    main()
