// Post-training quantization of one tensor: symmetric intN (N = 2..8) with fp16 scales per row or
// per tensor, float storage (fp16, bf16, fp32), and integer tensors kept as they are. The artifact
// stores a QTensor; dequantize() is the one definition of what the decoder computes from it.
//
// Exactness: the quantizer computes every q against the fp16-rounded scale, and the value of an
// element is float(q) · f16_to_f32(scale) evaluated in f32. Both the quantizer's own
// reconstruction and the decoder use dequant_value(), so an artifact decodes bit-exactly.
//
// The script's quant table (as JSON), read by choose_spec():
//
//   quant = {
//     default          = "int8",        -- int2..int8, fp16, bf16, fp32 (f16/f32 accepted too)
//     keep_float_below = 65536,         -- tensors with <= this many elements stay float
//     small            = "fp16",        -- ... stored as this (control tensors always fp32)
//     clip             = "max" | "search" | { quantile = 0.9999984 } | { sdclip = 3.0 },
//     per_row          = true,          -- one scale per row (dim 0) or one per tensor
//     min_scale        = 0,             -- lower bound on the scale (the baseline uses 1/127)
//     gptq             = false,         -- quantize with GPTQ when calibration Hessians exist
//     rules = {                         -- first match wins (anchored Lua patterns)
//       { match = "tok_emb%..*", encoding = "int8" },
//       { match = "blocks%..*",  encoding = "int6", clip = "search", per_row = true, gptq = true },
//     },
//     control = { "q_gain", "attn_scale", "mlp_scale", "resid_mix", "skip_weights" },
//   }
//
// Precedence: small tensors are kept float first (a control tensor — its name contains one of the
// `control` strings, plain substring, as the baseline's CONTROL_TENSOR_NAME_PATTERNS — as fp32,
// others as `small`); then the first matching rule; then the defaults. A 1-D (or scalar) tensor
// is never integer-quantized: an integer encoding chosen for it becomes `small` (fp32 if control).
// Other keys of the table (codec, ...) belong to the artifact writer and are ignored here; rule
// keys are checked.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/json.h"
#include "runtime/tensor.h"

namespace golf {

struct QuantSpec {
  std::string encoding = "int8";  // int2..int8, fp16, bf16, fp32
  bool per_row = true;
  std::string clip = "max";  // max | quantile | search | sdclip
  double clip_value = 0;     // quantile q (e.g. 0.9999984) or sdclip k: scale k·std(row)/qmax, uncapped
  double min_scale = 0;      // scale = max(clip / qmax, min_scale) before fp16 rounding
  bool gptq = false;         // a request only: quantize() ignores it, the exporter acts on it
};

struct QTensor {
  std::string name;
  Shape shape;
  std::string encoding;  // int2..int8, fp16, bf16, fp32, i32
  int bits = 0;          // bits per stored element (N for intN, 16, 32)
  bool per_row = true;
  // > 0: one scale per `group` consecutive elements of the flattened tensor, the last group possibly
  // shorter (LQER's factor B, runtime/quant/lqer.h); per_row is then false. 0: per row or per tensor.
  int64_t group = 0;
  // fp16 bit patterns: one per row (rows = dim 0, cols = the rest), one for the tensor, or one per
  // group (scale_count()).
  std::vector<uint16_t> scales;
  std::vector<int8_t> q;  // one value per element in [-(2^(b-1)-1), 2^(b-1)-1]
  Tensor values;          // float encodings: the f32/f16/bf16 tensor as stored; i32 tensors as is

  bool is_int() const { return encoding.size() == 4 && encoding.compare(0, 3, "int") == 0; }
  int64_t rows() const { return per_row && shape.size() >= 2 ? shape[0] : 1; }
  // How many scales an integer tensor has: ceil(numel / group) when grouped, else rows().
  int64_t scale_count() const {
    if (group <= 0) return rows();
    int64_t n = shape_numel(shape);
    return n / group + (n % group != 0);
  }
};

// Integer bit width of an encoding ("int6" -> 6), 0 for a float encoding; throws on an unknown one.
int encoding_bits(const std::string& encoding);
// "f16" -> "fp16", "f32" -> "fp32"; checks the name.
std::string canonical_encoding(const std::string& encoding);

// The decoder's value of one integer element: float(q) · scale in f32.
inline float dequant_value(int8_t q, float scale) { return float(q) * scale; }

// w is f32 (any shape; rank <= 1 always gets one scale) or i32 (stored untouched as "i32").
QTensor quantize(const std::string& name, const Tensor& w, const QuantSpec& spec);
Tensor dequantize(const QTensor& t);  // f32 for float encodings, i32 for "i32"

// The per-row (or per-tensor) fp16 scales the spec's clip rule gives w viewed as [rows, cols];
// GPTQ fixes these before it starts. rows = 1 for per-tensor.
std::vector<uint16_t> choose_scales(const float* w, int64_t rows, int64_t cols, int bits, const QuantSpec& spec);
// q = clamp(round_half_even(w / scale), ±qmax), 0 where the scale is 0.
int8_t quantize_value(double w, float scale, int qmax);

// Bytes of the encoded payload before compression (packed values + scales, or the float data).
size_t payload_bytes(const QTensor& t);

// Two's-complement N-bit fields (N = 2..8), element i at stream bits [i·N, (i+1)·N), stream bit k
// being bit k % 8 of byte k / 8; the last byte is zero-padded.
std::string pack_bits(const std::vector<int8_t>& q, int bits);
std::vector<int8_t> unpack_bits(const std::string& packed, int bits, size_t count);

// Reads the quant table (format above) for one tensor. `match` is the anchored Lua-pattern
// matcher the DSL provides. Throws naming the setting on a malformed table.
QuantSpec choose_spec(const std::string& name, const Shape& shape, const Json& quant,
                      const std::function<bool(const std::string&, const std::string&)>& match);

// The whole table checked at once, as export will read it: choose_spec() for every tensor the
// artifact will hold (name and shape), so an unknown encoding or clip, a malformed rule, or a rule
// pattern Lua refuses fails now. Meant for the start of training, before a step is spent on a table
// export would refuse. Throws naming the setting (and the pattern and tensor for a bad pattern).
void check_quant_table(const Json& quant, const std::function<bool(const std::string&, const std::string&)>& match,
                       const std::vector<std::pair<std::string, Shape>>& tensors);

}  // namespace golf
