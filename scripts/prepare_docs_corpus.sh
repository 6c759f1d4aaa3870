#!/usr/bin/env bash
# A second validation corpus for docs/decoding.md's test-time training table: English prose from
# another domain than nlp-corpus — this machine's license texts and package READMEs
# (/usr/share/common-licenses, /usr/share/doc/*/README*), one file per document, tokenized with the
# default corpus's tokenizer (so an artifact trained on data/nlp-corpus-sp1024 scores it).
#   scripts/prepare_docs_corpus.sh      -> data/docs-sp1024
# What it holds depends on the packages installed, so its numbers are this machine's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
golfrt=${GOLFRT:-$root/build/golfrt}
tok="$root/data/nlp-corpus-sp1024/tokenizer.model"
out="$root/data/docs-sp1024"
[[ -f "$tok" ]] || { echo "prepare_docs_corpus: $tok not found (scripts/prepare_default_data.sh first)" >&2; exit 1; }
text=$(mktemp)
trap 'rm -f "$text"' EXIT
# One line per file: its words joined by spaces, the first 3,000 words of it.
for f in /usr/share/common-licenses/* $(find /usr/share/doc -maxdepth 2 -type f \( -name 'README*' -o -name 'NEWS*' \) | sort); do
  case "$f" in
    *.gz) zcat "$f" 2>/dev/null ;;
    *) cat "$f" ;;
  esac | tr -s '[:space:]' ' ' | cut -d' ' -f1-3000 | LC_ALL=C grep -a -v '^ *$' || true
  echo
done | iconv -c -f UTF-8 -t UTF-8 | LC_ALL=C awk 'length($0) > 200' > "$text"
"$golfrt" data prepare --text "$text" --out "$out" --tokenizer "$tok" --val-fraction 0.5 --quiet
