"""A PyTorch checkpoint's state_dict as safetensors, for `golfrt import` (docs/import.md).

Run it where the checkpoint is (it needs torch, nothing else):

  python3 scripts/import_state_dict.py final_model.pt final_model.safetensors [--key model]
  golfrt import examples/baseline.lua final_model.safetensors --data DIR --out final.golf

The challenge's train_gpt.py saves `final_model.pt` as a plain state_dict. The `_orig_mod.` prefix
that torch.compile adds and the `module.` prefix of DistributedDataParallel are stripped (in any
order, as often as they appear at the front), and two names that become the same are refused.
Tensors keep their dtype (F32, BF16, F16, F64; integer buffers as I64/I32/...): golfrt converts.

The safetensors file is written here with struct and json (the `safetensors` package is not needed):
an 8-byte little-endian header length, the JSON header padded with spaces to a multiple of 8, then
each tensor's bytes, row-major, in name order.
"""
import argparse
import json
import os
import struct
import sys

import torch

PREFIXES = ("_orig_mod.", "module.")

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def strip_prefixes(name):
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def state_dict_of(obj, key, path):
    """The checkpoint's name -> tensor mapping: the object itself, or obj[key] for a checkpoint that
    bundles the model with an optimizer state."""
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            sys.exit(f"{path}: has no entry '{key}' (its entries: {sorted(obj) if isinstance(obj, dict) else type(obj)})")
        obj = obj[key]
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        sys.exit(f"{path}: holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        hint = " (try --key " + bad[0] + ")" if any(isinstance(obj[b], dict) for b in bad) else ""
        sys.exit(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:10]))}{hint}")
    return obj


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same 16 bits as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata):
    if sys.byteorder != "little":
        sys.exit("this writer assumes a little-endian machine (safetensors is little-endian)")
    header = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in DTYPES:
            sys.exit(f"tensor '{name}' is {t.dtype}, which safetensors cannot hold")
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a torch.save'd state_dict (train_gpt.py's final_model.pt)")
    ap.add_argument("out", help="the safetensors file to write")
    ap.add_argument("--key", help="the entry of a checkpoint dict that holds the state_dict (e.g. model)")
    args = ap.parse_args()

    obj = torch.load(args.checkpoint, map_location="cpu")
    sd = state_dict_of(obj, args.key, args.checkpoint)
    tensors, origin = {}, {}
    for name, t in sd.items():
        short = strip_prefixes(name)
        if short in tensors:
            sys.exit(f"{args.checkpoint}: '{origin[short]}' and '{name}' are both '{short}' without their prefixes")
        tensors[short], origin[short] = t, name
    stripped = sum(1 for k, v in origin.items() if k != v)
    write_safetensors(args.out, tensors, {"format": "pt", "source": os.path.basename(args.checkpoint)})
    counts = {}
    for t in tensors.values():
        counts[DTYPES.get(t.dtype, str(t.dtype))] = counts.get(DTYPES.get(t.dtype, str(t.dtype)), 0) + 1
    print(f"{args.out}: {len(tensors)} tensors ({', '.join(f'{n} {d}' for d, n in sorted(counts.items()))}), "
          f"{sum(t.numel() for t in tensors.values())} values; {stripped} names had a prefix stripped")


if __name__ == "__main__":
    main()
