"""PyTorch reference of LQER as the 1.0611 record applies it after GPTQ (train_gpt.py,
gptq_mixed_quantize with LQER_ASYM_ENABLED: rank 4, top 3, A int2 with one scale, B int4 in groups
of 64), for golfrt's test (tests/lqer_test.cc, runtime/quant/lqer.h):

  E = W − Ŵ in float32, candidates ranked by ‖E‖_F, the top k get the SVD's rank-r factors
  A = U_r·S_r, B = V_rᵀ; A: s = fp16(max|A| / 1.5), q = clamp(round(A/s), −2, 1);
  B flattened in groups of g: s = fp16(max|group| / 7.5), q = clamp(round(B/s), −8, 7);
  the decoder's weight Ŵ + (qA·sA)(qB·sB).

Two choices golfrt makes where the record leaves them open, mirrored here: the SVD in float64 (the
factors then rounded to float32), each singular pair's sign fixed so that u_j's entry of largest
magnitude is positive (the record takes its LAPACK's signs, which the asymmetric int2 range makes
matter); and a last group shorter than g when B's size is not a multiple of g (the record falls back
to symmetric per-row factors there).

Ŵ is the record's round-to-nearest int6 with SDClip k = 12.85 (GPTQ with an identity Hessian), as
scripts/reference/sdclip.py. Writes each tensor's w, and for the corrected ones (in order of their
error, largest first) <name>.qa/.sa/.qb/.sb and <name>.corrected; "order" lists the indices chosen.

  /usr/bin/python3 scripts/reference/lqer.py --out /tmp/lqer.bin
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_dump import write_tensor_dump  # noqa: E402

SHAPES = ((96, 256), (64, 130), (128, 192), (40, 256))  # the second: B is 4×130, not a multiple of 64
TOP, RANK, GROUP = 3, 4, 64


def rtn_int6(w, k=12.85):
    clip_range = 31
    s = (k * w.std(dim=1) / clip_range).clamp_min(1e-10).to(torch.float16).float()
    q = torch.clamp(torch.round(w / s[:, None]), -clip_range, clip_range)
    return q * s[:, None]


def pack_factor(x, bits, group):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    flat = x.reshape(-1)
    g = group if group > 0 else flat.numel()
    qs, ss = [], []
    for start in range(0, flat.numel(), g):
        part = flat[start:start + g]
        s = (part.abs().amax().clamp_min(1e-10) / (2 ** (bits - 1) - 0.5)).to(torch.float16)
        qs.append(torch.clamp(torch.round(part / s.float()), lo, hi))
        ss.append(s.float())
    q = torch.cat(qs).reshape(x.shape)
    s = torch.stack(ss)
    deq = (torch.cat([qq * sc for qq, sc in zip(qs, ss)])).reshape(x.shape)
    return q, s, deq


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    entries, errors = [], []
    weights = []
    for i, (rows, cols) in enumerate(SHAPES):
        # Rows of different spread, so the errors differ in size and the ranking is not a tie.
        w = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * 0.02 * (1 + i % 3)
        w[:4] *= 6  # a few heavy rows: SDClip clips them, a large low-rank part of E
        w = w.to(torch.float32)
        weights.append(w)
        entries.append((f"w{i}", w))
        e = w - rtn_int6(w)
        errors.append((float(e.norm()), i, e))
    top = sorted(errors, key=lambda t: -t[0])[:TOP]
    entries.append(("order", torch.tensor([i for _, i, _ in top], dtype=torch.int32)))
    for _, i, e in top:
        u, s, vh = torch.linalg.svd(e.to(torch.float64), full_matrices=False)
        r = min(RANK, s.numel())
        u, vh = u[:, :r].clone(), vh[:r, :].clone()
        for j in range(r):
            sign = 1.0 if u[int(u[:, j].abs().argmax()), j] >= 0 else -1.0
            u[:, j] *= sign
            vh[j, :] *= sign
        a = (u * s[:r]).to(torch.float32)
        b = vh.to(torch.float32)
        qa, sa, da = pack_factor(a, 2, 0)
        qb, sb, db = pack_factor(b, 4, GROUP)
        corrected = rtn_int6(weights[i]) + da @ db
        entries += [(f"w{i}.qa", qa.to(torch.int32)), (f"w{i}.sa", sa), (f"w{i}.qb", qb.to(torch.int32)),
                    (f"w{i}.sb", sb), (f"w{i}.corrected", corrected)]
    write_tensor_dump(args.out, entries)
    print(f"{args.out}: {len(SHAPES)} tensors, corrected {[i for _, i, _ in top]}")


if __name__ == "__main__":
    main()
