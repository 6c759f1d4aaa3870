"""PyTorch reference of the baseline's optimizers over a few training steps, for golfrt's optimizer golden
test (tests/optim_golden_test.cc).

Builds the reference model of baseline.py, randomizes every parameter, then takes --steps training steps,
each on a fresh random batch: Muon for the blocks' matrices, Adam for the tied embedding and for the
vectors/control tensors, grouped and configured as the baseline's train_gpt.py does (PARAMETER_GOLF.md),
with the baseline's momentum warmup (shortened by --muon-warmup-steps so a short run exercises it) and a
deterministic LR multiplier. Writes the initial parameters, every batch, the LR multipliers, the Muon
momenta, the losses and the final parameters (and with --dump-grads every step's gradients) as a tensor
dump.

Precision: the baseline runs Newton–Schulz in bfloat16 (and rounds Muon's updates to bf16) on GPU. Here
everything, Newton–Schulz included, runs in --dtype, and golfrt's test runs in the same type: a golden test
must fix one precision on both sides, and bf16 would swamp the comparison with rounding noise.

  /usr/bin/python3 scripts/reference/optim_steps.py --out /tmp/optim.bin [--dtype float64] [--dump-grads]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline import add_model_args, build, ordered_params, randomize_  # noqa: E402
from optim_harness import NesterovMuon, muon_momentum, run_steps  # noqa: E402

# The baseline's optimizer settings (train_gpt.py's defaults).
MATRIX_LR = 0.04
TIED_EMBED_LR = 0.05
SCALAR_LR = 0.04
MUON_MOMENTUM = 0.95
MUON_WARMUP_START = 0.85
MUON_BACKEND_STEPS = 5
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
CONTROL_TENSOR_NAME_PATTERNS = ("attn_scale", "attn_scales", "mlp_scale", "mlp_scales", "resid_mix",
                                "resid_mixes", "q_gain", "skip_weight", "skip_weights")


def zeropower_via_newtonschulz5(G, steps, eps=1e-7):
    """The baseline's function, except that it stays in G's dtype (the baseline casts to bfloat16)."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.clone()
    X /= X.norm() + eps
    transposed = G.size(0) > G.size(1)
    if transposed:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.T if transposed else X


class Muon(NesterovMuon):
    """The baseline's Muon on one process: no sharding of the updates across ranks and no bf16 update
    buffer (the updates keep the parameters' dtype)."""

    def __init__(self, params, lr, momentum, backend_steps):
        super().__init__(params, lr=lr, momentum=momentum, backend_steps=backend_steps)

    def update(self, p, g, group):
        g = zeropower_via_newtonschulz5(g, steps=group["backend_steps"])
        g *= max(1, g.size(0) / g.size(1)) ** 0.5  # scale correction from Muon reference implementations
        p.add_(g, alpha=-group["lr"])


def make_optimizers(model):
    """The baseline's grouping: block matrices to Muon, the tied embedding and everything else (vectors,
    control tensors such as resid_mix, skip_weights) to Adam."""
    block_named = list(model.blocks.named_parameters())
    matrix = [p for n, p in block_named if p.ndim == 2 and not any(c in n for c in CONTROL_TENSOR_NAME_PATTERNS)]
    scalar = [p for n, p in block_named if p.ndim < 2 or any(c in n for c in CONTROL_TENSOR_NAME_PATTERNS)]
    scalar.append(model.skip_weights)
    adam_embed = torch.optim.Adam([{"params": [model.tok_emb.weight], "lr": TIED_EMBED_LR, "base_lr": TIED_EMBED_LR}],
                                  betas=ADAM_BETAS, eps=ADAM_EPS, foreach=False)
    muon = Muon(matrix, lr=MATRIX_LR, momentum=MUON_MOMENTUM, backend_steps=MUON_BACKEND_STEPS)
    for group in muon.param_groups:
        group["base_lr"] = MATRIX_LR
    adam_scalar = torch.optim.Adam([{"params": scalar, "lr": SCALAR_LR, "base_lr": SCALAR_LR}],
                                   betas=ADAM_BETAS, eps=ADAM_EPS, foreach=False)
    return [adam_embed, muon, adam_scalar]


def lr_multiplier(step, steps):
    """A deterministic stand-in for the baseline's wall-clock warmdown: 1, then linear to 0 over the
    second half of the run (the test reads the values from the dump, so there is one definition)."""
    half = steps // 2
    return 1.0 if step < steps - half else (steps - step) / (half + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    add_model_args(ap)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--muon-warmup-steps", type=int, default=500)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--dump-grads", action="store_true",
                    help="also write every step's gradients as grad.<step>.<name>, so the optimizers can be "
                         "checked alone, free of the model's own rounding differences")
    args = ap.parse_args()

    torch.set_num_threads(1)  # reductions in a fixed order: the same bytes on every run
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    model = build(args, dtype)
    gen = torch.Generator().manual_seed(args.seed)
    randomize_(model, gen)
    params = ordered_params(model)
    optimizers = make_optimizers(model)

    def next_batch():
        tokens = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
        targets = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
        return tokens, targets

    losses = run_steps(args, model, params, optimizers, optimizers[1], next_batch,
                       lambda step: lr_multiplier(step, args.steps),
                       # The baseline's momentum warmup: `step` updates have been taken before this one.
                       lambda step: muon_momentum(step, args.muon_warmup_steps, MUON_WARMUP_START, MUON_MOMENTUM))
    print(f"{args.out}: {args.steps} steps, {args.dtype}, losses " + " ".join(f"{l:.6f}" for l in losses))


if __name__ == "__main__":
    main()
