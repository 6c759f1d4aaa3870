// How the CUDA column sum of channel_scale_backward (kernels/cuda/channel_mix.cu) splits the
// rows: plain C++ so that runtime/device_ledger.cc counts the same scratch without CUDA headers.
#pragma once
#include <cstdint>

namespace golf::kernels {

struct ChannelChunks {
  int64_t rows_per_chunk = 0, chunks = 0;
  int64_t scratch_bytes = 0;  // chunks × d partial sums in double
};

// About 128 chunks of at least 32 rows: with d 512 that is 16 column tiles × 128 = 2,048 blocks.
inline ChannelChunks channel_chunks(int64_t rows, int64_t d) {
  ChannelChunks c;
  if (rows <= 0 || d <= 0) return c;
  c.rows_per_chunk = (rows + 127) / 128;
  if (c.rows_per_chunk < 32) c.rows_per_chunk = 32;
  c.chunks = (rows + c.rows_per_chunk - 1) / c.rows_per_chunk;
  c.scratch_bytes = c.chunks * d * int64_t(sizeof(double));
  return c;
}

}  // namespace golf::kernels
