#!/usr/bin/python3
"""The PyTorch side of bench_cpu_kernels: the same ops at the same shapes, fp32, on this CPU.

Run by scripts/bench/cpu_kernels.sh next to the golfrt program so both rows come from one run.
"""
import math
import sys
import time

import torch
import torch.nn.functional as F


def timeit(fn, min_time=0.5):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = []
    for m, n, k in [(256, 512, 512), (256, 1024, 512), (256, 512, 1024)]:
        a, w = torch.randn(m, k), torch.randn(n, k)
        s = timeit(lambda: a @ w.t())
        rows.append((f"matmul/{m}/{n}/{k}", s, f"{2 * m * n * k / s / 1e9:.1f} GFLOP/s"))

    t, h, hkv, hd = 256, 8, 4, 64
    q = torch.randn(1, h, t, hd, requires_grad=True)
    k = torch.randn(1, hkv, t, hd, requires_grad=True)
    v = torch.randn(1, hkv, t, hd, requires_grad=True)
    mask = torch.ones(t, t, dtype=torch.bool).tril()

    def attn():
        kk = k.repeat_interleave(h // hkv, dim=1)
        vv = v.repeat_interleave(h // hkv, dim=1)
        s = (q @ kk.transpose(-1, -2)) * (1 / math.sqrt(hd))
        return torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ vv

    with torch.no_grad():
        s = timeit(attn)
    rows.append((f"attention/{t}", s, f"{2 * t * t * h * hd / s / 1e9:.1f} GFLOP/s"))
    y = attn()
    dy = torch.randn_like(y)
    s = timeit(lambda: torch.autograd.grad(attn(), (q, k, v), dy)) - rows[-1][1]
    rows.append((f"attention_backward/{t}", s, f"{4 * t * t * h * hd / s / 1e9:.1f} GFLOP/s"))

    x = torch.randn(256, 512)
    s = timeit(lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))
    rows.append(("rms_norm", s, f"{256 * 512 * 8 / s / 1e9:.1f} GB/s"))

    z = torch.randn(256, 1024)
    tg = torch.arange(256) * 37 % 1024
    s = timeit(lambda: F.cross_entropy(30 * torch.tanh(z / 30), tg, reduction="none"))
    rows.append(("cross_entropy", s, f"{256 * 1024 * 4 / s / 1e9:.2f} GB/s"))

    print(f"PyTorch {torch.__version__}, {threads} threads")
    for name, sec, rate in rows:
        print(f"torch  {name:<28} {sec * 1e3:9.3f} ms  {rate}")


if __name__ == "__main__":
    main()
