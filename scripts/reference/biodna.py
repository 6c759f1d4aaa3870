"""PyTorch reference of BioDNA (SEEDS.md 5, seed 004) in the baseline's shape, for golfrt's golden tests.

The baseline GPT (resid_mix with x0, q/k RMSNorm, full-head RoPE, q_gain, causal GQA, relu² MLP, U-Net skips,
tied softcapped head) with every linear generated from a genotype:
  g = G_L[layer] + G_T[type]   (types q, k, v, attn_out, fc, mlp_proj per layer; head: g = G_T[head])
  f(g) = W2·silu(W1·g + b1) + b2, f_row: genes → hidden → D_out·R, f_col: genes → hidden → D_in·R
  r = f_row(g).reshape(D_out, R)[:out] / √(in·R),  c = f_col(g).reshape(D_in, R)[:in],  y = (x·c)·rᵀ
  (D_out, D_in: the largest out and in over the linears; both SEEDS.md's D_max = 1024 at the full config)
  logits = softcap(h·Eᵀ + s·(h·c_head)·r_headᵀ),  h = RMSN(x)   (tied head plus the head gene's rank-R term,
  scaled by the learned scalar s = head_scale)
Genes are stacked layer-major ([layer][type] for the per-layer types, then the head) and both MLPs run once
per forward over the stack, as dsl/lib/golf/genome.lua does.

Randomizes EVERY parameter, runs forward and backward on a random batch and writes parameters, tokens, targets,
logits [B·T, V], loss and grad.<name> of every parameter (scripts/reference/tensor_dump.py):

  /usr/bin/python3 scripts/reference/biodna.py --out /tmp/biodna.bin [--dtype float64] [--seed 0]
  /usr/bin/python3 scripts/reference/biodna.py --count-only          # full config: 2,679,496
  /usr/bin/python3 scripts/reference/biodna.py --gradcheck
  /usr/bin/python3 scripts/reference/biodna.py --init-stats          # effective W std at the script's init

Tiny config (default): vocab 96, dim 32, 5 layers, heads 4, kv_heads 2 (head dim 8), mlp 2 (hidden 64), genes 8,
morph hidden 16, rank 4, D_out 96 (the head), D_in 64 (mlp_proj), seq 16, batch 2. Full: the baseline's 9 × d512, genes 32, hidden 64, rank 16.

Parameters (golfrt's names):
  tok_emb.weight            [V, d]          E, tied head
  genome.layer_genes        [L, genes]      G_L
  genome.type_genes         [7, genes]      G_T (q, k, v, attn_out, fc, mlp_proj, head)
  genome.f_row.w1, .b1      [hidden, genes], [hidden]
  genome.f_row.w2, .b2      [D_out·R, hidden], [D_out·R]
  genome.f_col.*            the same with D_in
  blocks.<i>.attn.q_gain, attn_scale, mlp_scale, resid_mix; blocks.skip_weights; head_scale [1]
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
    "tiny": dict(vocab=96, dim=32, layers=5, heads=4, kv_heads=2, mlp_mult=2, genes=8, morph_hidden=16, rank=4,
                 rope_base=10000.0, qk_gain=1.5),
    "full": dict(vocab=1024, dim=512, layers=9, heads=8, kv_heads=4, mlp_mult=2, genes=32, morph_hidden=64, rank=16,
                 rope_base=10000.0, qk_gain=1.5),
    "gradcheck": dict(vocab=11, dim=8, layers=3, heads=2, kv_heads=1, mlp_mult=2, genes=3, morph_hidden=5, rank=2,
                      rope_base=10000.0, qk_gain=1.5, seq=5, batch=2),
}

TYPES = ("q", "k", "v", "attn_out", "fc", "mlp_proj", "head")
SILU_RMS = 0.5966  # E[silu(u)²]^½, u ~ N(0, 1): the script's W2 init (genome.lua)


class Morph(nn.Module):
    def __init__(self, genes, hidden, out):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(hidden, genes))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.empty(out, hidden))
        self.b2 = nn.Parameter(torch.zeros(out))

    def forward(self, g):
        return F.silu(g @ self.w1.T + self.b1) @ self.w2.T + self.b2


class Genome(nn.Module):
    def __init__(self, layers, shapes, genes, hidden, rank):
        """shapes: {type: (in, out)} for TYPES; the head is layerless."""
        super().__init__()
        self.layers, self.shapes, self.rank = layers, shapes, rank
        self.d_in = max(s[0] for s in shapes.values())
        self.d_out = max(s[1] for s in shapes.values())
        self.layer_genes = nn.Parameter(torch.empty(layers, genes))
        self.type_genes = nn.Parameter(torch.empty(len(TYPES), genes))
        self.f_row = Morph(genes, hidden, self.d_out * rank)
        self.f_col = Morph(genes, hidden, self.d_in * rank)
        self.rows = self.cols = None

    def express(self):
        P = len(TYPES) - 1
        g = (self.layer_genes[:, None, :] + self.type_genes[None, :P, :]).reshape(self.layers * P, -1)
        g = torch.cat((g, self.type_genes[P:]), dim=0)
        n = g.shape[0]
        self.rows = self.f_row(g).reshape(n, self.d_out, self.rank)
        self.cols = self.f_col(g).reshape(n, self.d_in, self.rank)

    def index(self, layer, t):
        P = len(TYPES) - 1
        return self.layers * P if t == "head" else layer * P + TYPES.index(t)

    def factors(self, layer, t):
        fin, fout = self.shapes[t]
        i = self.index(layer, t)
        return self.rows[i, :fout] / math.sqrt(fin * self.rank), self.cols[i, :fin]


class GeneratedLinear(nn.Module):
    def __init__(self, genome, layer, t):
        super().__init__()
        object.__setattr__(self, "genome", genome)  # not a submodule: its parameters belong to the model once
        self.layer, self.t = layer, t

    def forward(self, x):
        r, c = self.genome.factors(self.layer, self.t)
        return (x @ c.to(x.dtype)) @ r.to(x.dtype).T


class BioDNA(nn.Module):
    def __init__(self, a):
        super().__init__()
        d, hd = a.dim, a.dim // a.heads
        kv, hidden = a.kv_heads * hd, a.mlp_mult * a.dim
        self.dim, self.softcap = d, a.softcap
        self.tok_emb = nn.Embedding(a.vocab, d)
        shapes = dict(q=(d, d), k=(d, kv), v=(d, kv), attn_out=(d, d), fc=(d, hidden), mlp_proj=(hidden, d),
                      head=(d, a.vocab))
        self.genome = Genome(a.layers, shapes, a.genes, a.morph_hidden, a.rank)
        blocks = []
        for i in range(a.layers):
            b = sm.Block(d, a.heads, a.kv_heads, hidden, rope_dims=hd, rope_base=a.rope_base, train_len=0,
                         qk_gain_init=a.qk_gain, act="relu2")
            for mod, field, t in ((b.attn, "c_q", "q"), (b.attn, "c_k", "k"), (b.attn, "c_v", "v"),
                                  (b.attn, "proj", "attn_out"), (b.mlp, "fc", "fc"), (b.mlp, "proj", "mlp_proj")):
                setattr(mod, field, GeneratedLinear(self.genome, i, t))
            blocks.append(b)
        self.blocks = sm.UNet(blocks, d)
        self.head = GeneratedLinear(self.genome, None, "head")
        self.head_scale = nn.Parameter(torch.zeros(1))

    def forward(self, tokens, targets):
        self.genome.express()
        x0 = sm.rms_norm(self.tok_emb(tokens))
        h = sm.rms_norm(self.blocks(x0, x0)).reshape(-1, self.dim)
        logits = sm.softcap(h @ self.tok_emb.weight.T + self.head_scale.to(h.dtype) * self.head(h), self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return BioDNA(args).to(dtype)


def random_rules(args):
    ends = lambda *s: (lambda n, p: n.endswith(s))  # noqa: E731
    return [
        (ends("_genes"), (0.0, 1.0)),
        (ends(".w1", ".w2"), lambda p: (0.0, 1.0 / math.sqrt(p.shape[1]))),
        (ends(".b1", ".b2"), (0.0, 0.5)),
        (lambda n, p: n == "head_scale", (0.5, 0.2)),
    ] + sm.common_random_rules(args.qk_gain)


def script_init_(model, gen):
    """genome.lua's init: genes N(0, ½), W1 N(0, 1/genes), W2 N(0, (3^-¼ / (0.5966·√hidden))²), biases 0."""
    g = model.genome
    with torch.no_grad():
        for p in (g.layer_genes, g.type_genes):
            p.copy_(sm.draw(gen, p.shape, 0.0, math.sqrt(0.5)))
        for f in (g.f_row, g.f_col):
            f.w1.copy_(sm.draw(gen, f.w1.shape, 0.0, 1.0 / math.sqrt(f.w1.shape[1])))
            f.w2.copy_(sm.draw(gen, f.w2.shape, 0.0, 3 ** -0.25 / (SILU_RMS * math.sqrt(f.w2.shape[1]))))
            f.b1.zero_()
            f.b2.zero_()


def init_stats(args):
    """Effective W = r·cᵀ at the script's init, per type, against nn.Linear's std 1/√(3·in)."""
    model = build(args, torch.float64)
    script_init_(model, torch.Generator().manual_seed(args.seed))
    g = model.genome
    with torch.no_grad():
        g.express()
        for t in TYPES:
            stds, layers = [], [None] if t == "head" else range(args.layers)
            for layer in layers:
                r, c = g.factors(layer, t)
                stds.append((r @ c.T).std().item())
            fin = g.shapes[t][0]
            print(f"{t:9s} in {fin:5d}: W std {sum(stds) / len(stds):.4g} (min {min(stds):.4g}, max {max(stds):.4g}); "
                  f"nn.Linear {1 / math.sqrt(3 * fin):.4g}")
        ws = [(g.factors(i, "fc")[0] @ g.factors(i, "fc")[1].T).flatten() for i in range(args.layers)]
        corr = torch.corrcoef(torch.stack(ws))
        off = corr[~torch.eye(len(ws), dtype=torch.bool)]
        print(f"fc weights across layers: mean |correlation| {off.abs().mean().item():.3g}")


def describe(a):
    return (f"vocab {a.vocab} dim {a.dim} layers {a.layers} heads {a.heads}/{a.kv_heads} mlp {a.mlp_mult} "
            f"genes {a.genes} hidden {a.morph_hidden} rank {a.rank}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("layers", int), ("heads", int), ("kv-heads", int),
                      ("mlp-mult", int), ("genes", int), ("morph-hidden", int), ("rank", int), ("rope-base", float),
                      ("qk-gain", float)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    if "--init-stats" in sys.argv:
        sys.argv.remove("--init-stats")
        sm.add_common_args(ap)
        init_stats(sm.apply_preset(ap.parse_args(), PRESETS))
        return
    sm.run_main(ap, PRESETS, build, random_rules, describe=describe)


if __name__ == "__main__":
    main()
