"""PyTorch reference of the challenge baseline GPT, for golfrt's golden tests.

Builds a (tiny by default) model, sets every parameter to non-degenerate random values, runs forward and
backward on a random batch and writes parameters, batch, logits, loss and gradients as a tensor dump
(scripts/reference/tensor_dump.py). Run with Debian's Python (/usr/bin/python3: torch 1.13), which has
neither F.rms_norm nor F.scaled_dot_product_attention, so both are written out here.

  /usr/bin/python3 scripts/reference/baseline.py --out /tmp/baseline.bin [--dtype float64]
  /usr/bin/python3 scripts/reference/baseline.py --count-only --vocab 1024 --dim 512 --layers 9 --heads 8 --kv-heads 4
  /usr/bin/python3 scripts/reference/baseline.py --gradcheck
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_dump import write_tensor_dump  # noqa: E402

# F.rms_norm(x, (d,)) with eps=None uses finfo(x.dtype).eps; the baseline's eps is fixed at fp32's so a
# float64 run is the same function as a float32 one, only computed more precisely.
RMS_EPS = torch.finfo(torch.float32).eps


def rms_norm(x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS)


def rotary_tables(T, hd, base):
    # Tables are built in fp32 like the original (which caches them in fp32 and casts to x's dtype).
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    t = torch.arange(T, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    return freqs.cos(), freqs.sin()


def apply_rotary(x, cos, sin):
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos), dim=-1)


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads, rope_base, qk_gain_init):
        super().__init__()
        assert dim % heads == 0 and heads % kv_heads == 0
        self.heads, self.kv_heads, self.hd = heads, kv_heads, dim // heads
        assert self.hd % 2 == 0, "rotary needs an even head dim"
        kv_dim = kv_heads * self.hd
        self.rope_base = rope_base
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.full((heads,), qk_gain_init))

    def forward(self, x):
        B, T, D = x.shape
        H, Hkv, hd = self.heads, self.kv_heads, self.hd
        q = self.c_q(x).reshape(B, T, H, hd).transpose(1, 2)
        k = self.c_k(x).reshape(B, T, Hkv, hd).transpose(1, 2)
        v = self.c_v(x).reshape(B, T, Hkv, hd).transpose(1, 2)
        q, k = rms_norm(q), rms_norm(k)
        cos, sin = rotary_tables(T, hd, self.rope_base)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        q = q * self.q_gain.to(q.dtype)[None, :, None, None]
        # GQA: query head h reads kv head h // (H / Hkv).
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        y = scores.softmax(dim=-1) @ v
        y = y.transpose(1, 2).reshape(B, T, D)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, dim, mult):
        super().__init__()
        self.fc = nn.Linear(dim, mult * dim, bias=False)
        self.proj = nn.Linear(mult * dim, dim, bias=False)

    def forward(self, x):
        return self.proj(F.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, dim, heads, kv_heads, mlp_mult, rope_base, qk_gain_init):
        super().__init__()
        self.attn = Attention(dim, heads, kv_heads, rope_base, qk_gain_init)
        self.mlp = MLP(dim, mlp_mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))

    def forward(self, x, x0):
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(rms_norm(x))
        x = x + self.mlp_scale.to(x.dtype) * self.mlp(rms_norm(x))
        return x


class GPT(nn.Module):
    def __init__(self, vocab, dim, layers, heads, kv_heads, mlp_mult, rope_base=10000.0, logit_softcap=30.0,
                 qk_gain_init=1.5):
        super().__init__()
        self.dim, self.logit_softcap, self.qk_gain_init = dim, logit_softcap, qk_gain_init
        self.n_enc = layers // 2
        self.n_dec = layers - self.n_enc
        self.tok_emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(
            Block(dim, heads, kv_heads, mlp_mult, rope_base, qk_gain_init) for _ in range(layers))
        self.skip_weights = nn.Parameter(torch.ones(min(self.n_enc, self.n_dec), dim))
        self.baseline_init()

    def baseline_init(self):
        """The baseline's own init: nn.Linear defaults except zeroed output projections."""
        with torch.no_grad():
            nn.init.normal_(self.tok_emb.weight, std=0.005)
            for b in self.blocks:
                b.attn.proj.weight.zero_()
                b.mlp.proj.weight.zero_()

    def forward(self, tokens, targets):
        """Returns (softcapped logits [B*T, V], mean cross-entropy loss)."""
        x = rms_norm(self.tok_emb(tokens))
        x0 = x
        skips = []
        for i in range(self.n_enc):
            x = self.blocks[i](x, x0)
            skips.append(x)
        for i in range(self.n_dec):
            if skips:  # U-Net: the last encoder output feeds the first decoder block
                x = x + self.skip_weights[i].to(x.dtype) * skips.pop()
            x = self.blocks[self.n_enc + i](x, x0)
        x = rms_norm(x).reshape(-1, self.dim)
        logits = self.logit_softcap * torch.tanh((x @ self.tok_emb.weight.T) / self.logit_softcap)
        # The original upcasts to fp32 for the loss; never downcast a float64 run.
        loss_dtype = torch.promote_types(logits.dtype, torch.float32)
        loss = F.cross_entropy(logits.to(loss_dtype), targets.reshape(-1), reduction="mean")
        return logits, loss


def ordered_params(model):
    """(name, parameter) in the dump's order: tok_emb, then each block's c_q, c_k, c_v, proj, q_gain,
    fc, proj, attn_scale, mlp_scale, resid_mix, then skip_weights. named_parameters() would put a
    module's own parameters before its children's (skip_weights first, q_gain before c_q)."""
    out = [("tok_emb.weight", model.tok_emb.weight)]
    for i, b in enumerate(model.blocks):
        out += [(f"blocks.{i}.{n}", p) for n, p in [
            ("attn.c_q.weight", b.attn.c_q.weight), ("attn.c_k.weight", b.attn.c_k.weight),
            ("attn.c_v.weight", b.attn.c_v.weight), ("attn.proj.weight", b.attn.proj.weight),
            ("attn.q_gain", b.attn.q_gain), ("mlp.fc.weight", b.mlp.fc.weight),
            ("mlp.proj.weight", b.mlp.proj.weight), ("attn_scale", b.attn_scale),
            ("mlp_scale", b.mlp_scale), ("resid_mix", b.resid_mix)]]
    out.append(("skip_weights", model.skip_weights))
    named = dict(model.named_parameters())  # every parameter exactly once, under its state_dict name
    assert len(out) == len(named) and all(named.get(n) is p for n, p in out)
    return out


def randomize_(model, gen):
    """Every parameter to non-degenerate random values (the zero inits would hide whole code paths).

    Drawn in float64 then cast, so a float32 and a float64 run with one seed share the same parameters
    up to rounding.
    """
    def draw(shape, mean, std):
        return mean + std * torch.randn(shape, generator=gen, dtype=torch.float64)

    with torch.no_grad():
        for name, p in ordered_params(model):
            if name == "tok_emb.weight":
                v = draw(p.shape, 0.0, 0.5)
            elif name.endswith(".weight"):  # linears: fan_in is the second dim
                v = draw(p.shape, 0.0, 1.0 / math.sqrt(p.shape[1]))
            elif name.endswith("q_gain"):
                v = draw(p.shape, model.qk_gain_init, 0.3)
            elif name.endswith("attn_scale") or name.endswith("mlp_scale") or name == "skip_weights":
                v = draw(p.shape, 1.0, 0.2)
            elif name.endswith("resid_mix"):
                v = draw(p.shape, 0.5, 0.3)
            else:
                raise AssertionError(f"no random init for {name}")
            p.copy_(v.to(p.dtype))


def add_model_args(ap, **defaults):
    """The options build(args) and a batch read (--vocab ... --qk-gain, --seq, --batch, --seed), with the
    tiny test model's defaults; `defaults` (by dest, e.g. vocab=260) replaces any of them."""
    d = dict(vocab=64, dim=32, layers=5, heads=4, kv_heads=2, mlp_mult=2, seq=16, batch=2, seed=0,
             softcap=30.0, rope_base=10000.0, qk_gain=1.5)
    d.update(defaults)
    for name, value in d.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)


def build(args, dtype):
    model = GPT(args.vocab, args.dim, args.layers, args.heads, args.kv_heads, args.mlp_mult,
                rope_base=args.rope_base, logit_softcap=args.softcap, qk_gain_init=args.qk_gain)
    return model.to(dtype)


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def gradcheck(args):
    """Autograd's gradients against finite differences, float64, on a config small enough for it."""
    from torch.nn.utils.stateless import functional_call
    ns = argparse.Namespace(**vars(args))
    ns.vocab, ns.dim, ns.layers, ns.heads, ns.kv_heads, ns.mlp_mult, ns.seq, ns.batch = 11, 8, 3, 2, 1, 2, 5, 2
    model = build(ns, torch.float64)
    gen = torch.Generator().manual_seed(args.seed)
    randomize_(model, gen)
    tokens = torch.randint(0, ns.vocab, (ns.batch, ns.seq), generator=gen)
    targets = torch.randint(0, ns.vocab, (ns.batch, ns.seq), generator=gen)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in model.named_parameters())

    def f(*ps):
        logits, loss = functional_call(model, dict(zip(names, ps)), (tokens, targets))
        return loss, logits

    ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)
    print(f"gradcheck ({len(names)} parameter tensors, {sum(p.numel() for p in params)} values): "
          f"{'ok' if ok else 'FAILED'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    add_model_args(ap)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--baseline-init", action="store_true",
                    help="keep the baseline's own init (zeroed projections) instead of randomizing")
    ap.add_argument("--dump-rope", action="store_true",
                    help="append the fp32 rotary tables as rope.cos, rope.sin [seq, head_dim/2]: fp32 cos/sin "
                         "differ by an ulp between libms, which bounds float64 agreement near 1e-7")
    ap.add_argument("--count-only", action="store_true", help="print the parameter count and exit")
    ap.add_argument("--gradcheck", action="store_true",
                    help="check autograd against finite differences on a tiny float64 config and exit")
    args = ap.parse_args()

    torch.set_num_threads(1)  # reductions in a fixed order: the same bytes on every run
    torch.manual_seed(args.seed)  # seeds the default init too, so --baseline-init is reproducible
    if args.gradcheck:
        sys.exit(0 if gradcheck(args) else 1)

    dtype = getattr(torch, args.dtype)
    model = build(args, dtype)
    n = param_count(model)
    if args.count_only:
        print(n)
        return
    if not args.out:
        ap.error("--out is required unless --count-only or --gradcheck")

    gen = torch.Generator().manual_seed(args.seed)
    if not args.baseline_init:
        randomize_(model, gen)
    tokens = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    logits, loss = model(tokens, targets)
    loss.backward()

    params = ordered_params(model)
    entries = [(name, p.detach()) for name, p in params]
    entries += [("tokens", tokens.to(torch.int32)), ("targets", targets.to(torch.int32)),
                ("logits", logits.detach()), ("loss", loss.detach().reshape(()))]
    entries += [(f"grad.{name}", p.grad) for name, p in params]
    if args.dump_rope:
        entries += list(zip(("rope.cos", "rope.sin"), rotary_tables(args.seq, args.dim // args.heads, args.rope_base)))
    write_tensor_dump(args.out, entries)
    print(f"{args.out}: {n} parameters, {args.dtype}, loss {loss.item():.10g}, {len(entries)} entries")


if __name__ == "__main__":
    main()
