"""PyTorch side of scripts/bench/cpu_train.sh: trains the reference baseline (scripts/reference/baseline.py)
at golfrt's `--preset cpu` shape with the baseline's optimizers (Muon on the blocks' matrices, Adam for
the tied embedding and the vectors; scripts/reference/optim_steps.py) in fp32, on the same shard read the
same way (golfrt's TokenStream: consecutive micro*seq+1 token windows from the start of the train split),
and prints the training throughput of the timed steps.

  /usr/bin/python3 scripts/bench/cpu_train_torch.py --data data/nlp-corpus-sp1024 --threads 2 \
      --warmup 10 --steps 20

Output: one line `torch: N steps in S s (T tokens, X tokens/s); loss L`, warm-up steps excluded. The LR
stays at its base value (golfrt's warmdown multiplier only changes what is multiplied, not the cost).
"""
import argparse
import glob
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from baseline import build  # noqa: E402
from optim_steps import make_optimizers  # noqa: E402

SHARD_MAGIC = 20240520


def read_shard(path):
    """A challenge/golfrt shard: 256 little-endian int32 (magic, version, token count, ...), then uint16 tokens."""
    header = np.fromfile(path, dtype="<i4", count=256)
    if header[0] != SHARD_MAGIC:
        raise SystemExit(f"{path}: not a token shard (magic {header[0]})")
    n = int(header[2])
    tokens = np.fromfile(path, dtype="<u2", count=n, offset=256 * 4)
    if tokens.size != n:
        raise SystemExit(f"{path}: {tokens.size} tokens, the header says {n}")
    return tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/nlp-corpus-sp1024")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    # golfrt's examples/baseline.lua --preset cpu
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--mlp-mult", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (batch_tokens / seq)")
    ap.add_argument("--softcap", type=float, default=30.0)
    ap.add_argument("--rope-base", type=float, default=10000.0)
    ap.add_argument("--qk-gain", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    shards = sorted(glob.glob(os.path.join(args.data, "fineweb_train_*.bin")))
    if not shards:
        raise SystemExit(f"{args.data}: no fineweb_train_*.bin shard")
    tokens = torch.from_numpy(read_shard(shards[0]).astype(np.int64))
    window = args.batch * args.seq + 1
    total = args.warmup + args.steps
    if tokens.numel() < total * window:
        raise SystemExit(f"{shards[0]}: {tokens.numel()} tokens, fewer than the {total * window} the run reads")

    model = build(args, torch.float32)  # the baseline's own init (zeroed output projections)
    optimizers = make_optimizers(model)
    n_params = sum(p.numel() for p in model.parameters())

    pos = 0
    losses = []
    t0 = None
    for step in range(total):
        if step == args.warmup:
            t0 = time.perf_counter()
        buf = tokens[pos:pos + window]
        pos += window
        x = buf[:-1].reshape(args.batch, args.seq)
        y = buf[1:].reshape(args.batch, args.seq)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        for opt in optimizers:
            opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - t0
    timed_tokens = args.steps * args.batch * args.seq
    print(f"torch: {args.steps} steps in {seconds:.2f} s ({timed_tokens} tokens, {timed_tokens / seconds:.0f} tokens/s); "
          f"loss {losses[-1]:.4f}; {n_params} parameters; {args.threads} threads; torch {torch.__version__}")

    # Training FLOPs per token (forward + backward = 3x the forward's multiply-adds x 2):
    #   6*N  for the non-embedding parameters (each weight: one multiply-add per token forward);
    #   6*L*D*(T+1) for causal attention (QK^T and PV: 2*2*D per visible (query, key) pair, on
    #        average (T+1)/2 keys per query);
    #   6*D*V for the tied output head (the embedding lookup itself is free).
    # Not counted: elementwise ops, norms, softmax, and the optimizers (Muon's Newton-Schulz).
    n_emb = model.tok_emb.weight.numel()
    n_nonemb = n_params - n_emb
    attn = 6 * args.layers * args.dim * (args.seq + 1)
    head = 6 * args.dim * args.vocab
    flops = 6 * n_nonemb + attn + head
    print(f"flops_per_token {flops} = 6*N_nonembedding {6 * n_nonemb} (N = {n_nonemb}) + attention 6*L*D*(T+1) {attn} "
          f"+ head 6*D*V {head}")


if __name__ == "__main__":
    main()
