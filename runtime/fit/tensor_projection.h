// The compressed size of one tensor as the artifact would store it, without the tensor: values
// are drawn (Gaussian rows, or rows like a trained artifact's), quantized by the tensor's
// QuantSpec, stored as the encoder stores them (scales byte-shuffled, intN bit-packed) and
// compressed with the artifact's codec. A large tensor is estimated from a sample of its rows
// instead of compressing all of it, with a stated sampling error; every distinct (shape, quant
// spec, values, codec) is projected once and cached, since layers repeat the same few shapes.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/artifact/format.h"
#include "runtime/fit/like_stats.h"
#include "runtime/params.h"
#include "runtime/quant/quantize.h"

namespace golf::fit {

struct ProjectionOptions {
  std::vector<artifact_format::Codec> codecs;  // the candidates; codec "auto" means zstd and brotli
  bool shuffle = true, packed = true;          // the artifact's flags
  const LikeStats* like = nullptr;             // --like: integer matrices from these statistics
  // A tensor larger than full_bytes stored is estimated from `chunks` independent samples of about
  // chunk_bytes each (the estimator and its stated error: TensorProjector::compute).
  size_t chunk_bytes = 8 << 10;
  int chunks = 4;
  size_t full_bytes = 96 << 10;
  size_t float_full_bytes = 4 << 20;  // float encodings: sampled only above this (see sample_rows)
  uint64_t seed = 1;
};

struct TensorPlan {
  std::string name;
  Shape shape;
  QuantSpec spec;
  // Trained matrices get drawn values (Gaussian N(0, 1/fan_in), or --like statistics); vectors,
  // control tensors and buffers keep what the script declares (their init), as trained ones
  // barely move.
  bool drawn = true;
  Init init;             // when !drawn
  bool integer = false;  // an integer buffer, stored as i32
  // An LQER factor (runtime/quant/lqer.h): drawn Gaussian, quantized by quantize_factor() with
  // spec.encoding's width, one scale (group 0) or one per `group` elements.
  bool lqer_factor = false;
  int64_t group = 0;
};

struct TensorEstimate {
  double bytes = 0;          // compressed bytes of the tensor's scales and values
  double error = 0;          // the stated sampling error in bytes (0: the whole tensor was compressed)
  int64_t sampled_rows = 0;  // rows compressed when sampled, 0 when whole
  std::string source;        // "gaussian", "init", or the --like statistics used ("attention int6")
};

// Stored bytes (scales, then values) of a quantized tensor exactly as the artifact encoder lays
// them out, without the alignment padding.
std::string stored_bytes(const QTensor& t, bool shuffle, bool packed);
// Raw (pre-compression) sizes of the scales and values arrays of a tensor of this plan.
void stored_sizes(const TensorPlan& t, bool packed, uint64_t* scales, uint64_t* values);
// The encoding a plan's tensor is stored with ("int6", "fp16", "i32", ...).
std::string stored_encoding(const TensorPlan& t);

class TensorProjector {
 public:
  explicit TensorProjector(ProjectionOptions o);
  const ProjectionOptions& options() const { return opt_; }
  // One estimate per options().codecs entry. Cached: a whole-projected tensor by every field of
  // its plan but the name (plus its class under --like); a sampled tensor with per-row scales by
  // its row form (the shape without dim 0), since its rows are independent draws and the per-row
  // cost is all the sample measures.
  std::vector<TensorEstimate> project(const TensorPlan& t);
  int64_t projected() const { return projected_; }    // distinct projections computed
  int64_t cache_hits() const { return cache_hits_; }  // plans answered from the cache
  // The whole-tensor projection, never sampled (what the sampled estimate is checked against).
  std::vector<TensorEstimate> project_whole(const TensorPlan& t);
  // Rows per sample chunk when `t` is estimated from samples, else 0 (compressed whole).
  int64_t sample_rows(const TensorPlan& t) const;

 private:
  struct RowFit {  // per codec
    double whole_bytes = 0;                 // a whole projection (sampled_rows == 0)
    double overhead = 0, rate = 0;          // sampled: bytes = overhead + rows·rate
    double noise_per_row = 0, learning_per_row = 0;
    int64_t sampled_rows = 0;
    std::string source;
  };
  std::vector<RowFit> compute(const TensorPlan& t, bool allow_sampling);
  std::vector<TensorEstimate> scaled(const std::vector<RowFit>& fits, const TensorPlan& t) const;
  std::string cache_key(const TensorPlan& t) const;
  bool per_tensor_int(const TensorPlan& t) const;
  ProjectionOptions opt_;
  std::map<std::string, std::vector<RowFit>> cache_;
  int64_t projected_ = 0, cache_hits_ = 0;
};

}  // namespace golf::fit
