#!/usr/bin/env bash
# The default corpus: the npm package nlp-corpus 4.4.0 (100 files of 1,000 English sentences each,
# MIT), pinned by its published integrity hash and unpacked into data/corpus/nlp-corpus.txt, one
# sentence per line in the package's order (builds/doc-0.json .. doc-99.json). Idempotent.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=4.4.0
integrity="sha512-1vOdUcAoOi1p85iZTC5SZWiIB1H3sDQxgyb4wTF0bZ9QgAVSJjl/Bck0lC5sG4quFgJ6Bz2K5mTaknhBlfEmvw=="
dir="$root/data/corpus"
tarball="$dir/nlp-corpus-$version.tgz"
text="$dir/nlp-corpus.txt"

hash_of() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | openssl base64 -A)"; }

mkdir -p "$dir"
if [[ -f "$text" && -f "$tarball" && "$(hash_of "$tarball")" == "$integrity" ]]; then
  echo "fetch_corpus: $text is present ($(wc -l <"$text") documents)"
  exit 0
fi

if [[ ! -f "$tarball" || "$(hash_of "$tarball")" != "$integrity" ]]; then
  [[ -f "$tarball" ]] && echo "fetch_corpus: $tarball does not match its integrity hash; fetching it again" >&2
  rm -f "$tarball"
  echo "fetch_corpus: npm pack nlp-corpus@$version"
  (cd "$dir" && npm pack --silent "nlp-corpus@$version" >/dev/null)
fi
actual=$(hash_of "$tarball")
if [[ "$actual" != "$integrity" ]]; then
  echo "fetch_corpus: INTEGRITY MISMATCH for $tarball" >&2
  echo "  expected $integrity" >&2
  echo "  got      $actual" >&2
  rm -f "$tarball"
  exit 1
fi

work=$(mktemp -d "$dir/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
# A few sentences hold line breaks; they become spaces so that each sentence stays one document.
node - "$work/package/builds" "$work/nlp-corpus.txt" <<'JS'
const fs = require("fs");
const [builds, out] = process.argv.slice(2);
const lines = [];
for (let i = 0; fs.existsSync(`${builds}/doc-${i}.json`); i++) {
  for (const s of JSON.parse(fs.readFileSync(`${builds}/doc-${i}.json`, "utf8"))) {
    const line = String(s).replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ").trim();
    if (line) lines.push(line);
  }
}
if (lines.length === 0) throw new Error(`no sentences found under ${builds}`);
fs.writeFileSync(out, lines.join("\n") + "\n");
JS
mv "$work/nlp-corpus.txt" "$text"
echo "fetch_corpus: wrote $text ($(wc -l <"$text") documents, $(wc -c <"$text") bytes)"
