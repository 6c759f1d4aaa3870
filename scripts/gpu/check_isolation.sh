#!/usr/bin/env bash
# Run HERE after a sysroot build (GOLFRT_GPU_EXPECTED=0 scripts/gpu/run.sh): this machine has the
# -dev packages installed, so a header or library missing from gpu-sysroot/ would silently come
# from /usr instead and only fail on the GPU machine. This lists every header the build read and
# every library it linked that belongs to one of the bundled -dev packages; any is a bundle bug.
# OpenMPI too: that machine has no MPI, so its build is configured with GOLFRT_MPI=OFF.
# Usage: scripts/gpu/check_isolation.sh [BUILD_DIR]   (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-gpu}
PKGS='liblua5.4-dev|libzstd-dev|libbrotli-dev|libxxhash-dev|libopenblas[a-z0-9-]*-dev|libgtest-dev|libbenchmark-dev|libsentencepiece-dev|libprotobuf-dev|libopenmpi-dev'
bad=0
headers=$(ninja -C "$BUILD" -t deps 2>/dev/null | awk '/^    \/usr\// {print $1}' | sort -u)
for h in $headers; do
  pkg=$(dpkg -S "$(readlink -f "$h")" 2>/dev/null | cut -d: -f1 | head -1 || true)
  if echo "$pkg" | grep -qE "^($PKGS)$"; then echo "system header from $pkg: $h"; bad=1; fi
done
if grep -oE "/usr/lib/[^ ]*lib(lua|zstd|brotli|xxhash|openblas|gtest|benchmark|sentencepiece|protobuf|mpi)[^ ]*" "$BUILD/build.ninja" | sort -u | grep .; then
  echo "(system libraries on the link lines above)"
  bad=1
fi
[ $bad = 0 ] && echo "check_isolation.sh: $BUILD used only gpu-sysroot for the bundled libraries ($(echo "$headers" | wc -w) system headers checked)"
exit $bad
