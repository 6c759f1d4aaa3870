"""PyTorch reference of the 1.0611 record's optimizers and LR schedule over a few training steps, for
golfrt's test of examples/record.lua's rules (tests/optim_record_test.cc). Written from the record's
train_gpt.py (Muon, Optimizers, lr_mul):

  Muon (the block matrices): buf ← μ·buf + g; U = g + μ·buf (Nesterov); U_i ← U_i / max(‖U_i‖, 1e-7) per row
    (MuonEq-R); X = U/(‖U‖_F + 1e-7), transposed when tall; five Polar-Express iterations, iteration i with
    its own (a, b, c); W ← W·(1 − lr·wd) − lr·√max(1, rows/cols)·X; lr 0.026, wd 0.095, μ 0.92 → 0.97 over
    --muon-warmup-steps (the record: 1,500).
  AdamW (torch.optim.AdamW, β 0.9/0.99, eps 1e-8): the tied embedding (lr 0.03, wd 0.085) and everything
    else (lr 0.02, wd 0.02).
  LR multiplier: p = step/steps (the record's fixed-step form; with a time budget p = elapsed/budget),
    1 while p < 1 − 0.85, then max((1 − p)/0.85, 0.1).

The model is scripts/reference/record.py's (tiny config, every parameter randomized). Everything runs in
--dtype (the record runs Newton–Schulz in bf16 on GPU; a golden test fixes one precision on both sides).
Writes init.<name>, tokens/targets per step, lr_mult, muon_momentum, loss, final.<name> (and with
--dump-grads grad.<step>.<name>).

  /usr/bin/python3 scripts/reference/record_optim.py --out /tmp/ro.bin [--dtype float64] [--dump-grads]
"""
import argparse
import os
import sys
from argparse import Namespace

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402
import seed_modules as sm  # noqa: E402
from optim_harness import NesterovMuon, muon_momentum, run_steps  # noqa: E402

POLAR_EXPRESS = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)
MATRIX_LR, MUON_WD, MOMENTUM, WARMUP_START = 0.026, 0.095, 0.97, 0.92
EMBED_LR, EMBED_WD, SCALAR_LR, SCALAR_WD = 0.03, 0.085, 0.02, 0.02
BETAS, EPS = (0.9, 0.99), 1e-8
WARMDOWN_FRAC, MIN_LR = 0.85, 0.1


def polar_express(G, steps=5, eps=1e-7):
    X = G / (G.norm() + eps)
    tall = X.size(0) > X.size(1)
    if tall:
        X = X.T
    for a, b, c in POLAR_EXPRESS[:steps]:
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if tall else X


class Muon(NesterovMuon):
    def __init__(self, params, lr, momentum, weight_decay):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def update(self, p, u, group):
        lr, wd = group["lr"], group["weight_decay"]
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-7)
        x = polar_express(u)
        p.mul_(1.0 - lr * wd)
        p.add_(x, alpha=-lr * max(1, p.size(0) / p.size(1)) ** 0.5)


def lr_mul(frac):
    return max((1.0 - frac) / WARMDOWN_FRAC, MIN_LR) if frac >= 1.0 - WARMDOWN_FRAC else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--muon-warmup-steps", type=int, default=1500)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--dump-grads", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    a = Namespace(**record.PRESETS["tiny"], seq=16, batch=2, softcap=30.0, bos_id=1, gate="sparse")
    model = record.build(a, dtype)
    gen = torch.Generator().manual_seed(args.seed)
    sm.randomize_(model.named_parameters(), gen, record.random_rules(a))
    params = list(model.named_parameters())

    # The record's grouping: the blocks' projection matrices to Muon; the tied embedding to one AdamW;
    # every other tensor (vectors, resid_mix, the gates, the skip and lane weights) to the scalar AdamW.
    matrix = [p for n, p in params if n.startswith("blocks.") and n.endswith(".weight") and p.dim() == 2]
    scalar = [p for n, p in params if n != "tok_emb.weight" and not any(p is m for m in matrix)]
    tok = torch.optim.AdamW([{"params": [model.tok_emb.weight], "lr": EMBED_LR, "base_lr": EMBED_LR}],
                            betas=BETAS, eps=EPS, weight_decay=EMBED_WD, foreach=False)
    muon = Muon(matrix, MATRIX_LR, MOMENTUM, MUON_WD)
    muon.param_groups[0]["base_lr"] = MATRIX_LR
    sc = torch.optim.AdamW([{"params": scalar, "lr": SCALAR_LR, "base_lr": SCALAR_LR}],
                           betas=BETAS, eps=EPS, weight_decay=SCALAR_WD, foreach=False)

    losses = run_steps(args, model, params, [tok, muon, sc], muon, lambda: sm.make_batch(a, gen),
                       lambda step: lr_mul(step / args.steps),
                       lambda step: muon_momentum(step, args.muon_warmup_steps, WARMUP_START, MOMENTUM))
    print(f"{args.out}: {args.steps} steps, {args.dtype}, {len(matrix)} Muon matrices, losses " +
          " ".join(f"{v:.6f}" for v in losses))


if __name__ == "__main__":
    main()
