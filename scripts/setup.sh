#!/usr/bin/env bash
# Installs every Debian package golfrt needs. Idempotent: installs only what is missing.
# Run as root on a fresh Debian 12 machine (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  liblua5.4-dev           # Lua 5.4, with the C++ build (lua5.4-c++) the DSL links
  libopenblas-dev         # CPU matmul
  libzstd-dev libbrotli-dev libxxhash-dev   # artifact codecs and checksums
  libsentencepiece-dev    # tokenizers
  libgtest-dev libgmock-dev libbenchmark-dev
  openmpi-bin libopenmpi-dev  # data-parallel CPU ranks (mpirun; docs/distributed.md)
  clang-14 libclang-rt-14-dev  # the artifact fuzzer (libFuzzer, ASan, UBSan)
  python3-torch python3-numpy python3-sentencepiece python3-matplotlib python3-xxhash  # references, benchmarks, plots
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The default corpus comes from the npm registry (scripts/fetch_corpus.sh): node, npm and openssl
# (to check its integrity hash). Machines that already have them from elsewhere keep theirs.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
