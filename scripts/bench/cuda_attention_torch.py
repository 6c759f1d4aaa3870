#!/usr/bin/env python3
"""The PyTorch side of bench_cuda's attention row: causal GQA attention at the same shape
(B 8, T 1024, H 8, Hkv 4, hd 64), forward and forward+backward, through each SDPA backend PyTorch
has on this GPU (cuDNN, FlashAttention, memory-efficient), in bf16 and fp32 where supported.

Run by scripts/gpu/run.sh after bench_cuda, whose `attention golfrt/tensor-cores bf16`,
`golfrt/cuda-cores fp32` and `golfrt/cpu fp32` rows have the same shape, FLOP counts (causal half;
forward+backward at 3.5x the forward's) and format, so golfrt's kernels and SDPA's backends are
compared from one run on one machine (docs/cuda.md, docs/perf.md). Exits 0 with a note when torch
or a GPU is missing: a benchmark, not a test.
"""
import sys
import time


def main():
    try:
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except Exception as e:  # noqa: BLE001 - any import failure means: nothing to compare
        print(f"cuda_attention_torch: PyTorch unavailable ({e})")
        return 0
    if not torch.cuda.is_available():
        print("cuda_attention_torch: no CUDA device for PyTorch")
        return 0
    B, T, H, HKV, HD = 8, 1024, 8, 4, 64
    fwd_flops = 4.0 * B * H * T * T * HD / 2
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for dtype in (torch.bfloat16, torch.float32):
        g = torch.Generator(device="cuda").manual_seed(0)
        q = torch.randn(B, H, T, HD, device="cuda", dtype=dtype, generator=g, requires_grad=True)
        k = torch.randn(B, HKV, T, HD, device="cuda", dtype=dtype, generator=g, requires_grad=True)
        v = torch.randn(B, HKV, T, HD, device="cuda", dtype=dtype, generator=g, requires_grad=True)
        dy = torch.randn(B, H, T, HD, device="cuda", dtype=dtype, generator=g)
        for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION),
                              ("efficient", SDPBackend.EFFICIENT_ATTENTION), ("math", SDPBackend.MATH)):
            try:
                with sdpa_kernel(backend):
                    def fwd():
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.125, enable_gqa=True)

                    def both():
                        y = fwd()
                        y.backward(dy)

                    ms_f = best_ms(fwd, torch)
                    ms_b = best_ms(both, torch)
            except Exception as e:  # noqa: BLE001 - a backend that refuses this shape or dtype
                print(f"attention torch/{name} {str(dtype)[6:]}: unavailable ({str(e).splitlines()[0][:100]})")
                continue
            print(f"attention torch/{name} {str(dtype)[6:]} B{B} T{T} H{H}/{HKV} hd{HD}: forward {ms_f:.2f} ms "
                  f"({fwd_flops / ms_f / 1e9:.1f} TFLOP/s), forward+backward {ms_b:.2f} ms "
                  f"({3.5 * fwd_flops / ms_b / 1e9:.1f} TFLOP/s)")
    return 0


def best_ms(fn, torch, reps=10):
    fn()
    torch.cuda.synchronize()
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


if __name__ == "__main__":
    sys.exit(main())
