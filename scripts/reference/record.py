"""PyTorch reference of the 1.0611 parameter-golf record's model (records/track_10min_16mb/
2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611, train_gpt.py: GPT._forward_hidden with
looping active), written from that file's form, for golfrt's golden test of examples/record.lua.

  x = E[t];  x_t ← x_t + λ·σ(W_s·x_t[:w])·x_{t−1}·1[t_t ≠ BOS] (t ≥ 1);  x = RMSN(x); x0 = x
  virtual layers 0 1 2 [3 4 5]×loops 6 .. L−1; the first ⌊V/2⌋ are encoders (push), the rest decoders
  decoder j (0-based), block i: skip (while j < #skip rows and the stack is non-empty):
      h ← lerp(w_j⊙skip, h, σ(g_j))                                  (the record's torch.lerp)
    i < P: the record's Block: x_in = m0⊙x + m1⊙x0; x_in + a⊙Attn(RMSN(x_in)·s) then + m⊙MLP(RMSN(·)·s)
    i ≥ P: parallel lanes (lane0 = lane1 = x at the first): a = a⊙Attn(RMSN(m0⊙lane0 + m1⊙x0)·s),
           f = m⊙MLP(RMSN(lane1)·s); lane0 ← r[i,0]·lane0 + p[i,0,0]·a + p[i,1,0]·f,
           lane1 ← r[i,1]·lane1 + p[i,0,1]·a + p[i,1,1]·f;  at the end x = ½(lane0 + lane1)
  logits = 30·tanh(RMSN(x)·Eᵀ/30)
Attention: q, k, v projections, q/k RMSNorm per head, partial RoPE (first rope_dims of each head, no
YaRN), q·q_gain, causal GQA, XSA (every block), then the head gate y_{t,h} ← σ(s·W_g[h]·u_t)·y_{t,h}
(sparse: u = x[:12], s = 0.5; dense: u = x, s = 1), then the output projection. MLP: LeakyReLU(0.5)².
s = 1/√(i+1) (LN scale) by block index. Parameters carry golfrt's names (the record banks its matrices
as qo_bank, kv_bank, mlp_up_bank, mlp_down_bank; the values per layer are the same). golfrt's shared
conventions (seed_modules.py): RMSNorm eps = fp32's, fp32 RoPE tables, XSA with F.normalize's guard.

  /usr/bin/python3 scripts/reference/record.py --out /tmp/record.bin [--dtype float64] [--gate dense]
  /usr/bin/python3 scripts/reference/record.py --count-only      # full config: 35,945,671 (the record's log)
  /usr/bin/python3 scripts/reference/record.py --gradcheck

Tiny config (default): vocab 64, dim 32, 11 layers, heads 4, kv_heads 2 (head dim 8), rope_dims 2 (¼ of the
head, as 16/64), MLP 4×,
loop 3–5 × 3, parallel from 8, gate window 12, seq 16, batch 2, BOS (1) at t = 0 and at row 0's t = 8.
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
    "tiny": dict(vocab=64, dim=32, layers=11, heads=4, kv_heads=2, mlp_mult=4, rope_dims=2, qk_gain=5.0,
                 loop_first=3, loop_last=5, loops=3, parallel_from=8, gate_window=12),
    "full": dict(vocab=8192, dim=512, layers=11, heads=8, kv_heads=4, mlp_mult=4, rope_dims=16, qk_gain=5.0,
                 loop_first=3, loop_last=5, loops=3, parallel_from=8, gate_window=12),
    "gradcheck": dict(vocab=11, dim=8, layers=5, heads=2, kv_heads=1, mlp_mult=2, rope_dims=2, qk_gain=5.0,
                      loop_first=1, loop_last=2, loops=2, parallel_from=3, gate_window=4, seq=5, batch=2),
}


class GatedAttention(nn.Module):
    def __init__(self, a, gate):
        super().__init__()
        d = a.dim
        self.H, self.Hkv, self.hd = a.heads, a.kv_heads, d // a.heads
        self.rope_dims = a.rope_dims
        self.c_q = nn.Linear(d, d, bias=False)
        self.c_k = nn.Linear(d, self.Hkv * self.hd, bias=False)
        self.c_v = nn.Linear(d, self.Hkv * self.hd, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.q_gain = nn.Parameter(torch.full((self.H,), a.qk_gain))
        self.gate_kind = gate
        self.window = min(a.gate_window, d) if gate == "sparse" else d
        self.gate_scale = 0.5 if gate == "sparse" else 1.0
        self.gate = nn.Parameter(torch.zeros(self.H, self.window))

    def forward(self, x):
        B, T, D = x.shape
        q = sm.rms_norm(self.c_q(x).reshape(B, T, self.H, self.hd))
        k = sm.rms_norm(self.c_k(x).reshape(B, T, self.Hkv, self.hd))
        v = self.c_v(x).reshape(B, T, self.Hkv, self.hd)
        cos, sin = sm.rotary_tables(T, self.rope_dims, 10000.0)
        q = sm.apply_partial_rotary(q, cos, sin, self.rope_dims)
        k = sm.apply_partial_rotary(k, cos, sin, self.rope_dims)
        q = q * self.q_gain.to(q.dtype)[None, None, :, None]
        y = sm.causal_attention(q, k, v, xsa=True)
        g = torch.sigmoid(self.gate_scale * F.linear(x[..., :self.window], self.gate.to(x.dtype)))
        y = y * g[..., None]
        return self.proj(y.reshape(B, T, D))


class RecordBlock(nn.Module):
    def __init__(self, a, i, gate):
        super().__init__()
        d = a.dim
        self.attn = GatedAttention(a, gate)
        self.mlp = sm.MLP(d, a.mlp_mult * d, act="leaky_relu2", slope=0.5)
        self.attn_scale = nn.Parameter(torch.ones(d))
        self.mlp_scale = nn.Parameter(torch.ones(d))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(d), torch.zeros(d))))
        self.s = 1.0 / math.sqrt(i + 1)

    def forward(self, x, x0):
        x_in = self.resid_mix[0] * x + self.resid_mix[1] * x0
        h = x_in + self.attn_scale * self.attn(sm.rms_norm(x_in) * self.s)
        return h + self.mlp_scale * self.mlp(sm.rms_norm(h) * self.s)

    def parallel(self, lane0, lane1, x0, r, p):
        attn_read = self.resid_mix[0] * lane0 + self.resid_mix[1] * x0
        a = self.attn_scale * self.attn(sm.rms_norm(attn_read) * self.s)
        f = self.mlp_scale * self.mlp(sm.rms_norm(lane1) * self.s)
        return (r[0] * lane0 + p[0, 0] * a + p[1, 0] * f,
                r[1] * lane1 + p[0, 1] * a + p[1, 1] * f)


class Stack(nn.ModuleList):
    """The blocks as children "0".."L−1", with the U-Net and lane parameters golfrt's nn.UNet owns."""

    def __init__(self, a, gate):
        super().__init__([RecordBlock(a, i, gate) for i in range(a.layers)])
        order = list(range(a.loop_first))
        for _ in range(a.loops):
            order += list(range(a.loop_first, a.loop_last + 1))
        order += list(range(a.loop_last + 1, a.layers))
        n_enc = len(order) // 2
        self.enc, self.dec = order[:n_enc], order[n_enc:]
        n_skip = min(len(self.enc), len(self.dec))
        self.skip_weights = nn.Parameter(torch.ones(n_skip, a.dim))
        self.skip_gates = nn.Parameter(torch.zeros(n_skip, a.dim))
        self.parallel_resid = nn.Parameter(torch.full((a.layers, 2), 1.1))
        self.parallel_post = nn.Parameter(torch.ones(a.layers, 2, 2))
        self.P = a.parallel_from

    def forward(self, x, x0):
        skips = []
        for i in self.enc:
            x = self[i](x, x0)
            skips.append(x)
        lane0 = lane1 = None
        for j, i in enumerate(self.dec):
            par = i >= self.P
            if par and lane0 is None:
                lane0 = lane1 = x
            h = lane0 if par else x
            if j < self.skip_weights.shape[0] and skips:
                h = torch.lerp(self.skip_weights[j] * skips.pop(), h, torch.sigmoid(self.skip_gates[j]))
            if par:
                lane0, lane1 = self[i].parallel(h, lane1, x0, self.parallel_resid[i], self.parallel_post[i])
            else:
                x = self[i](h, x0)
        return 0.5 * (lane0 + lane1) if lane0 is not None else x


class Record(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.dim, self.softcap, self.bos = a.dim, a.softcap, a.bos_id
        self.tok_emb = nn.Embedding(a.vocab, a.dim)
        self.smear = nn.Module()
        self.smear.window = min(a.gate_window, a.dim)
        self.smear.gate = nn.Parameter(torch.zeros(1, self.smear.window))
        self.smear.register_parameter("lambda", nn.Parameter(torch.zeros(1)))
        self.blocks = Stack(a, a.gate)

    def forward(self, tokens, targets):
        x = self.tok_emb(tokens)
        w = self.smear.window
        g = getattr(self.smear, "lambda") * torch.sigmoid(F.linear(x[:, 1:, :w], self.smear.gate))
        not_bos = (tokens[:, 1:] != self.bos).to(x.dtype).unsqueeze(-1)
        x = torch.cat([x[:, :1], x[:, 1:] + g * x[:, :-1] * not_bos], dim=1)
        x = sm.rms_norm(x)
        x = self.blocks(x, x)
        x = sm.rms_norm(x).reshape(-1, self.dim)
        logits = sm.softcap(x @ self.tok_emb.weight.T, self.softcap)
        return logits, sm.lm_loss(logits, targets)


def build(args, dtype):
    return Record(args).to(dtype)


def random_rules(args):
    ends = lambda *s: (lambda n, p: n.endswith(s))  # noqa: E731
    return [
        (ends("attn.gate"), lambda p: (0.0, 2.0 / math.sqrt(p.shape[1]))),
        (ends("parallel_resid"), (1.1, 0.2)),
        (ends("parallel_post"), (1.0, 0.3)),
    ] + sm.common_random_rules(args.qk_gain)


def describe(a):
    return (f"vocab {a.vocab} dim {a.dim} layers {a.layers} heads {a.heads}/{a.kv_heads} rope {a.rope_dims} "
            f"loop {a.loop_first}-{a.loop_last}x{a.loops} parallel from {a.parallel_from} gate {a.gate}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, typ in [("vocab", int), ("dim", int), ("layers", int), ("heads", int), ("kv-heads", int),
                      ("mlp-mult", int), ("rope-dims", int), ("qk-gain", float), ("loop-first", int),
                      ("loop-last", int), ("loops", int), ("parallel-from", int), ("gate-window", int)]:
        ap.add_argument(f"--{name}", type=typ, default=None)
    ap.add_argument("--gate", choices=["sparse", "dense"], default="sparse")
    sm.run_main(ap, PRESETS, build, random_rules, describe=describe)


if __name__ == "__main__":
    main()
