// What `golfrt fit --like ARTIFACT` learns from trained weights: per tensor class and bit width,
// the distribution of the quantized symbols exactly as the codec sees them (after clipping and
// GPTQ), and the rows' fp16 scales. Trained rows differ from one another (some use a few codes,
// others the whole range), so rows are grouped by spread into buckets of equal size, each with its
// own symbol histogram; a projected row draws its symbols from one bucket's histogram and its
// scale from the same bucket's scales.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/fit/tensor_class.h"

namespace golf::fit {

struct SymbolBucket {
  std::vector<double> cdf;       // over q = -2^(bits-1) .. 2^(bits-1)-1; the last entry is 1
  std::vector<uint16_t> scales;  // fp16 bit patterns of the bucket's rows
  double mean_abs_q = 0;         // the bucket's spread (what the rows were sorted by)
};

struct SymbolStats {
  int bits = 0;
  int64_t tensors = 0, rows = 0, values = 0;
  double entropy_bits = 0;  // of the pooled histogram, bits per symbol
  std::vector<SymbolBucket> buckets;
};

struct LikeStats {
  std::string source;  // the artifact's path, for messages
  std::map<std::pair<TensorClass, int>, SymbolStats> by_class;  // (class, bits)
  std::map<int, SymbolStats> pooled;                            // every class, by bits

  // The statistics a tensor of `cls` quantized to `bits` is projected from: its class's, else
  // every class's pooled at that width, else null. *from says which ("attention int6", "pooled int6").
  const SymbolStats* find(TensorClass cls, int bits, std::string* from) const;
};

// Every integer-quantized tensor of rank >= 2 contributes its rows (float tensors carry no symbol
// statistics). Throws naming `name` when the artifact has none.
LikeStats like_stats(const Artifact& a, const std::string& name, int buckets = 8);
LikeStats read_like_stats(const std::string& path);

}  // namespace golf::fit
