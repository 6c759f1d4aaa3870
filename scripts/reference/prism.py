"""PyTorch reference of PRISM (SEEDS.md 2, seed 001): 2 physical blocks run as 11 virtual layers, with
per-virtual-layer adapters and Q/K channel permutations, for golfrt's golden tests.

  x0 = RMSN(E[t]); x = x0
  virtual layer v = 0..10 runs physical block P0 for v ≤ 4 (pushing its output on the skip stack) and P1 for
  v ≥ 5; v = 5..9 first pop a skip: gated, x ← g⊙x + (1−g)⊙(w⊙skip), g = σ(skip_gates), LIFO.
  Block (seed_modules.Block) at virtual layer v, LN scale s = 1/√(v+1), XSA on every layer, MLP
  leaky_relu(0.5)² with 4·d hidden, with the adapters of v (variants wo, wt, adapt):
      attn scale  a(v) = ELU(A⊙α_v − 1) + 1 + 1e−4      (A = the block's attn_scale, α_v = adapters.v.attn_scale)
      MLP scale   m(v) = ELU(M⊙μ_v − 1) + 1 + 1e−4      (M = mlp_scale, μ_v = adapters.v.mlp_scale)
      resid_mix(v) = R + Δ_v                              (R = resid_mix, Δ_v = adapters.v.resid_mix, init 0)
      q_gain(v) = max(softplus_β=4(G⊙γ_v), 1e−4)          (G = attn.q_gain, γ_v = adapters.v.q_gain)
    softplus_β(z) = (1/β)·log(1 + exp(β·z)), computed exactly (no linear branch above βz = 20 as torch's has).
  logits = 30·tanh(RMSN(x)·Eᵀ / 30)

Q/K repartition (variants wt and adapt): per virtual layer v the projected q [.., H·hd] and k [.., Hkv·hd]
are gathered along channels BEFORE the head reshape, q/k RMSNorm and RoPE:
      q'[..., i] = q[..., perm.q.v[i]],   k'[..., i] = k[..., perm.k.v[i]]
  wt:    q ← q',  k ← k'
  adapt: g = σ(w_v·x + b_v) per token (x = the attention input RMSN(x_in)·s; w_v = adapters.v.blend_weight [d],
         b_v = adapters.v.blend_bias [1], init 0); q ← g·q + (1−g)·q', k ← g·k + (1−g)·k' (the same g).
  The tables are INPUTS: written to the dump as int32 perm.q.<v> [H·hd] and perm.k.<v> [Hkv·hd] for every
  v = 0..10 (only in variants wt and adapt). Built per virtual layer from torch.Generator().manual_seed(
  perm_seed + 1009·v) (perm_seed 1729), drawing in this order: τ = randperm(r/2) (RoPE pair order), f =
  randperm(hd − r) (the unrotated dims), πq = randperm(H), πk = randperm(Hkv); the in-head dim map σ is
  σ(j) = τ(j), σ(j + r/2) = τ(j) + r/2 for j < r/2, σ(j) = r + f(j − r) for j ≥ r (shared by Q and K), and
  perm.q.v[h·hd + j] = πq(h)·hd + σ(j), perm.k.v[h·hd + j] = πk(h)·hd + σ(j).

Variants (--variant):
  wo     2 blocks, adapters, gated skips, no permutation (the submitted PRISM-WO)      [default]
  wt     wo + the fixed permutations
  adapt  wo + the learned identity/permutation blend
  albert 1 block used by all 11 virtual layers, gated skips, no adapters (q_gain, scales, resid_mix = the block's)
  naive  2 blocks (P0 for v ≤ 4, P1 for v ≥ 5), no skips, no adapters
  LN scale 1/√(v+1) and XSA on every layer in all variants.

Builds the tiny config by default, randomizes EVERY parameter, runs forward and backward on a random batch and
writes parameters, the permutation tables, tokens, targets, logits [B·T, V], loss and grad.<name> of every
parameter (scripts/reference/tensor_dump.py). Run with /usr/bin/python3 (torch 1.13):

  /usr/bin/python3 scripts/reference/prism.py --out /tmp/prism.bin --variant wt [--dtype float64]
  /usr/bin/python3 scripts/reference/prism.py --count-only [--variant ...]   # full config, vocab 8192: 9,993,320 (wo)
  /usr/bin/python3 scripts/reference/prism.py --gradcheck --variant adapt
  options: --perm-seed 1729, --train-len N, --dump-rope, --own-init

Tiny config (default): vocab 64, dim 32, heads 4, kv_heads 2 (head dim 8), rope_dims 4 (pairs (0,2), (1,3);
dims 4..7 unrotated), mlp_mult 4 (hidden 128, leaky_relu(0.5)²), 11 virtual layers, q_gain init 5,
train_len 0 (no NTK), seq 16, batch 2, tokens[:,0] = tokens[0,8] = BOS (1).
Full config (--preset full): vocab 8192, dim 512, heads 8, kv_heads 4, rope_dims 16, train_len 2048, mlp_mult 4.
Full counts: wo/wt 9,993,320; adapt 9,998,963; albert 7,085,064; naive 9,965,584.

Parameters at the tiny config (d = 32, kv_dim = 16; name -> shape: role):
  tok_emb.weight                  [64, 32]   E, tied head
  blocks.<p>.attn.c_q.weight      [32, 32]   physical block P_p, p = 0, 1 (only p = 0 for albert)
  blocks.<p>.attn.c_k.weight      [16, 32]
  blocks.<p>.attn.c_v.weight      [16, 32]
  blocks.<p>.attn.proj.weight     [32, 32]   (zero-init)
  blocks.<p>.attn.q_gain          [4]        G (init 5)
  blocks.<p>.mlp.fc.weight        [128, 32]
  blocks.<p>.mlp.proj.weight      [32, 128]  (zero-init)
  blocks.<p>.attn_scale           [32]       A
  blocks.<p>.mlp_scale            [32]       M
  blocks.<p>.resid_mix            [2, 32]    R
  skip_weights                    [5, 32]    w, row j for virtual layer 5+j (not in naive)
  skip_gates                      [5, 32]    skip gates (init 0; not in naive)
  adapters.<v>.attn_scale         [32]       α_v, v = 0..10 (wo, wt, adapt)
  adapters.<v>.mlp_scale          [32]       μ_v
  adapters.<v>.q_gain             [4]        γ_v
  adapters.<v>.resid_mix          [2, 32]    Δ_v
  adapters.<v>.blend_weight       [32]       w_v (adapt only)
  adapters.<v>.blend_bias         [1]        b_v (adapt only)
Non-parameter inputs (wt, adapt): perm.q.<v> int32 [H·hd] = [32], perm.k.<v> int32 [Hkv·hd] = [16], v = 0..10.
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
    "tiny": dict(vocab=64, dim=32, heads=4, kv_heads=2, mlp_mult=4, virtual=11, rope_dims=4, rope_base=10000.0,
                 train_len=0, qk_gain=5.0),
    "full": dict(vocab=8192, dim=512, heads=8, kv_heads=4, mlp_mult=4, virtual=11, rope_dims=16, rope_base=10000.0,
                 train_len=2048, qk_gain=5.0),
    "gradcheck": dict(vocab=11, dim=8, heads=2, kv_heads=1, mlp_mult=2, virtual=11, rope_dims=2, rope_base=10000.0,
                      train_len=3, qk_gain=5.0, seq=5, batch=2),
}

VARIANTS = {  # physical blocks, adapters, permutation ("none", "fixed", "blend"), skips
    "wo": (2, True, "none", True),
    "wt": (2, True, "fixed", True),
    "adapt": (2, True, "blend", True),
    "albert": (1, False, "none", True),
    "naive": (2, False, "none", False),
}
SOFTPLUS_BETA = 4.0
FLOOR = 1e-4


def permutation_tables(n_virtual, heads, kv_heads, hd, rot, perm_seed=1729):
    """(perm_q [V, H·hd], perm_k [V, Hkv·hd]) int64 gather indices, as described in the module docstring."""
    pq, pk = [], []
    for v in range(n_virtual):
        gen = torch.Generator().manual_seed(perm_seed + 1009 * v)
        tau = torch.randperm(rot // 2, generator=gen)
        free = torch.randperm(hd - rot, generator=gen)
        head_q = torch.randperm(heads, generator=gen)
        head_k = torch.randperm(kv_heads, generator=gen)
        sigma = torch.cat((tau, tau + rot // 2, free + rot))
        pq.append((head_q[:, None] * hd + sigma[None, :]).reshape(-1))
        pk.append((head_k[:, None] * hd + sigma[None, :]).reshape(-1))
    return torch.stack(pq), torch.stack(pk)


def softplus_exact(z, beta):
    bz = beta * z
    return (F.relu(bz) + torch.log1p(torch.exp(-bz.abs()))) / beta


class Adapter(nn.Module):
    def __init__(self, dim, heads, blend):
        super().__init__()
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.q_gain = nn.Parameter(torch.ones(heads))
        self.resid_mix = nn.Parameter(torch.zeros(2, dim))
        if blend:
            self.blend_weight = nn.Parameter(torch.zeros(dim))
            self.blend_bias = nn.Parameter(torch.zeros(1))


class Prism(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, hd = a.dim, a.dim // a.heads
        n_phys, use_adapters, self.perm_mode, use_skips = VARIANTS[a.variant]
        self.dim, self.softcap, self.n_virtual, self.variant = d, a.softcap, a.virtual, a.variant
        self.enc = a.virtual // 2
        self.tok_emb = nn.Embedding(a.vocab, d)
        self.blocks = nn.ModuleList(
            sm.Block(d, a.heads, a.kv_heads, a.mlp_mult * d, a.rope_dims, a.rope_base, a.train_len, a.qk_gain,
                     xsa=True, act="leaky_relu2", slope=0.5)
            for _ in range(n_phys))
        if use_skips:
            skips = min(self.enc, a.virtual - self.enc)
            self.skip_weights = nn.Parameter(torch.ones(skips, d))
            self.skip_gates = nn.Parameter(torch.zeros(skips, d))
        else:
            self.skip_weights = self.skip_gates = None
        self.adapters = (nn.ModuleList(Adapter(d, a.heads, self.perm_mode == "blend") for _ in range(a.virtual))
                         if use_adapters else None)
        if self.perm_mode != "none":
            pq, pk = permutation_tables(a.virtual, a.heads, a.kv_heads, hd, a.rope_dims, a.perm_seed)
            self.register_buffer("perm_q", pq, persistent=False)
            self.register_buffer("perm_k", pk, persistent=False)

    def physical(self, v):
        return self.blocks[0 if len(self.blocks) == 1 or v < self.enc else 1]

    def layer(self, v, x, x0):
        blk = self.physical(v)
        kw = dict(ln_scale=1.0 / math.sqrt(v + 1))
        if self.adapters is not None:
            ad = self.adapters[v]
            kw["attn_scale"] = F.elu(blk.attn_scale * ad.attn_scale - 1) + 1 + FLOOR
            kw["mlp_scale"] = F.elu(blk.mlp_scale * ad.mlp_scale - 1) + 1 + FLOOR
            kw["resid_mix"] = blk.resid_mix + ad.resid_mix
            kw["q_gain"] = softplus_exact(blk.attn.q_gain * ad.q_gain, SOFTPLUS_BETA).clamp_min(FLOOR)
        if self.perm_mode != "none":
            pq, pk = self.perm_q[v], self.perm_k[v]
            if self.perm_mode == "fixed":
                kw["qk_transform"] = lambda q, k, xa: (q.index_select(-1, pq), k.index_select(-1, pk))
            else:
                ad = self.adapters[v]

                def blend(q, k, xa):
                    g = torch.sigmoid(xa @ ad.blend_weight.to(xa.dtype) + ad.blend_bias.to(xa.dtype)).unsqueeze(-1)
                    return g * q + (1 - g) * q.index_select(-1, pq), g * k + (1 - g) * k.index_select(-1, pk)

                kw["qk_transform"] = blend
        return blk(x, x0, **kw)

    def forward(self, tokens, targets):
        x0 = sm.rms_norm(self.tok_emb(tokens))
        fn = lambda v, h: self.layer(v, h, x0)  # noqa: E731
        if self.skip_weights is not None:
            x = sm.unet_forward(self.n_virtual, fn, x0, self.skip_weights, self.skip_gates)
        else:
            x = x0
            for v in range(self.n_virtual):
                x = fn(v, x)
        x = sm.rms_norm(x).reshape(-1, self.dim)
        logits = sm.softcap(x @ self.tok_emb.weight.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return Prism(args).to(dtype)


def random_rules(args):
    starts_ends = lambda a, b: (lambda n, p: n.startswith(a) and n.endswith(b))  # noqa: E731
    return [
        (starts_ends("adapters.", "resid_mix"), (0.0, 0.2)),
        (starts_ends("adapters.", "q_gain"), (1.0, 0.2)),
        (starts_ends("adapters.", "blend_weight"), lambda p: (0.0, 1.0 / math.sqrt(p.shape[0]))),
        (starts_ends("adapters.", "blend_bias"), (0.0, 0.5)),
    ] + sm.common_random_rules(args.qk_gain)


def own_init(model, args):
    """SEEDS.md init: E ~ N(0, 0.005²), matrices orthogonal, zero output projections; adapters as built
    (α, μ, γ = 1, Δ = 0, blend w, b = 0), q_gain 5, skip weights 1, gates 0."""
    sm.seed_init_(model.named_parameters(), zero=("attn.proj.weight", "mlp.proj.weight"))


def extra_entries(model, args):
    if model.perm_mode == "none":
        return []
    out = [(f"perm.q.{v}", model.perm_q[v].to(torch.int32)) for v in range(model.n_virtual)]
    out += [(f"perm.k.{v}", model.perm_k[v].to(torch.int32)) for v in range(model.n_virtual)]
    return out


def describe(a):
    return (f"variant {a.variant}, vocab {a.vocab} dim {a.dim} heads {a.heads}/{a.kv_heads} rope {a.rope_dims} "
            f"virtual {a.virtual}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("heads", int), ("kv-heads", int), ("mlp-mult", int),
                      ("virtual", int), ("rope-dims", int), ("rope-base", float), ("train-len", int),
                      ("qk-gain", float)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    ap.add_argument("--variant", choices=list(VARIANTS), default="wo")
    ap.add_argument("--perm-seed", type=int, default=1729, help="permutation tables: seed perm_seed + 1009·v")
    sm.run_main(ap, PRESETS, build, random_rules, own_init=own_init, extra_entries=extra_entries,
                describe=describe)


if __name__ == "__main__":
    main()
