#!/usr/bin/env python3
"""compare_losses.py A.jsonl B.jsonl LIMIT: the per-step losses of two runs' metrics files agree
to LIMIT (relative). Used by scripts/gpu/run.sh (NCCL with one rank against the plain run)."""
import json
import sys


def losses(path):
    with open(path) as f:
        return {j["step"]: j["loss"] for j in map(json.loads, f) if "loss" in j}


a, b = losses(sys.argv[1]), losses(sys.argv[2])
limit = float(sys.argv[3])
if not a or sorted(a) != sorted(b):
    sys.exit(f"different steps: {sorted(a)} and {sorted(b)}")
for s in sorted(a):
    print(f"step {s}: {a[s]!r}  {b[s]!r}")
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in a)
print(f"worst relative difference {worst:.2e} (limit {limit:g})")
sys.exit(0 if worst <= limit else 1)
