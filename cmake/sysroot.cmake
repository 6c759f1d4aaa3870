# GOLFRT_SYSROOT: build against the folder scripts/gpu/bundle.sh prepares (DESIGN §12) instead of
# the system's -dev packages, for a machine that has a compiler, CUDA, cmake and ninja but none of
# Debian's libraries. It defines the imported targets the pkg-config/find_package path defines,
# under the same names, so the rest of the build does not know the difference:
#   static: Lua 5.4 (C++ build), zstd, Brotli, xxHash, OpenBLAS (+ gcc's libgfortran, libquadmath), GoogleTest
#   shared (beside the binaries through an rpath): SentencePiece, Google Benchmark
set(S ${GOLFRT_SYSROOT})
if(NOT IS_ABSOLUTE "${S}")
  get_filename_component(S "${S}" ABSOLUTE BASE_DIR ${CMAKE_SOURCE_DIR})
endif()
foreach(f include/lua5.4/lua.hpp include/zstd.h include/brotli/encode.h include/xxhash.h include/openblas/cblas.h
          include/gtest/gtest.h include/benchmark/benchmark.h include/sentencepiece_processor.h
          lib/liblua5.4-c++.a lib/libzstd.a lib/libbrotlienc.a lib/libbrotlidec.a lib/libbrotlicommon.a lib/libxxhash.a
          lib/libopenblas.a lib/libgfortran.a lib/libquadmath.a lib/libgtest.a lib/libgtest_main.a lib/libsentencepiece.so.0 lib/libsentencepiece_train.so.0
          lib/libbenchmark.so)
  if(NOT EXISTS ${S}/${f})
    message(FATAL_ERROR "GOLFRT_SYSROOT=${S} lacks ${f}: make it with scripts/gpu/bundle.sh (and, on the GPU "
                        "machine, let scripts/gpu/run.sh unpack its .xz archives)")
  endif()
endforeach()

function(golf_imported name includes)
  add_library(${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${includes}" INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

golf_imported(PkgConfig::LUA ${S}/include/lua5.4 ${S}/lib/liblua5.4-c++.a m dl)
# OpenBLAS's LAPACK is Fortran: its routines (dormbr, under LQER's SVD) call the gfortran runtime.
golf_imported(PkgConfig::OPENBLAS ${S}/include/openblas ${S}/lib/libopenblas.a ${S}/lib/libgfortran.a
              ${S}/lib/libquadmath.a Threads::Threads m)
golf_imported(PkgConfig::ZSTD ${S}/include ${S}/lib/libzstd.a)
golf_imported(PkgConfig::BROTLI ${S}/include ${S}/lib/libbrotlienc.a ${S}/lib/libbrotlidec.a ${S}/lib/libbrotlicommon.a)
golf_imported(PkgConfig::XXHASH ${S}/include ${S}/lib/libxxhash.a)
golf_imported(PkgConfig::SENTENCEPIECE ${S}/include ${S}/lib/libsentencepiece.so.0 ${S}/lib/libsentencepiece_train.so.0)
golf_imported(GTest::gtest ${S}/include ${S}/lib/libgtest.a Threads::Threads)
golf_imported(GTest::gtest_main ${S}/include ${S}/lib/libgtest_main.a GTest::gtest)
golf_imported(benchmark::benchmark ${S}/include ${S}/lib/libbenchmark.so Threads::Threads)
# The shared ones are found where they lie, by every binary of the build.
set(CMAKE_BUILD_RPATH ${S}/lib)
message(STATUS "golfrt: libraries from GOLFRT_SYSROOT=${S}")
