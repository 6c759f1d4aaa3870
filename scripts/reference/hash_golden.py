"""Golden bucket ids of the hashed n-gram embeddings (PARAMETER_GOLF.md, BigramHash / TrigramHash), printed as
JSON, computed here in plain Python integers independently of golfrt (and cross-checked against the torch
version in seed_modules.py that the model references use).

Multiply-xor hash ("kind": "multiply_xor"), unsigned 32-bit arithmetic, K buckets, primes (p0, p1, p2):
  bigram:  h_0 = K−1;  h_t = ((p0·t_t mod 2³²) XOR (p1·t_{t−1} mod 2³²)) mod (K−1)
  trigram: h_0 = K−1;  h_1 = the bigram hash of (t_1, t_0);
           h_t = ((p0·t_t) XOR (p1·t_{t−1}) XOR (p2·t_{t−2})) mod (K−1)  (each product mod 2³²), t ≥ 2
XXH3 ("kind": "xxh3"), when the python3-xxhash package is installed: h = XXH3-64(bytes, seed) over the
n-gram's ids as little-endian uint32, oldest first (bigram (t_{t−1}, t_t), trigram (t_{t−2}, t_{t−1}, t_t));
bucket = h mod (K−1), position 0 -> K−1, a trigram at position 1 uses the bigram (t_0, t_1). Each case also
lists the raw 64-bit hashes (hex, null at position 0) so a test can check the hash apart from the reduction.

  /usr/bin/python3 scripts/reference/hash_golden.py [--out hashing/tests/ngram_hash_golden.json]
"""
import argparse
import json
import os
import struct
import sys

U32 = 0xFFFFFFFF

SEQUENCES = [
    [1, 2, 3, 4, 5, 6, 7, 8],
    [1, 940, 52, 1019, 0, 3, 512, 777, 1023, 940, 940, 1],  # sp1024-like ids: BOS, "▁", controls, the top id
    [65535, 65534, 8191, 8192, 4095, 2047, 2048, 0, 65535, 1, 30000, 51647],  # uint16 extremes
    [7],  # length 1: only the reserved bucket
    [5, 9],  # length 2: a trigram at position 1 is the bigram
    [0, 0, 0, 0],
]
BUCKETS = [2048, 8192]
PRIME_SETS = {
    "default": (36313, 27191, 51647),
    "alt_51497": (36313, 27191, 51497),  # "some versions use 51497"
    "custom_wrap": (2654435761, 2246822519, 3266489917),  # products overflow 32 bits
}
XXH3_SEEDS = [0, 1337]


def mx_ids(seq, n, K, primes):
    p0, p1, p2 = primes
    out = []
    for t in range(len(seq)):
        if t == 0:
            out.append(K - 1)
        elif t == 1 or n == 2:
            out.append((((p0 * seq[t]) & U32) ^ ((p1 * seq[t - 1]) & U32)) % (K - 1))
        else:
            h = ((p0 * seq[t]) & U32) ^ ((p1 * seq[t - 1]) & U32) ^ ((p2 * seq[t - 2]) & U32)
            out.append(h % (K - 1))
    return out


def xxh3_hashes(seq, n, seed):
    import xxhash
    out = [None]
    for t in range(1, len(seq)):
        gram = seq[max(0, t - n + 1):t + 1] if t >= n - 1 else seq[t - 1:t + 1]
        out.append(xxhash.xxh3_64_intdigest(struct.pack(f"<{len(gram)}I", *gram), seed=seed))
    return out


def cross_check(cases):
    """The torch hashes of seed_modules (used by the model references) must give the same ids."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    import seed_modules as sm
    for c in cases:
        toks = torch.tensor([SEQUENCES[c["sequence"]]], dtype=torch.int64)
        f = sm.bigram_hash if c["n"] == 2 else sm.trigram_hash
        got = f(toks, c["buckets"], tuple(c["primes"]))[0].tolist()
        assert got == c["ids"], (c, got)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    ap.add_argument("--no-cross-check", action="store_true", help="skip the check against seed_modules (no torch)")
    args = ap.parse_args()

    cases = []
    for n in (2, 3):
        for K in BUCKETS:
            for pname, primes in PRIME_SETS.items():
                for si, seq in enumerate(SEQUENCES):
                    cases.append({"kind": "multiply_xor", "n": n, "buckets": K, "primes_name": pname,
                                  "primes": list(primes), "sequence": si, "ids": mx_ids(seq, n, K, primes)})
    if not args.no_cross_check:
        cross_check(cases)

    try:
        import xxhash  # noqa: F401
        have_xxh = True
    except ImportError:
        have_xxh = False
    if have_xxh:
        for n in (2, 3):
            for K in BUCKETS:
                for seed in XXH3_SEEDS:
                    for si, seq in enumerate(SEQUENCES):
                        hs = xxh3_hashes(seq, n, seed)
                        ids = [K - 1] + [h % (K - 1) for h in hs[1:]]
                        cases.append({"kind": "xxh3", "n": n, "buckets": K, "seed": seed, "sequence": si,
                                      "ids": ids,
                                      "hash64": [None if h is None else f"{h:016x}" for h in hs]})

    doc = {
        "description": "hashed n-gram bucket ids (PARAMETER_GOLF.md); see scripts/reference/hash_golden.py",
        "xxh3_available": have_xxh,
        "sequences": SEQUENCES,
        "cases": cases,
    }
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print(f"{args.out}: {len(cases)} cases (xxh3 {'included' if have_xxh else 'NOT available'})")
    else:
        print(text)


if __name__ == "__main__":
    main()
