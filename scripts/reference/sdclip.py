"""PyTorch reference of the 1.0611 record's row scales and codes (train_gpt.py, gptq_quantize_weight's
s = (clip_sigmas·std(row)/clip_range) in fp16, clip_range = 2^(bits−1) − 1; q = clamp(round(w/s)) where
every column is its own round-to-nearest, i.e. GPTQ with an identity Hessian), for golfrt's SDClip test
(tests/quant_record_test.cc). The record's settings: int7 for the embedding with k = 14, int6 for the
matrices with k = 12.85 (attention 13.0, MLP 11.5).

Weights: Gaussian rows with a few heavy-tailed ones (Student t, 3 degrees of freedom) and one row of
larger scale, float32. Writes w, and per case <name>.scale (fp16 values as float32) and <name>.q (int32).

  /usr/bin/python3 scripts/reference/sdclip.py --out /tmp/sdclip.bin
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_dump import write_tensor_dump  # noqa: E402

CASES = (("embed_int7", 7, 14.0), ("matrix_int6", 6, 12.85), ("attn_int6", 6, 13.0), ("mlp_int6", 6, 11.5))


def record_rtn(w, bits, k):
    clip_range = 2 ** (bits - 1) - 1
    s = (k * w.std(dim=1) / clip_range).clamp_min(1e-10).to(torch.float16)
    sf = s.float()
    q = torch.clamp(torch.round(w / sf[:, None]), -clip_range, clip_range)
    return s.float(), q.to(torch.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--cols", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    w = torch.randn(args.rows, args.cols, generator=gen, dtype=torch.float64) * 0.02
    t = torch.distributions.StudentT(3.0)
    torch.manual_seed(args.seed)
    w[:8] = t.sample((8, args.cols)).to(torch.float64) * 0.02
    w[8] *= 40
    w = w.to(torch.float32)
    entries = [("w", w)]
    for name, bits, k in CASES:
        s, q = record_rtn(w, bits, k)
        entries += [(f"{name}.scale", s), (f"{name}.q", q)]
    write_tensor_dump(args.out, entries)
    print(f"{args.out}: w [{args.rows}, {args.cols}], {len(CASES)} cases")


if __name__ == "__main__":
    main()
