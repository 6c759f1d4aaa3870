// bf16 copies of fp32 weights for the CUDA matmul (issue 16: "bf16 copies of the weights made once
// per optimizer step, not per matmul call"). A weight is read by a forward matmul and a backward
// matmul in every micro-batch; with the copy cached it is converted once after each write (an
// upload, an optimizer update), and every other use reads the copy.
//
// Staleness is ruled out by construction rather than by callers remembering to invalidate: every
// writable pointer to a tensor's bytes comes from Tensor::raw(), which bumps its storage's write
// count (runtime/tensor.h), and an entry is used only while that count equals the one recorded
// when the copy was made. An entry also holds a weak reference to the storage: a freed weight's
// entry is dropped (and its copy freed) before a new tensor at the same address can be looked up.
//
// Only tensors covering their whole storage qualify (parameters, their device mirrors): a slot of
// the executor's arena is written by every run and gains nothing from a cache.
//
// The bookkeeping is plain C++ over injected memory operations, so its tests run on the CPU with
// host memory and a host converter; the CUDA backend gives it device memory and the bf16 kernel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "runtime/tensor.h"

namespace golf {

struct Bf16CacheOps {
  void* (*alloc)(size_t bytes) = nullptr;
  void (*free)(void* p) = nullptr;
  // dst[i] = bf16(src[i]) rounded to nearest even, for n elements (asynchronous on a device is
  // fine: reads of the copy are ordered after it on the same stream).
  void (*convert)(int64_t n, const float* src, void* dst) = nullptr;
};

class Bf16WeightCache {
 public:
  explicit Bf16WeightCache(Bf16CacheOps ops) : ops_(ops) {}
  ~Bf16WeightCache();
  Bf16WeightCache(const Bf16WeightCache&) = delete;
  Bf16WeightCache& operator=(const Bf16WeightCache&) = delete;

  // An f32 tensor covering its whole storage.
  static bool eligible(const Tensor& t) { return t.dtype() == DType::f32 && t.whole_storage() && t.numel() > 0; }
  // The bf16 copy of `t` (numel() bf16 values), converted now when `t` was written since the copy
  // was made or has none yet. Throws std::invalid_argument for a tensor that is not eligible.
  const void* get(const Tensor& t);
  // Would get() convert? (The executor's ledger counts the launch before it happens.)
  bool stale(const Tensor& t) const;
  // Frozen: get() on a stale or missing entry throws std::logic_error instead of converting. The
  // executor freezes the cache while it captures a CUDA graph: its prepare converted every weight
  // the plan reads, so a miss then is a bug, and a conversion recorded into the graph would replay
  // on every launch against a copy the cache believes current.
  void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

  int64_t conversions() const { return conversions_; }
  size_t entries() const { return entries_.size(); }
  int64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::weak_ptr<const Storage> storage;
    uint64_t writes = 0;
    int64_t numel = 0;
    void* copy = nullptr;
  };
  void drop_freed();
  Bf16CacheOps ops_;
  std::map<const Storage*, Entry> entries_;
  int64_t conversions_ = 0, bytes_ = 0;
  bool frozen_ = false;
};

}  // namespace golf
