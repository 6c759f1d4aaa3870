"""A checkpoint as the challenge's train_gpt.py leaves one, made small on CPU, for `golfrt import`'s test
(tests/import_test.cc).

Builds baseline.py's model with the baseline's own init, trains it --steps steps with optim_steps.py's
optimizers (Muon for the block matrices, Adam for the embedding and the control tensors, the baseline's
momentum warmup and a deterministic LR multiplier) on consecutive batches of a golfrt data folder's train
split, then
  - saves the state_dict with torch.save (--prefix puts torch.compile's `_orig_mod.` in front of every
    name, as a compiled model's state_dict has it; --embed-bf16 stores tok_emb.weight as bfloat16, the
    dtype train_gpt.py keeps it in, and evaluates with those rounded values);
  - scores the validation split as `golfrt decode --eval blocks` does: non-overlapping windows of --seq,
    floor((N - 1) / seq) of them, the mean cross-entropy (fp32 logits, summed in float64) over every target;
  - prints {"val_loss", "val_targets", "train_losses"} as JSON.

  /usr/bin/python3 scripts/reference/train_checkpoint.py --data DIR --out final_model.pt --vocab 260 ...
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline import add_model_args, build  # noqa: E402
from optim_harness import muon_momentum, set_step  # noqa: E402
from optim_steps import MUON_MOMENTUM, MUON_WARMUP_START, lr_multiplier, make_optimizers  # noqa: E402

SHARD_MAGIC = 20240520


def read_shards(data_dir, split):
    paths = sorted(glob.glob(os.path.join(data_dir, f"fineweb_{split}_*.bin")))
    if not paths:
        sys.exit(f"{data_dir}: no fineweb_{split}_*.bin shards")
    out = []
    for p in paths:
        header = np.fromfile(p, dtype="<i4", count=256)
        if header[0] != SHARD_MAGIC or header[1] != 1:
            sys.exit(f"{p}: not a shard (magic {header[0]}, version {header[1]})")
        tokens = np.fromfile(p, dtype="<u2", offset=1024)
        if len(tokens) != header[2]:
            sys.exit(f"{p}: the header says {header[2]} tokens, the file has {len(tokens)}")
        out.append(tokens.astype(np.int64))
    return np.concatenate(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="the checkpoint (torch.save of the state_dict)")
    add_model_args(ap, vocab=260, batch=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--muon-warmup-steps", type=int, default=10)
    ap.add_argument("--max-val-tokens", type=int, default=0, help="score only the first N validation tokens (0: all)")
    ap.add_argument("--prefix", default="", help="put this in front of every state_dict name (e.g. _orig_mod.)")
    ap.add_argument("--embed-bf16", action="store_true", help="store tok_emb.weight as bfloat16, as train_gpt.py does")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = build(args, torch.float32)
    train = read_shards(args.data, "train")
    val = read_shards(args.data, "val")
    if args.max_val_tokens > 0 and len(val) > args.max_val_tokens + 1:
        val = val[: args.max_val_tokens + 1]

    optimizers = make_optimizers(model)
    muon = optimizers[1]
    need = args.batch * args.seq + 1
    pos, losses = 0, []
    for step in range(args.steps):
        if pos + need > len(train):
            pos = 0
        buf = torch.from_numpy(train[pos: pos + need])
        pos += need - 1
        tokens = buf[:-1].reshape(args.batch, args.seq)
        targets = buf[1:].reshape(args.batch, args.seq)
        set_step(optimizers, muon, muon_momentum(step, args.muon_warmup_steps, MUON_WARMUP_START, MUON_MOMENTUM),
                 lr_multiplier(step, args.steps))
        model.zero_grad(set_to_none=True)
        _, loss = model(tokens, targets)
        loss.backward()
        for opt in optimizers:
            opt.step()
        losses.append(loss.item())

    with torch.no_grad():
        if args.embed_bf16:  # what the checkpoint holds is what is scored
            model.tok_emb.weight.copy_(model.tok_emb.weight.to(torch.bfloat16).to(torch.float32))
        windows = (len(val) - 1) // args.seq
        if windows == 0:
            sys.exit(f"{args.data}: {len(val)} validation tokens, fewer than seq + 1")
        total, count = 0.0, 0
        for w in range(windows):
            chunk = torch.from_numpy(val[w * args.seq: w * args.seq + args.seq + 1])
            x, y = chunk[:-1].reshape(1, -1), chunk[1:].reshape(1, -1)
            logits, _ = model(x, y)
            total += F.cross_entropy(logits.float(), y.reshape(-1), reduction="none").double().sum().item()
            count += args.seq

    sd = model.state_dict()
    if args.embed_bf16:
        sd["tok_emb.weight"] = sd["tok_emb.weight"].to(torch.bfloat16)
    torch.save({args.prefix + k: v for k, v in sd.items()}, args.out)
    print(json.dumps({"val_loss": total / count, "val_targets": count, "train_losses": losses}))


if __name__ == "__main__":
    main()
