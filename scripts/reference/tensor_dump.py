"""Writer and reader of golfrt's tensor dump format, version 1 (tests/support/tensor_dump.h is the C++ twin).

Layout, little-endian:
  b"GOLFTDMP", u32 version (=1), u32 entry count, then per entry:
  u32 name length, name (UTF-8), u8 dtype code, u8 rank, u16 reserved (=0), rank x i64 dims,
  numel x element size bytes of row-major data.
Dtype codes follow golf::DType: 0 f32, 1 f64, 2 bf16, 3 f16, 4 i32, 5 u16, 6 i8, 7 u8.

write_tensor_dump(path, entries) takes a dict or a sequence of (name, tensor) pairs, where a tensor is a
torch tensor or a numpy array (or a Python scalar). int64 is written as i32 (after a range check) and bool
as u8. read_tensor_dump(path) returns a dict name -> numpy array in file order; numpy has no bfloat16,
so bf16 entries come back widened to float32 (exact).
"""
import struct

import numpy as np

MAGIC = b"GOLFTDMP"
VERSION = 1

# code -> (name, element size, numpy dtype it is stored as)
_CODES = {
    0: ("f32", 4, np.dtype("<f4")),
    1: ("f64", 8, np.dtype("<f8")),
    2: ("bf16", 2, np.dtype("<u2")),  # raw bits; widened to f32 on read
    3: ("f16", 2, np.dtype("<f2")),
    4: ("i32", 4, np.dtype("<i4")),
    5: ("u16", 2, np.dtype("<u2")),
    6: ("i8", 1, np.dtype("i1")),
    7: ("u8", 1, np.dtype("u1")),
}
_NUMPY_TO_CODE = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.float16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.uint16): 5,
    np.dtype(np.int8): 6,
    np.dtype(np.uint8): 7,
}


def _to_code_and_bytes(name, t):
    """(dtype code, shape, little-endian bytes) of one tensor."""
    try:
        import torch
    except ImportError:  # numpy-only callers
        torch = None
    if torch is not None and isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            # numpy cannot hold bf16: reinterpret the bits as int16 and keep them.
            bits = t.view(torch.int16).numpy().view(np.uint16)
            return 2, tuple(t.shape), bits.tobytes()
        t = t.numpy()
    a = np.asarray(t)
    if a.dtype == np.int64 or a.dtype == np.uint32 or a.dtype == np.int16:
        if a.size and (a.min() < -(2**31) or a.max() >= 2**31):
            raise ValueError(f"tensor dump: {name!r}: values out of int32 range")
        a = a.astype(np.int32)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8)
    code = _NUMPY_TO_CODE.get(a.dtype)
    if code is None:
        raise ValueError(f"tensor dump: {name!r}: unsupported dtype {a.dtype}")
    a = a.astype(_CODES[code][2], copy=False)  # not ascontiguousarray: it turns a 0-d array into 1-d
    return code, a.shape, a.tobytes(order="C")


def write_tensor_dump(path, entries):
    items = list(entries.items()) if isinstance(entries, dict) else list(entries)
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(items)))
        for name, t in items:
            code, shape, data = _to_code_and_bytes(name, t)
            if len(shape) > 255:
                raise ValueError(f"tensor dump: {name!r}: rank {len(shape)} > 255")
            nb = name.encode("utf-8")
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<BBH", code, len(shape), 0))
            f.write(struct.pack(f"<{len(shape)}q", *shape))
            f.write(data)


def read_tensor_dump(path):
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(n, what):
        nonlocal pos
        if n > len(buf) - pos:
            raise ValueError(f"{path}: truncated: {what} needs {n} bytes at offset {pos}, "
                             f"file has {len(buf) - pos} left")
        b = buf[pos:pos + n]
        pos += n
        return b

    if take(8, "magic") != MAGIC:
        raise ValueError(f"{path}: bad magic (not a golfrt tensor dump)")
    version, count = struct.unpack("<II", take(8, "header"))
    if version != VERSION:
        raise ValueError(f"{path}: unsupported version {version} (expected {VERSION})")
    out = {}
    for i in range(count):
        (nlen,) = struct.unpack("<I", take(4, f"entry {i} name length"))
        name = take(nlen, f"entry {i} name").decode("utf-8")
        code, rank, reserved = struct.unpack("<BBH", take(4, f"entry {name!r} header"))
        if code not in _CODES:
            raise ValueError(f"{path}: entry {name!r}: unknown dtype code {code}")
        if reserved != 0:
            raise ValueError(f"{path}: entry {name!r}: reserved field is {reserved}, expected 0")
        dims = struct.unpack(f"<{rank}q", take(8 * rank, f"entry {name!r} dims"))
        if any(d < 0 for d in dims):
            raise ValueError(f"{path}: entry {name!r}: negative dimension in {list(dims)}")
        _, size, npdt = _CODES[code]
        numel = 1
        for d in dims:
            numel *= d  # Python ints do not overflow; take() rejects anything past the file's end
        a = np.frombuffer(take(numel * size, f"entry {name!r} data"), dtype=npdt).reshape(dims)
        if code == 2:
            a = (a.astype(np.uint32) << 16).view(np.float32)
        if name in out:
            raise ValueError(f"{path}: duplicate entry name {name!r}")
        out[name] = a.copy()  # own the memory rather than a read-only view of the file buffer
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} trailing bytes after {count} entries")
    return out
