#!/usr/bin/python3
"""The PyTorch side of bench_decode: the reference baseline (scripts/reference/baseline.py, fp32,
no KV cache) generating one token at POSITION by a forward pass over the POSITION+1-token window,
as a PyTorch user without a cache would. Prints one JSON line.

    decode_torch.py THREADS POSITION [cpu]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import baseline  # noqa: E402


def main():
    threads, position = int(sys.argv[1]), int(sys.argv[2])
    preset = sys.argv[3] if len(sys.argv) > 3 else ""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dims = dict(vocab=1024, dim=512, layers=9, heads=8, kv_heads=4, mlp_mult=2)
    if preset == "cpu":
        dims.update(dim=128, layers=4, heads=4, kv_heads=2)
    model = baseline.GPT(dims["vocab"], dims["dim"], dims["layers"], dims["heads"], dims["kv_heads"],
                         dims["mlp_mult"]).eval()
    tokens = torch.randint(0, dims["vocab"], (1, position + 1))
    with torch.inference_mode():
        model(tokens, tokens)
        runs, t0 = 0, time.perf_counter()
        while runs < 3 or time.perf_counter() - t0 < 1.0:
            model(tokens, tokens)
            runs += 1
        ms = (time.perf_counter() - t0) / runs * 1e3
    print(json.dumps({"torch": torch.__version__, "preset": preset, "position": position,
                      "full_ms_per_token": round(ms, 3)}))


if __name__ == "__main__":
    main()
