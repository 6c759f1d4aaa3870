#!/usr/bin/env bash
# Run HERE (the Debian machine with the -dev packages): collects what the GPU machine lacks to
# build golfrt into one small folder (DESIGN §12), git-ignored, which then travels with the
# device command (the run tool's `carry`):
#
#   gpu-sysroot/include   headers: Lua 5.4, zstd, Brotli, xxHash, OpenBLAS (cblas), GoogleTest,
#                         Google Benchmark, SentencePiece
#   gpu-sysroot/lib       static archives: Lua 5.4 (C++ build), zstd, Brotli, xxHash, GoogleTest,
#                         gcc's libgfortran and libquadmath (OpenBLAS's LAPACK calls them);
#                         libopenblas.a xz-compressed (58 MB as is, DYNAMIC_ARCH kernels for every
#                         CPU; run.sh unpacks it there); shared: SentencePiece (+ protobuf-lite when
#                         Debian's build links it), Google Benchmark (Debian ships no static one)
#
# Usage: scripts/gpu/bundle.sh [OUT_DIR]   (default gpu-sysroot; the size is checked at the end)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-gpu-sysroot}
LIMIT_KB=${GOLFRT_SYSROOT_LIMIT_KB:-40960}  # leaves room under the 64 MiB a command may carry
MA=$(gcc -print-multiarch)
LIB=/usr/lib/$MA
INC=/usr/include

need() { for f in "$@"; do [ -e "$f" ] || { echo "bundle.sh: $f is missing (scripts/setup.sh installs the -dev packages)" >&2; exit 1; }; done; }
need $INC/lua5.4/lua.hpp $INC/$MA/lua5.4-deb-multiarch.h $INC/zstd.h $INC/brotli/encode.h $INC/xxhash.h $INC/$MA/openblas-pthread/cblas.h \
     $INC/gtest/gtest.h $INC/benchmark/benchmark.h $INC/sentencepiece_processor.h \
     $LIB/liblua5.4-c++.a $LIB/libzstd.a $LIB/libbrotlienc.a $LIB/libbrotlidec.a $LIB/libbrotlicommon.a \
     $LIB/libxxhash.a $LIB/openblas-pthread/libopenblas.a $LIB/libgtest.a $LIB/libgtest_main.a \
     $LIB/libsentencepiece.so.0 $LIB/libsentencepiece_train.so.0 $LIB/libbenchmark.so

rm -rf "$OUT"
mkdir -p "$OUT/include/openblas" "$OUT/lib"
cp -r $INC/lua5.4 $INC/brotli $INC/gtest $INC/benchmark "$OUT/include/"
# Debian's luaconf.h includes this multiarch header by a quoted name: beside it, it is found.
cp $INC/$MA/lua5.4-deb-multiarch.h "$OUT/include/lua5.4/"
cp $INC/zstd.h $INC/zstd_errors.h $INC/xxhash.h $INC/sentencepiece_processor.h $INC/sentencepiece_trainer.h "$OUT/include/"
cp $INC/$MA/openblas-pthread/cblas.h $INC/$MA/openblas-pthread/openblas_config.h "$OUT/include/openblas/"

for a in liblua5.4-c++.a libzstd.a libbrotlienc.a libbrotlidec.a libbrotlicommon.a libxxhash.a libgtest.a libgtest_main.a; do
  cp -L $LIB/$a "$OUT/lib/"
done
# OpenBLAS compresses ~35x (the same kernels built for every CPU type).
xz -T0 -6 -c "$(readlink -f $LIB/openblas-pthread/libopenblas.a)" >"$OUT/lib/libopenblas.a.xz"
# Its LAPACK is Fortran (dormbr, behind the SVD of LQER's corrections, calls the gfortran
# runtime), so the static link needs gcc's Fortran runtime too.
for a in libgfortran.a libquadmath.a; do
  f=$(gcc -print-file-name=$a)
  [ -f "$f" ] || { echo "bundle.sh: $a is missing (apt-get install gfortran's runtime: libgfortran-12-dev)" >&2; exit 1; }
  cp -L "$f" "$OUT/lib/"
done

# Shared libraries, under the names the binaries ask for (their sonames).
cp -L $LIB/libsentencepiece.so.0 $LIB/libsentencepiece_train.so.0 "$OUT/lib/"
cp -L $LIB/libbenchmark.so "$OUT/lib/libbenchmark.so"
soname=$(objdump -p $LIB/libbenchmark.so | awk '/SONAME/ {print $2}')
[ -n "$soname" ] && cp -L $LIB/libbenchmark.so "$OUT/lib/$soname"
# Whatever else those shared libraries need beyond the C/C++ runtime (protobuf-lite on Debian
# builds that link it; this one bundles its own).
for so in "$OUT"/lib/*.so*; do
  ldd "$so" | awk '/=>/ {print $3}' | while read -r dep; do
    case "$(basename "$dep")" in
      libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*|libpthread.so*|libdl.so*|ld-linux*|librt.so*) ;;
      libsentencepiece*|libbenchmark*) ;;
      *) cp -Ln "$dep" "$OUT/lib/" && echo "bundle.sh: also carrying $(basename "$dep") (needed by $(basename "$so"))" ;;
    esac
  done
done
# Debug sections are dead weight there.
strip --strip-debug "$OUT"/lib/*.a "$OUT"/lib/*.so* 2>/dev/null || true

{
  echo "made by scripts/gpu/bundle.sh on $(hostname) at $(date -u +%FT%TZ)"
  echo "gcc: $(gcc -dumpfullversion)   glibc: $(ldd --version | head -1)"
  dpkg-query -W -f '${Package} ${Version}\n' liblua5.4-dev libzstd-dev libbrotli-dev libxxhash-dev \
    libopenblas-pthread-dev libgtest-dev libbenchmark-dev libsentencepiece-dev 2>/dev/null || true
} >"$OUT/MANIFEST"

kb=$(du -sk "$OUT" | cut -f1)
echo "bundle.sh: $OUT is ${kb} KiB (limit ${LIMIT_KB} KiB)"
if [ "$kb" -gt "$LIMIT_KB" ]; then
  echo "bundle.sh: $OUT is too large to travel with a command" >&2
  exit 1
fi
