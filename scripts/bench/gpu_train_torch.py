"""PyTorch side of scripts/bench/gpu_train.sh: the challenge baseline's training step as its own
PyTorch 2 script runs it (scripts/reference/baseline.py's model and parameter names, attention through
F.scaled_dot_product_attention with the flash backend, torch.compile, bf16 autocast over fp32 master
weights, the baseline's optimizers from scripts/reference/optim_steps.py), on one batch of 524,288 tokens
per step (512 sequences of 1,024 in micro-batches of 64, gradients accumulated).

It also fixes what golfrt starts from, so that the two sides can be compared loss for loss: it writes
the initial weights (the baseline's own init, seeded) as init.<name> and every step's batch as
tokens.<step> / targets.<step> to a tensor dump (scripts/reference/tensor_dump.py's format), which
golfrt's side (scripts/bench/bench_gpu_train.cc) loads before it trains.

The batches are synthetic but learnable, so that the losses move in a few steps and a wrong gradient
shows: each sequence follows t[i+1] = (5·t[i] + 3 + e) mod vocab with e uniform in {0, 1, 2}, from a
random start (a seeded torch.Generator). The loss can fall from ln(vocab) towards ln(3).

  /usr/bin/python3 scripts/bench/gpu_train_torch.py --dump /tmp/gt.bin --steps 10 --warmup 3
  /usr/bin/python3 scripts/bench/gpu_train_torch.py --device cpu --tiny --dump /tmp/gt.bin --steps 4

Output lines: `torch: S steps, ms/step X (steps W..S-1), loss after S steps L` and `torch losses: l0 l1 ...`.
--tiny is examples/baseline.lua's preset "tiny" (vocab 64, d 32, 5 layers, 4/2 heads, seq 16), 8
sequences per step in micro-batches of 2: a smoke test that runs on the CPU in seconds. The LR stays at
its base value (no warmdown in a few steps); the Muon momentum warm-up is the baseline's (0.85 -> 0.95
over 500 steps) on both sides. Newton-Schulz runs in fp32 here and in golfrt (the baseline casts it to
bf16); the timing difference that makes is small against the step.
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import baseline as ref  # noqa: E402
from optim_steps import MUON_MOMENTUM, MUON_WARMUP_START, make_optimizers  # noqa: E402
from tensor_dump import write_tensor_dump  # noqa: E402

MUON_WARMUP_STEPS = 500  # golf.recipes' "baseline" settings, as baseline.lua's train.optim uses them

FULL = dict(vocab=1024, dim=512, layers=9, heads=8, kv_heads=4, mlp_mult=2, seq=1024, batch=512, micro=64)
TINY = dict(vocab=64, dim=32, layers=5, heads=4, kv_heads=2, mlp_mult=2, seq=16, batch=8, micro=2)

_rope = {}


def sdpa_attention_forward(self, x):
    """baseline.py's Attention.forward with the T x T scores replaced by SDPA (causal, grouped-query)."""
    B, T, D = x.shape
    H, Hkv, hd = self.heads, self.kv_heads, self.hd
    q = self.c_q(x).reshape(B, T, H, hd).transpose(1, 2)
    k = self.c_k(x).reshape(B, T, Hkv, hd).transpose(1, 2)
    v = self.c_v(x).reshape(B, T, Hkv, hd).transpose(1, 2)
    q, k = ref.rms_norm(q), ref.rms_norm(k)
    key = (T, hd, self.rope_base, x.device)
    if key not in _rope:
        _rope[key] = tuple(t.to(x.device) for t in ref.rotary_tables(T, hd, self.rope_base))
    cos, sin = _rope[key]
    q, k = ref.apply_rotary(q, cos, sin), ref.apply_rotary(k, cos, sin)
    q = q * self.q_gain.to(q.dtype)[None, :, None, None]
    # Under autocast the norms and the rotation run in fp32; the flash kernel takes bf16 (v's type).
    q, k = q.to(v.dtype), k.to(v.dtype)
    if H != Hkv:
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
    if hasattr(F, "scaled_dot_product_attention"):
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:  # PyTorch 1.x (the CPU smoke test's Debian torch): the reference's explicit softmax
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        y = scores.softmax(dim=-1) @ v
    return self.proj(y.transpose(1, 2).reshape(B, T, D))


def batches(cfg, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        n, t, v = cfg["batch"], cfg["seq"], cfg["vocab"]
        seq = torch.empty(n, t + 1, dtype=torch.int64)
        seq[:, 0] = torch.randint(0, v, (n,), generator=gen)
        noise = torch.randint(0, 3, (n, t), generator=gen)
        for i in range(t):
            seq[:, i + 1] = (5 * seq[:, i] + 3 + noise[:, i]) % v
        out.append((seq[:, :-1].contiguous(), seq[:, 1:].contiguous()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="baseline.lua's preset tiny, 8 sequences per step")
    ap.add_argument("--steps", type=int, default=10, help="training steps, all from the dumped weights and batches")
    ap.add_argument("--warmup", type=int, default=3, help="leading steps left out of the timing (compilation)")
    ap.add_argument("--dump", required=True, help="where to write init.<name>, tokens.<step>, targets.<step>")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="auto: on for cuda, off for cpu")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="bf16 autocast or plain fp32; auto: bf16 on cuda, fp32 on cpu (golfrt's CPU backend is fp32)")
    args = ap.parse_args()
    if args.steps <= args.warmup:
        ap.error(f"--steps {args.steps} must exceed --warmup {args.warmup} (there must be timed steps)")
    cfg = TINY if args.tiny else FULL
    if cfg["batch"] % cfg["micro"]:
        raise SystemExit(f"batch {cfg['batch']} is not a multiple of micro {cfg['micro']}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_train_torch.py: --device cuda but torch sees no CUDA device")

    torch.manual_seed(args.seed)  # the baseline's init draws from the default generator
    ns = argparse.Namespace(vocab=cfg["vocab"], dim=cfg["dim"], layers=cfg["layers"], heads=cfg["heads"],
                            kv_heads=cfg["kv_heads"], mlp_mult=cfg["mlp_mult"], rope_base=10000.0, softcap=30.0,
                            qk_gain=1.5)
    model = ref.build(ns, torch.float32)
    # The baseline's zeroed output projections would make the first steps' gradients of half the
    # matrices zero; small random values keep every path live from step 0 (both sides get them).
    gen = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for b in model.blocks:
            for w in (b.attn.proj.weight, b.mlp.proj.weight):
                w.copy_(torch.randn(w.shape, generator=gen) / math.sqrt(w.shape[1]) * 0.1)
    data = batches(cfg, args.steps, args.seed + 2)
    entries = [(f"init.{name}", p.detach().clone()) for name, p in ref.ordered_params(model)]
    for s, (x, y) in enumerate(data):
        entries += [(f"tokens.{s}", x.to(torch.int32)), (f"targets.{s}", y.to(torch.int32))]
    write_tensor_dump(args.dump, entries)

    for b in model.blocks:
        b.attn.forward = sdpa_attention_forward.__get__(b.attn)
    model = model.to(device)
    where = model.tok_emb.weight.device  # "cuda:0", as x.device reads in the forward
    for b in model.blocks:  # the rotary tables before compiling, so the compiled graph only reads them
        a = b.attn
        _rope[(cfg["seq"], a.hd, a.rope_base, where)] = tuple(
            t.to(where) for t in ref.rotary_tables(cfg["seq"], a.hd, a.rope_base))
    optimizers = make_optimizers(model)
    muon = optimizers[1]
    use_compile = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    step_model = torch.compile(model) if use_compile else model
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    import contextlib
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    if device.type == "cuda":
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            attn_ctx = lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION])  # noqa: E731
        except ImportError:  # PyTorch 2.0-2.2
            attn_ctx = lambda: torch.backends.cuda.sdp_kernel(  # noqa: E731
                enable_flash=True, enable_math=False, enable_mem_efficient=False)
    else:
        attn_ctx = contextlib.nullcontext

    n_micro = cfg["batch"] // cfg["micro"]
    losses = []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = None
    for step in range(args.steps):
        if step == args.warmup:
            sync()
            t0 = time.perf_counter()
        frac = min(step / MUON_WARMUP_STEPS, 1.0)
        for group in muon.param_groups:
            group["momentum"] = (1 - frac) * MUON_WARMUP_START + frac * MUON_MOMENTUM
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        x_all, y_all = data[step]
        total = torch.zeros((), device=device)
        for j in range(n_micro):
            sl = slice(j * cfg["micro"], (j + 1) * cfg["micro"])
            x = x_all[sl].to(device, non_blocking=True)
            y = y_all[sl].to(device, non_blocking=True)
            with autocast, attn_ctx():
                _, loss = step_model(x, y)
            (loss / n_micro).backward()
            total += loss.detach()
        for opt in optimizers:
            opt.step()
        losses.append(total / n_micro)
    sync()
    seconds = time.perf_counter() - t0
    timed = args.steps - args.warmup
    values = [float(l) for l in losses]
    print(f"torch: {args.steps} steps, ms/step {1000 * seconds / timed:.1f} (steps {args.warmup}..{args.steps - 1}), "
          f"loss after {args.steps} steps {values[-1]:.6f}; {cfg['batch'] * cfg['seq']} tokens per step; "
          f"{'compiled' if use_compile else 'eager'}, {'bf16 autocast' if bf16 else 'fp32'}, {args.device}; torch {torch.__version__}")
    print("torch losses: " + " ".join(f"{v:.6f}" for v in values))


if __name__ == "__main__":
    main()
