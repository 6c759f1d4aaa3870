// A dense, contiguous, row-major tensor. Storage is shared (copies of a Tensor alias the same
// bytes); clone() makes a deep copy. Storage lives on the host (Device::cpu) or, in a build with
// CUDA, in device memory (Device::cuda): element access (get/set/to) is for host tensors, and
// to_device/copy_from move bytes between the two. With the stand-in device on
// (runtime/device_memory.h) Device::cuda storage is host memory, still refused to get/set/to, so
// code that would read device memory on the host fails there as it would on a GPU.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/dtype.h"

namespace golf {

using Shape = std::vector<int64_t>;

enum class Device : uint8_t { cpu, cuda };
const char* device_name(Device d);

// The element count; throws std::overflow_error when a dimension is negative or the count (or
// its size in bytes at 8 bytes an element) would not fit in int64 — a script's or a file's shape
// must never wrap to a small allocation that kernels then index past.
int64_t shape_numel(const Shape& s);
// "" when `s` has no negative dimension and at most kMaxElements elements, else why not; the graph
// calls it on every node's output so the error can name the op and the script line.
std::string shape_size_error(const Shape& s);
constexpr int64_t kMaxElements = int64_t(1) << 60;  // × 8 bytes still fits in int64
std::string shape_str(const Shape& s);  // "[2, 3, 4]"

struct Storage {
  unsigned char* ptr = nullptr;
  size_t size = 0;
  Device device = Device::cpu;
  bool standin = false;  // Device::cuda memory of the stand-in device (host memory)
  explicit Storage(size_t n, Device d = Device::cpu);  // zero-filled
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(Shape shape, DType dtype, Device device = Device::cpu);  // zero-filled

  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + int(shape_.size()) : i]; }
  int rank() const { return int(shape_.size()); }
  bool defined() const { return storage_ != nullptr; }

  void* raw() { return storage_ ? storage_->ptr + offset_ : nullptr; }
  const void* raw() const { return storage_ ? storage_->ptr + offset_ : nullptr; }
  template <class T> T* data() { return static_cast<T*>(raw()); }
  template <class T> const T* data() const { return static_cast<const T*>(raw()); }

  Tensor clone() const;
  // A tensor of another shape with the same element count over the same bytes.
  Tensor view(const Shape& shape) const;
  // A tensor over `base`'s bytes starting at byte_offset (the executor's arena slots).
  static Tensor over(const Tensor& base, size_t byte_offset, Shape shape, DType dtype);
  // Element i as double whatever the dtype (tests, printing, host-side reductions).
  double get(int64_t i) const;
  void set(int64_t i, double v);
  Tensor to(DType t) const;  // converted copy (host tensors)
  void fill(double v);
  // A copy on device d (a deep copy even when d is the tensor's own device).
  Tensor to_device(Device d) const;
  // Copies src's bytes into this tensor's (same shape and dtype; any pair of devices).
  void copy_from(const Tensor& src);

 private:
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
};

}  // namespace golf
