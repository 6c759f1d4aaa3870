"""Independent val_bpb byte count for a SentencePiece tokenizer (tests/bpb_bytes_test.cc compares golfrt with it).

Usage: count_bytes.py --model M.model --docs DOCS.json      (DOCS.json: a JSON array of strings)

Prints one JSON object:
  formula_bytes  the challenge's rule over the stream BOS doc0 BOS doc1 ... (targets t >= 1): a target y
                 after x counts base_bytes[y] + (has_leading_space[y] and not is_boundary[x]); the table is
                 built the way the challenge's train_gpt.py builds it (build_sentencepiece_luts);
  spans_bytes    the same total reached from the text instead of the table: the UTF-8 length of each
                 normalized document, less what its <unk> pieces cover, less each "▁" piece start that
                 follows a boundary (BOS or <unk>);
  docs           per document: ids, pieces, normalized text and the three terms above.

The normalized text is computed here without SentencePiece: NFKC, then whitespace runs collapsed to one
space and trimmed. That equals nmt_nfkc with remove_extra_whitespaces for text without control or
zero-width characters (nmt_nfkc also maps those), which is what the test feeds it.
Exit status 77 when the sentencepiece module is missing (the test skips).
"""
import argparse
import json
import sys
import unicodedata

try:
    import sentencepiece as spm
except ImportError:
    print("count_bytes.py: the sentencepiece module is missing (apt install python3-sentencepiece)", file=sys.stderr)
    sys.exit(77)

SPACE = "\u2581"
BOS = 1


def build_luts(sp):
    n = sp.vocab_size()
    base, lead, boundary = [0] * n, [False] * n, [True] * n
    for i in range(n):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith(SPACE):
            lead[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return base, lead, boundary


def normalize(text):
    return " ".join(unicodedata.normalize("NFKC", text).split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--docs", required=True)
    args = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=args.model)
    with open(args.docs, encoding="utf-8") as f:
        docs = json.load(f)
    base, lead, boundary = build_luts(sp)

    stream, out_docs, spans_total = [], [], 0
    for doc in docs:
        proto = sp.encode_as_immutable_proto(doc)
        ids = [p.id for p in proto.pieces]
        # For <unk> the proto's piece is the normalized text it stands for, not "<unk>".
        pieces = [p.piece for p in proto.pieces]
        norm = normalize(doc)
        unk_bytes = sum(len(p.encode("utf-8")) for i, p in zip(ids, pieces) if sp.is_unknown(i))
        boundary_spaces = 0
        prev = BOS
        for i, p in zip(ids, pieces):
            if not sp.is_unknown(i) and p.startswith(SPACE) and boundary[prev]:
                boundary_spaces += 1
            prev = i
        spans = len(norm.encode("utf-8")) - unk_bytes - boundary_spaces
        spans_total += spans
        stream += [BOS] + ids
        out_docs.append({
            "ids": ids,
            "pieces": pieces,
            "normalized": norm,
            "normalized_bytes": len(norm.encode("utf-8")),
            "unk_bytes": unk_bytes,
            "boundary_spaces": boundary_spaces,
            "spans_bytes": spans,
        })

    formula = 0
    for t in range(1, len(stream)):
        x, y = stream[t - 1], stream[t]
        formula += base[y] + (1 if lead[y] and not boundary[x] else 0)

    json.dump({"formula_bytes": formula, "spans_bytes": spans_total, "tokens": len(stream), "docs": out_docs},
              sys.stdout, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
