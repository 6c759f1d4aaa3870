"""PyTorch reference of Frugendorff Squared (SEEDS.md 1a, seed 002): 6 unique blocks × 2 loops, for golfrt's
golden tests.

  x = Smear(RMSN(E[t] + Bigram(t))); x0 = x
  for loop ℓ = 0, 1:  x ← x + p_ℓ;  x ← UNet6(x, x0)   (3 push + 3 pop, skip stack reset every loop)
  logits = 30·tanh(RMSN(x)·Eᵀ / 30)
Blocks (seed_modules.Block): resid_mix with x0, LN scale 1/√(i+1) by block index i (the same in both
loops), per-head q/k RMSNorm, partial RoPE (first rope_dims of each head, j with j + rope_dims/2, NTK
beyond --train-len), q_gain, causal GQA, XSA on --xsa-layers, shared VE added to v on --ve-layers,
relu² MLP (mlp_mult·dim hidden).

Builds the tiny config by default, randomizes EVERY parameter (zero-init ones included), runs forward and
backward on a random batch and writes parameters, tokens, targets, logits [B·T, V], loss and grad.<name> of
every parameter (scripts/reference/tensor_dump.py). Run with Debian's Python (/usr/bin/python3, torch 1.13):

  /usr/bin/python3 scripts/reference/frugendorff.py --out /tmp/frug.bin [--dtype float64] [--seed 0]
  /usr/bin/python3 scripts/reference/frugendorff.py --count-only          # full config: 28,224,319
  /usr/bin/python3 scripts/reference/frugendorff.py --gradcheck
  options: --smear old|gated|none, --loop-init normal|qr (--own-init only), --gated-skips, --no-ln-scale,
           --xsa-layers 4,5  --ve-layers 2,3  --train-len N (NTK when seq > N)  --dump-rope  --own-init

Tiny config (default): vocab 64, dim 32, heads 4, kv_heads 2 (head dim 8), rope_dims 4, mlp_mult 4
(hidden 128), 6 blocks × 2 loops, bigram 32 buckets × 8, ve_dim 8, XSA on 4,5, VE on 2,3, smear old,
plain skips, VE ×0.1 constant, train_len 0 (no NTK), seq 16, batch 2, tokens[:,0] = tokens[0,8] = BOS (1).
Full config (--preset full): vocab 1024, dim 640, heads 10, kv_heads 5, rope_dims 16, train_len 1024,
mlp_mult 4 (2560), bigram 2048 × 128, ve_dim 128: 28,224,319 parameters; 28,224,320 (the record's count)
with --ve-scale learned.

Parameters at the tiny config (d = 32, kv_dim = Hkv·hd = 16, name -> shape: role):
  tok_emb.weight                 [64, 32]   E, tied head
  bigram.table                   [32, 8]    BigramHash table (K × d_b), PARAMETER_GOLF.md
  bigram.proj.weight             [32, 8]    BigramHash projection d_b → d
  bigram.scale                   [1]        BigramHash scalar (init 0.05)
  smear.gate                     [32]       SmearGate w (old form, per channel; --smear old)
    (--smear gated instead: smear.gate [1, 12] = W, smear.lambda [1] = λ)
  ve.embed.weight                [64, 8]    VE shared table (V × d_ve)
  ve.proj.weight                 [16, 8]    VE projection d_ve → Hkv·hd
  ve.scales                      [2]        VE per-layer scalars, entry k for the k-th of --ve-layers
    (--ve-scale learned adds ve.scale [1]: the ×0.1 as a learned scalar, init 0.1)
  loop_pos                       [2, 32]    p_ℓ, loop position vectors (row ℓ)
  blocks.<i>.attn.c_q.weight     [32, 32]   W_q of block i = 0..5
  blocks.<i>.attn.c_k.weight     [16, 32]   W_k
  blocks.<i>.attn.c_v.weight     [16, 32]   W_v
  blocks.<i>.attn.proj.weight    [32, 32]   attention output projection (zero-init)
  blocks.<i>.attn.q_gain         [4]        per-head q gain (init 1.5)
  blocks.<i>.mlp.fc.weight       [128, 32]  MLP up
  blocks.<i>.mlp.proj.weight     [32, 128]  MLP down (zero-init)
  blocks.<i>.attn_scale          [32]       a
  blocks.<i>.mlp_scale           [32]       m
  blocks.<i>.resid_mix           [2, 32]    (m0, m1)
  blocks.skip_weights            [3, 32]    U-Net skip weights w (row j for decoder block 3+j)
    (--gated-skips adds blocks.skip_gates [3, 32])
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
    "tiny": dict(vocab=64, dim=32, heads=4, kv_heads=2, mlp_mult=4, blocks=6, loops=2, rope_dims=4,
                 rope_base=10000.0, train_len=0, qk_gain=1.5, bigram_buckets=32, bigram_dim=8, ve_dim=8,
                 xsa_layers="4,5", ve_layers="2,3"),
    "full": dict(vocab=1024, dim=640, heads=10, kv_heads=5, mlp_mult=4, blocks=6, loops=2, rope_dims=16,
                 rope_base=10000.0, train_len=1024, qk_gain=1.5, bigram_buckets=2048, bigram_dim=128, ve_dim=128,
                 xsa_layers="4,5", ve_layers="2,3"),
    # gradcheck: finite differences over every value, so as small as still exercises every path
    "gradcheck": dict(vocab=11, dim=8, heads=2, kv_heads=1, mlp_mult=2, blocks=6, loops=2, rope_dims=2,
                      rope_base=10000.0, train_len=3, qk_gain=1.5, bigram_buckets=7, bigram_dim=4, ve_dim=4,
                      xsa_layers="4,5", ve_layers="2,3", seq=5, batch=2),
}


class Frugendorff(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, hd = a.dim, a.dim // a.heads
        self.dim, self.loops, self.softcap = d, a.loops, a.softcap
        self.xsa_layers, self.ve_layers = sm.parse_layers(a.xsa_layers), sm.parse_layers(a.ve_layers)
        self.tok_emb = nn.Embedding(a.vocab, d)
        self.bigram = sm.HashEmbedding(2, a.bigram_buckets, a.bigram_dim, d, sm.DEFAULT_PRIMES)
        self.smear = sm.make_smear(a.smear, d, a.bos_id)
        self.ve = sm.ValueEmbedding(a.vocab, a.ve_dim, a.kv_heads * hd, len(self.ve_layers),
                                    learned_scale=a.ve_scale == "learned") if self.ve_layers else None
        self.loop_pos = nn.Parameter(torch.zeros(a.loops, d))
        blocks = [sm.Block(d, a.heads, a.kv_heads, a.mlp_mult * d, a.rope_dims, a.rope_base, a.train_len, a.qk_gain,
                           xsa=i in self.xsa_layers, act="relu2",
                           ln_scale=1.0 / math.sqrt(i + 1) if a.ln_scale else 1.0)
                  for i in range(a.blocks)]
        self.blocks = sm.UNet(blocks, d, gated=a.gated_skips)

    def forward(self, tokens, targets):
        x = sm.rms_norm(self.tok_emb(tokens) + self.bigram(tokens))
        if self.smear is not None:
            x = self.smear(x, tokens)
        x0 = x
        ve_base = self.ve.base(tokens) if self.ve is not None else None

        def block_fn(i, h):
            extra_v = None
            if i in self.ve_layers:
                extra_v = self.ve.for_layer(ve_base, self.ve_layers.index(i))
            return self.blocks[i](h, x0, extra_v=extra_v)

        for loop in range(self.loops):
            x = x + self.loop_pos[loop].to(x.dtype)
            x = self.blocks(x, x0, block_fn)  # the skip stack is local to each call: reset every loop
        x = sm.rms_norm(x).reshape(-1, self.dim)
        logits = sm.softcap(x @ self.tok_emb.weight.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return Frugendorff(args).to(dtype)


def random_rules(args):
    return sm.common_random_rules(args.qk_gain)


def own_init(model, args):
    """SEEDS.md init: E ~ N(0, 0.005²), matrices orthogonal, zero-init output projections and BigramHash
    (table and projection, as PARAMETER_GOLF.md states); VE table N(0, 1) and an orthogonal projection."""
    sm.seed_init_(model.named_parameters(), zero=("attn.proj.weight", "mlp.proj.weight", "bigram.table",
                                                  "bigram.proj.weight"))
    with torch.no_grad():
        if model.ve is not None:
            model.ve.embed.weight.normal_(0.0, 1.0)
        model.loop_pos.copy_(sm.loop_positions_init(args.loops, args.dim, args.loop_init))


def describe(a):
    return (f"vocab {a.vocab} dim {a.dim} heads {a.heads}/{a.kv_heads} rope {a.rope_dims} blocks {a.blocks}x{a.loops} "
            f"xsa {a.xsa_layers} ve {a.ve_layers} smear {a.smear}{' gated-skips' if a.gated_skips else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("heads", int), ("kv-heads", int), ("mlp-mult", int),
                      ("blocks", int), ("loops", int), ("rope-dims", int), ("rope-base", float), ("train-len", int),
                      ("qk-gain", float), ("bigram-buckets", int), ("bigram-dim", int), ("ve-dim", int),
                      ("xsa-layers", str), ("ve-layers", str)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    ap.add_argument("--smear", choices=["old", "gated", "none"], default="old")
    ap.add_argument("--loop-init", choices=["normal", "qr"], default="normal",
                    help="loop position init for --own-init (the code's N(0,1)·0.01 or the QR rows)")
    ap.add_argument("--ve-scale", choices=["fixed", "learned"], default="fixed",
                    help="VE's ×0.1: a constant (golfrt's nn.ValueEmbedding) or a learned scalar ve.scale (the "
                         "original code; the record's parameter count includes it)")
    ap.add_argument("--gated-skips", action="store_true")
    ap.add_argument("--no-ln-scale", dest="ln_scale", action="store_false")
    sm.run_main(ap, PRESETS, build, random_rules, own_init=own_init, describe=describe)


if __name__ == "__main__":
    main()
