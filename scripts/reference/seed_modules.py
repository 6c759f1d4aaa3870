"""Shared PyTorch pieces of the seed-architecture references (frugendorff.py, micro_crawler.py, prism.py).

Written for Debian's torch 1.13 (no F.rms_norm, no F.scaled_dot_product_attention), with golfrt's
conventions wherever SEEDS.md / PARAMETER_GOLF.md leave a choice (dsl/lib/golf/*.lua, kernels/cpu):
  - activations are [B, T, ...]; attention heads are laid out [B, T, heads, hd] as in golfrt;
  - RMSNorm without gain, eps = float32's machine epsilon (also in float64 runs);
  - partial RoPE on the first `rot` dims of each head, dim j paired with j + rot/2, angles in fp32,
    NTK base' = base·(T/train_len)^(rot/(rot−2)) when train_len > 0 and T > train_len;
  - XSA with v̂ = v / max(‖v‖, 1e-12) (torch.nn.functional.normalize's guard);
  - scalars are parameters of shape [1] (bigram.scale, ve.scale, smear.lambda, delib.lambda, ...).

Hashes use unsigned 32-bit arithmetic exactly as PARAMETER_GOLF.md states: each product is taken mod 2³²
before the XOR (int32 tensor arithmetic would wrap large products to negative values; these never do).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

RMS_EPS = torch.finfo(torch.float32).eps
XSA_EPS = 1e-12
U32 = 0xFFFFFFFF
DEFAULT_PRIMES = (36313, 27191, 51647)


def rms_norm(x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS)


def softcap(z, cap):
    return cap * torch.tanh(z / cap) if cap else z


# ---------------------------------------------------------------------------------------------
# Partial rotary embedding with NTK rescale
# ---------------------------------------------------------------------------------------------

def ntk_base(base, rot, T, train_len):
    if train_len and train_len > 0 and T > train_len and rot > 2:
        return base * (T / train_len) ** (rot / (rot - 2))
    return base


def rotary_tables(T, rot, base, train_len=0):
    """fp32 cos/sin tables [T, rot/2], built step by step like golfrt's rope kernel:
    inv_freq_j = 1 / base'^(2j/rot) in fp32, angle = float(t)·inv_freq_j in fp32."""
    b = torch.tensor(ntk_base(base, rot, T, train_len), dtype=torch.float32)
    inv_freq = 1.0 / torch.pow(b, torch.arange(0, rot, 2, dtype=torch.float32) / rot)
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    return freqs.cos(), freqs.sin()


def apply_partial_rotary(x, cos, sin, rot):
    """x [B, T, heads, hd]; rotates dims [0, rot) (j with j + rot/2), keeps [rot, hd)."""
    if rot == 0:
        return x
    half = rot // 2
    c = cos.to(x.dtype)[None, :, None, :]
    s = sin.to(x.dtype)[None, :, None, :]
    x1, x2, rest = x[..., :half], x[..., half:rot], x[..., rot:]
    return torch.cat((x1 * c + x2 * s, x1 * (-s) + x2 * c, rest), dim=-1)


# ---------------------------------------------------------------------------------------------
# Attention, MLP, Block
# ---------------------------------------------------------------------------------------------

def causal_attention(q, k, v, xsa=False):
    """q [B, T, H, hd], k and v [B, T, Hkv, hd] -> y [B, T, H, hd]. Query head h reads KV head
    h // (H / Hkv). XSA: y ← y − (y·v̂)v̂ with v̂ the query position's own (unit) value vector."""
    B, T, H, hd = q.shape
    Hkv = k.shape[2]
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    k = k.repeat_interleave(H // Hkv, dim=1)
    v = v.repeat_interleave(H // Hkv, dim=1)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    y = scores.softmax(dim=-1) @ v
    if xsa:
        vhat = v / v.norm(dim=-1, keepdim=True).clamp_min(XSA_EPS)
        y = y - (y * vhat).sum(-1, keepdim=True) * vhat
    return y.transpose(1, 2)


class Attention(nn.Module):
    """golfrt's nn.Attention: c_q, c_k, c_v, proj (no biases), per-head q_gain, q/k RMSNorm per
    head, partial RoPE, causal GQA, optional XSA. forward() takes optional per-call overrides used
    by the shared-block architectures: extra_v (VE, added to v before anything else), q_gain (the
    effective per-head gain) and qk_transform(q, k, x) acting on the projected q [B,T,H·hd] and
    k [B,T,Hkv·hd] before the head reshape (PRISM's channel permutations)."""

    def __init__(self, dim, heads, kv_heads, rope_dims, rope_base=10000.0, train_len=0, qk_gain_init=1.5,
                 xsa=False):
        super().__init__()
        assert dim % heads == 0 and heads % kv_heads == 0
        self.heads, self.kv_heads, self.hd = heads, kv_heads, dim // heads
        assert rope_dims % 2 == 0 and 0 <= rope_dims <= self.hd
        self.rope_dims, self.rope_base, self.train_len, self.xsa = rope_dims, rope_base, train_len, xsa
        kv_dim = kv_heads * self.hd
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.full((heads,), float(qk_gain_init)))
        self.qk_gain_init = qk_gain_init

    def forward(self, x, extra_v=None, q_gain=None, qk_transform=None):
        B, T, D = x.shape
        H, Hkv, hd = self.heads, self.kv_heads, self.hd
        q, k, v = self.c_q(x), self.c_k(x), self.c_v(x)
        if qk_transform is not None:
            q, k = qk_transform(q, k, x)
        q = q.reshape(B, T, H, hd)
        k = k.reshape(B, T, Hkv, hd)
        v = v.reshape(B, T, Hkv, hd)
        if extra_v is not None:
            v = v + extra_v.reshape(B, T, Hkv, hd)
        q, k = rms_norm(q), rms_norm(k)
        cos, sin = rotary_tables(T, self.rope_dims, self.rope_base, self.train_len)
        q = apply_partial_rotary(q, cos, sin, self.rope_dims)
        k = apply_partial_rotary(k, cos, sin, self.rope_dims)
        g = self.q_gain if q_gain is None else q_gain
        q = q * g.to(q.dtype)[None, None, :, None]
        y = causal_attention(q, k, v, xsa=self.xsa)
        return self.proj(y.reshape(B, T, D))


class MLP(nn.Module):
    """golfrt's nn.MLP: proj(act(fc(x))), act relu² ("relu2") or leaky_relu(slope)² ("leaky_relu2")."""

    def __init__(self, dim, hidden, act="relu2", slope=0.5):
        super().__init__()
        assert act in ("relu2", "leaky_relu2")
        self.act, self.slope = act, slope
        self.fc = nn.Linear(dim, hidden, bias=False)
        self.proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        h = self.fc(x)
        h = F.relu(h) if self.act == "relu2" else F.leaky_relu(h, self.slope)
        return self.proj(h.square())


class Block(nn.Module):
    """golfrt's nn.Block: x_in = m0⊙x + m1⊙x0; h = x_in + a⊙Attn(RMSN(x_in)·s); out = h + m⊙MLP(RMSN(h)·s).
    ln_scale is s (1 when LN scale is off). forward() accepts per-call overrides of every adapter
    (PRISM) and the VE term extra_v."""

    def __init__(self, dim, heads, kv_heads, mlp_hidden, rope_dims, rope_base=10000.0, train_len=0,
                 qk_gain_init=1.5, xsa=False, act="relu2", slope=0.5, ln_scale=1.0):
        super().__init__()
        self.attn = Attention(dim, heads, kv_heads, rope_dims, rope_base, train_len, qk_gain_init, xsa)
        self.mlp = MLP(dim, mlp_hidden, act, slope)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))))
        self.ln_scale = ln_scale

    def forward(self, x, x0, extra_v=None, ln_scale=None, attn_scale=None, mlp_scale=None, resid_mix=None,
                q_gain=None, qk_transform=None):
        s = self.ln_scale if ln_scale is None else ln_scale
        mix = (self.resid_mix if resid_mix is None else resid_mix).to(x.dtype)
        a = (self.attn_scale if attn_scale is None else attn_scale).to(x.dtype)
        m = (self.mlp_scale if mlp_scale is None else mlp_scale).to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + a * self.attn(rms_norm(x) * s, extra_v=extra_v, q_gain=q_gain, qk_transform=qk_transform)
        x = x + m * self.mlp(rms_norm(x) * s)
        return x


# ---------------------------------------------------------------------------------------------
# U-Net skips
# ---------------------------------------------------------------------------------------------

def unet_forward(n_layers, layer_fn, x, skip_weights, skip_gates=None):
    """The first ⌊L/2⌋ layers push their outputs; each later layer first takes a skip while the
    stack is non-empty (LIFO): plain x += w⊙skip, gated x = g⊙x + (1−g)⊙(w⊙skip), g = σ(gate).
    The stack is local: it is reset on every call (every Frugendorff loop)."""
    enc = n_layers // 2
    stack = []
    for i in range(enc):
        x = layer_fn(i, x)
        stack.append(x)
    for j in range(n_layers - enc):
        if stack:
            skip = skip_weights[j].to(x.dtype) * stack.pop()
            if skip_gates is not None:
                g = torch.sigmoid(skip_gates[j].to(x.dtype))
                x = g * x + (1 - g) * skip
            else:
                x = x + skip
        x = layer_fn(enc + j, x)
    return x


class UNet(nn.ModuleList):
    """golfrt's nn.UNet: the blocks are children "0".."L-1"; it owns skip_weights [min(⌊L/2⌋, L−⌊L/2⌋), D]
    and, when gated, skip_gates of the same shape."""

    def __init__(self, blocks, dim, gated=False):
        super().__init__(blocks)
        n = len(self)
        skips = min(n // 2, n - n // 2)
        self.skip_weights = nn.Parameter(torch.ones(skips, dim))
        self.skip_gates = nn.Parameter(torch.zeros(skips, dim)) if gated else None

    def forward(self, x, x0, block_fn=None):
        """block_fn(i, x) runs block i (default: self[i](x, x0))."""
        fn = block_fn or (lambda i, h: self[i](h, x0))
        return unet_forward(len(self), fn, x, self.skip_weights, self.skip_gates)


# ---------------------------------------------------------------------------------------------
# Hashed n-gram embeddings
# ---------------------------------------------------------------------------------------------

def _mul32(p, t):
    return (int(p) * t) & U32


def bigram_hash(tokens, buckets, primes=DEFAULT_PRIMES):
    """tokens [B, T] integer -> bucket ids [B, T] int64.
    h_0 = K−1; h_t = ((p0·t_t) XOR (p1·t_{t−1})) mod (K−1), unsigned 32-bit products."""
    t = tokens.to(torch.int64)
    h = torch.full_like(t, buckets - 1)
    if t.shape[1] > 1:
        h[:, 1:] = torch.bitwise_xor(_mul32(primes[0], t[:, 1:]), _mul32(primes[1], t[:, :-1])) % (buckets - 1)
    return h


def trigram_hash(tokens, buckets, primes=DEFAULT_PRIMES):
    """h_0 = K−1; h_1 = bigram hash of (t_1, t_0); for t ≥ 2
    h_t = (p0·t_t XOR p1·t_{t−1} XOR p2·t_{t−2}) mod (K−1), unsigned 32-bit products."""
    t = tokens.to(torch.int64)
    h = bigram_hash(t, buckets, primes)
    if t.shape[1] > 2:
        x = torch.bitwise_xor(_mul32(primes[0], t[:, 2:]), _mul32(primes[1], t[:, 1:-1]))
        h[:, 2:] = torch.bitwise_xor(x, _mul32(primes[2], t[:, :-2])) % (buckets - 1)
    return h


class HashEmbedding(nn.Module):
    """BigramHash (n=2) / TrigramHash (n=3): table [K, d_b] -> proj d_b→d -> × scale (init 0.05),
    added to the token embedding before the embedding RMSNorm. Zero-init table and projection."""

    def __init__(self, n, buckets, hash_dim, dim, primes=DEFAULT_PRIMES, scale_init=0.05):
        super().__init__()
        assert n in (2, 3)
        self.n, self.buckets, self.primes = n, buckets, tuple(int(p) for p in primes)
        self.table = nn.Parameter(torch.zeros(buckets, hash_dim))
        self.proj = nn.Linear(hash_dim, dim, bias=False)
        self.scale = nn.Parameter(torch.full((1,), float(scale_init)))
        self.scale_init = scale_init

    def ids(self, tokens):
        f = bigram_hash if self.n == 2 else trigram_hash
        return f(tokens, self.buckets, self.primes)

    def forward(self, tokens):
        return self.proj(F.embedding(self.ids(tokens), self.table)) * self.scale


# ---------------------------------------------------------------------------------------------
# SmearGate (both forms)
# ---------------------------------------------------------------------------------------------

def shift_right(x):
    """x_{t−1} with zeros at t = 0, per sequence."""
    return torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), dim=1)


class SmearGate(nn.Module):
    """Old form: x_t ← (1−σ(w))⊙x_t + σ(w)⊙x_{t−1}, w per channel (init 0); x_{−1} = 0."""

    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(dim))

    def forward(self, x, tokens=None):
        g = torch.sigmoid(self.gate.to(x.dtype))
        return (1 - g) * x + g * shift_right(x)


class GatedSmear(nn.Module):
    """Newer form: x_t ← x_t + λ·σ(W·x_t[:w])·x_{t−1}·1[token_t ≠ BOS], W [1, w] (smear.gate, golfrt's
    name) and λ [1] (smear.lambda) init 0, w = min(12, d). At t = 0 there is no previous token (x_{−1} = 0)."""

    def __init__(self, dim, width=12, bos_id=1):
        super().__init__()
        self.width, self.bos_id = min(width, dim), bos_id
        self.gate = nn.Parameter(torch.zeros(1, self.width))
        self.register_parameter("lambda", nn.Parameter(torch.zeros(1)))

    def forward(self, x, tokens):
        lam = getattr(self, "lambda").to(x.dtype)
        g = torch.sigmoid(x[..., :self.width] @ self.gate.to(x.dtype).T)  # [B, T, 1]
        keep = (tokens != self.bos_id).to(x.dtype).unsqueeze(-1)
        return x + lam * g * shift_right(x) * keep


def make_smear(kind, dim, bos_id=1):
    if kind == "none":
        return None
    if kind == "old":
        return SmearGate(dim)
    if kind == "gated":
        return GatedSmear(dim, bos_id=bos_id)
    raise ValueError(f"unknown smear kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# Value embedding
# ---------------------------------------------------------------------------------------------

class ValueEmbedding(nn.Module):
    """Shared VE (golfrt's nn.ValueEmbedding names): embed.weight [V, d_ve] -> proj d_ve→(Hkv·hd) -> ×0.1
    -> × scales[i] (init 1, one per VE layer), added to v of the chosen layers.
    learned_scale=True makes the ×0.1 a learned scalar `scale` [1] (init 0.1), as the original code's
    ve_shared.scale (the Frugendorff record's 28,224,320 parameters count it); False keeps the constant."""

    def __init__(self, vocab, ve_dim, kv_dim, n_layers, learned_scale=False, scale_init=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab, ve_dim)
        self.proj = nn.Linear(ve_dim, kv_dim, bias=False)
        self.scale = nn.Parameter(torch.full((1,), float(scale_init))) if learned_scale else None
        self.scale_init = scale_init
        self.scales = nn.Parameter(torch.ones(n_layers))

    def base(self, tokens):
        """The layer-independent part, computed once per forward: [B, T, Hkv·hd]."""
        v = self.proj(self.embed(tokens))
        return v * (self.scale.to(v.dtype) if self.scale is not None else self.scale_init)

    def for_layer(self, base, i):
        return base * self.scales[i].to(base.dtype)


# ---------------------------------------------------------------------------------------------
# Loop position vectors
# ---------------------------------------------------------------------------------------------

def loop_positions_init(n, dim, kind, gen=None, dtype=torch.float32):
    """'normal': N(0,1)·0.01 (the Frugendorff code); 'qr': R ~ N(0,1)^{n×d}, Q = qr(Rᵀ), p = 0.01·Qᵀ[:n]
    (orthonormal rows, the Micro Crawler)."""
    r = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    if kind == "normal":
        p = 0.01 * r
    elif kind == "qr":
        q, _ = torch.linalg.qr(r.T)  # [d, n], orthonormal columns
        p = 0.01 * q.T[:n]
    else:
        raise ValueError(f"unknown loop position init {kind!r}")
    return p.to(dtype)


# ---------------------------------------------------------------------------------------------
# Parameters: random values for golden tests, the seeds' own init, counting
# ---------------------------------------------------------------------------------------------

def draw(gen, shape, mean, std):
    return mean + std * torch.randn(shape, generator=gen, dtype=torch.float64)


def randomize_(named_params, gen, rules):
    """Every parameter to non-degenerate random values (zero inits would hide whole code paths).
    rules: list of (predicate(name, p), (mean, std) or callable(p) -> (mean, std)); first match wins.
    Drawn in float64 then cast, so float32 and float64 runs of one seed share parameters up to rounding."""
    with torch.no_grad():
        for name, p in named_params:
            for pred, ms in rules:
                if pred(name, p):
                    mean, std = ms(p) if callable(ms) else ms
                    p.copy_(draw(gen, p.shape, mean, std).to(p.dtype))
                    break
            else:
                raise AssertionError(f"no random init for {name}")


def common_random_rules(qk_gain_init):
    """Rules shared by the seed scripts (model scripts prepend their own)."""
    ends = lambda *s: (lambda n, p: n.endswith(s))  # noqa: E731
    return [
        (lambda n, p: n == "tok_emb.weight", (0.0, 0.5)),
        (ends(".table", "ve.embed.weight"), (0.0, 0.5)),
        (lambda n, p: n.endswith("smear.gate") and p.dim() == 2, lambda p: (0.0, 1.0 / math.sqrt(p.shape[1]))),
        (ends("attn.q_gain"), (qk_gain_init, 0.3)),
        (ends("attn_scale", "mlp_scale", "skip_weights"), (1.0, 0.2)),
        (ends("skip_gates"), (0.0, 1.0)),
        (ends("resid_mix"), (0.5, 0.3)),
        (ends("ve.scales"), (1.0, 0.3)),
        (ends(".scale", ".lambda"), (0.5, 0.2)),
        (ends("smear.gate"), (0.0, 1.0)),
        (lambda n, p: n == "loop_pos", (0.0, 0.3)),
        (lambda n, p: n.endswith(".weight") and p.dim() == 2, lambda p: (0.0, 1.0 / math.sqrt(p.shape[1]))),
    ]


def seed_init_(named_params, embed_std=0.005, zero=(), ones=(), orthogonal_skip=()):
    """The seeds' own init (SEEDS.md "Init"): E ~ N(0, embed_std²); 2-D matrices orthogonal (gain 1)
    except those whose name ends with one of `zero` (output projections, hash/VE tables and their
    projections, ...). Everything else keeps the value its module was built with. Uses torch's
    global RNG (seed it first); only for runs that want the architecture's init, not golden tests."""
    with torch.no_grad():
        for name, p in named_params:
            if name == "tok_emb.weight":
                p.normal_(0.0, embed_std)
            elif name.endswith(tuple(zero)):
                p.zero_()
            elif name.endswith(tuple(ones)):
                p.fill_(1.0)
            elif name.endswith(".weight") and p.dim() == 2 and not name.endswith(tuple(orthogonal_skip)):
                nn.init.orthogonal_(p, gain=1.0)


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def parse_layers(s):
    """'4,5' -> (4, 5); '' -> ()."""
    return tuple(int(v) for v in s.split(",") if v.strip() != "")


# ---------------------------------------------------------------------------------------------
# The command-line driver the three seed scripts share
# ---------------------------------------------------------------------------------------------

def add_common_args(ap):
    ap.add_argument("--out", help="tensor dump to write (scripts/reference/tensor_dump.py format)")
    ap.add_argument("--preset", choices=["tiny", "full"],
                    help="architecture defaults: tiny (default for runs) or full (default for --count-only); "
                         "explicit options override the preset")
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--softcap", type=float, default=30.0)
    ap.add_argument("--bos-id", type=int, default=1,
                    help="BOS token id (the gated SmearGate's mask); the batch gets BOS at position 0 of every "
                         "row and at position seq/2 of row 0 when the id is within the vocab")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--own-init", action="store_true",
                    help="keep the architecture's own init (zeros, ones, orthogonal) instead of randomizing")
    ap.add_argument("--dump-rope", action="store_true",
                    help="append the fp32 rotary tables as rope.cos, rope.sin [seq, rope_dims/2]")
    ap.add_argument("--count-only", action="store_true",
                    help="print the parameter count (of the full config unless --preset tiny) and exit")
    ap.add_argument("--gradcheck", action="store_true",
                    help="check autograd against finite differences on a very small float64 config and exit")


def apply_preset(args, presets):
    name = args.preset or ("full" if args.count_only else "tiny")
    for k, v in presets[name].items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    args.preset = name
    return args


def make_batch(args, gen):
    tokens = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    if 0 <= args.bos_id < args.vocab:
        tokens[:, 0] = args.bos_id
        tokens[0, args.seq // 2] = args.bos_id
    return tokens, targets


def lm_loss(model_logits, targets):
    """Softcapped logits [B*T, V] are passed in; mean cross entropy, never below fp32."""
    loss_dtype = torch.promote_types(model_logits.dtype, torch.float32)
    return F.cross_entropy(model_logits.to(loss_dtype), targets.reshape(-1), reduction="mean")


def run_gradcheck(args, presets, build, random_rules):
    from argparse import Namespace
    from torch.nn.utils.stateless import functional_call
    ns = Namespace(**vars(args))
    for k, v in presets["gradcheck"].items():
        setattr(ns, k, v)
    model = build(ns, torch.float64)
    gen = torch.Generator().manual_seed(args.seed)
    randomize_(model.named_parameters(), gen, random_rules(ns))
    tokens, targets = make_batch(ns, gen)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in model.named_parameters())

    def f(*ps):
        logits, loss = functional_call(model, dict(zip(names, ps)), (tokens, targets))
        return loss, logits

    ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)
    print(f"gradcheck ({len(names)} parameter tensors, {sum(p.numel() for p in params)} values): "
          f"{'ok' if ok else 'FAILED'}")
    return ok


def run_main(ap, presets, build, random_rules, own_init=None, extra_entries=None, describe=None):
    """ap: an ArgumentParser with the model's options (default None where a preset supplies them).
    build(args, dtype) -> model with forward(tokens, targets) -> (logits [B*T, V], loss);
    random_rules(args) -> randomize_ rules; own_init(model, args) applies the architecture's init;
    extra_entries(model, args) -> (name, tensor) pairs written after the parameters (inputs such as
    permutation tables); describe(args) -> a short config string for the summary line."""
    import sys
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
    from tensor_dump import write_tensor_dump

    add_common_args(ap)
    args = apply_preset(ap.parse_args(), presets)
    torch.set_num_threads(1)  # reductions in a fixed order: the same bytes on every run
    torch.manual_seed(args.seed)
    if args.gradcheck:
        sys.exit(0 if run_gradcheck(args, presets, build, random_rules) else 1)

    dtype = getattr(torch, args.dtype)
    if args.count_only:
        print(param_count(build(args, torch.float32)))
        return
    if not args.out:
        ap.error("--out is required unless --count-only or --gradcheck")

    model = build(args, dtype)
    n = param_count(model)
    gen = torch.Generator().manual_seed(args.seed)
    if args.own_init:
        if own_init is None:
            ap.error("this script has no --own-init")
        own_init(model, args)
    else:
        randomize_(model.named_parameters(), gen, random_rules(args))
    tokens, targets = make_batch(args, gen)
    logits, loss = model(tokens, targets)
    loss.backward()

    params = list(model.named_parameters())
    entries = [(name, p.detach()) for name, p in params]
    if extra_entries is not None:
        entries += list(extra_entries(model, args))
    entries += [("tokens", tokens.to(torch.int32)), ("targets", targets.to(torch.int32)),
                ("logits", logits.detach()), ("loss", loss.detach().reshape(()))]
    entries += [(f"grad.{name}", p.grad) for name, p in params]
    if args.dump_rope:
        entries += list(zip(("rope.cos", "rope.sin"),
                            rotary_tables(args.seq, args.rope_dims, args.rope_base, args.train_len)))
    write_tensor_dump(args.out, entries)
    cfg = f" [{describe(args)}]" if describe else ""
    print(f"{args.out}: {n} parameters, {args.dtype}, loss {loss.item():.10g}, {len(entries)} entries{cfg}")

