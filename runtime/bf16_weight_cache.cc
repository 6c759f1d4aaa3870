#include "runtime/bf16_weight_cache.h"

#include <stdexcept>
#include <string>

namespace golf {

Bf16WeightCache::~Bf16WeightCache() {
  for (auto& [key, e] : entries_) ops_.free(e.copy);
}

void Bf16WeightCache::drop_freed() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.storage.expired()) {
      ops_.free(it->second.copy);
      bytes_ -= it->second.numel * 2;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Bf16WeightCache::stale(const Tensor& t) const {
  auto it = entries_.find(t.storage_id());
  if (it == entries_.end()) return true;
  const Entry& e = it->second;
  return e.storage.expired() || e.numel != t.numel() || e.writes != t.writes();
}

const void* Bf16WeightCache::get(const Tensor& t) {
  if (!eligible(t))
    throw std::invalid_argument("bf16 weight cache: a " + std::string(dtype_name(t.dtype())) + " tensor " +
                                shape_str(t.shape()) + (t.whole_storage() ? "" : " that is part of a larger buffer") +
                                " has no cached bf16 copy (f32 tensors covering their storage only)");
  auto it = entries_.find(t.storage_id());
  if (it != entries_.end() && !stale(t)) return it->second.copy;
  if (frozen_)
    throw std::logic_error("bf16 weight cache: a miss while frozen (inside a CUDA graph capture): the " + shape_str(t.shape()) +
                           " weight was written after the run's prepare, or never prepared; its conversion belongs "
                           "in prepare, before the captured launches");
  // A miss: first forget freed weights, so that a storage at a reused address starts afresh.
  drop_freed();
  it = entries_.find(t.storage_id());
  if (it != entries_.end() && it->second.numel != t.numel()) {
    ops_.free(it->second.copy);
    bytes_ -= it->second.numel * 2;
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    Entry e;
    e.storage = t.storage_ref();
    e.numel = t.numel();
    e.copy = ops_.alloc(size_t(t.numel()) * 2);
    bytes_ += e.numel * 2;
    it = entries_.emplace(t.storage_id(), e).first;
  }
  // The count is read before converting: a write racing the conversion leaves the entry stale.
  it->second.writes = t.writes();
  ops_.convert(t.numel(), t.data<float>(), it->second.copy);
  conversions_++;
  return it->second.copy;
}

}  // namespace golf
