#include "runtime/tensor.h"

#include "runtime/device_memory.h"

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/runtime_api.h"
#endif

namespace golf {

namespace {
#ifndef GOLFRT_WITH_CUDA
[[noreturn]] void no_cuda() {
  throw std::runtime_error("golfrt was built without CUDA: device tensors are not available (configure with "
                           "-DGOLFRT_CUDA=ON on a machine with nvcc)");
}
#endif

void require_host(const Tensor& t, const char* what) {
  if (t.device() != Device::cpu)
    throw std::runtime_error(std::string("Tensor::") + what + " reads elements on the host, and this tensor " +
                             shape_str(t.shape()) + " lives on " + device_name(t.device()) + " (copy it with to_device(Device::cpu))");
}
}  // namespace

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

std::string shape_size_error(const Shape& s) {
  int64_t n = 1;
  bool zero = false;
  for (int64_t d : s) {
    if (d < 0) return "shape " + shape_str(s) + " has a negative dimension";
    if (d == 0) zero = true;
  }
  if (zero) return "";
  for (int64_t d : s) {
    if (n > kMaxElements / d) return "shape " + shape_str(s) + " has more than 2^60 elements";
    n *= d;
  }
  return "";
}

int64_t shape_numel(const Shape& s) {
  std::string why = shape_size_error(s);
  if (!why.empty()) throw std::overflow_error(why);
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); i++) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

Storage::Storage(size_t n, Device d) : size(n), device(d) {
  if (d == Device::cuda && standin_device()) {
    standin = true;
    ptr = static_cast<unsigned char*>(standin_alloc(n));
    count_device_storage(n, true);
    return;
  }
  if (d == Device::cuda) {
#ifdef GOLFRT_WITH_CUDA
    ptr = static_cast<unsigned char*>(cuda::device_alloc(n));
    count_device_storage(n, true);
    return;
#else
    no_cuda();
#endif
  }
  // 64-byte alignment: BLAS and vectorized loops want it, and it keeps arena offsets meaningful.
  size_t rounded = (n + 63) / 64 * 64;
  ptr = static_cast<unsigned char*>(std::aligned_alloc(64, rounded ? rounded : 64));
  if (!ptr) throw std::bad_alloc();
  std::memset(ptr, 0, rounded ? rounded : 64);
}

Storage::~Storage() {
  if (standin) {
    standin_free(ptr, size);
    count_device_storage(size, false);
    return;
  }
#ifdef GOLFRT_WITH_CUDA
  if (device == Device::cuda) {
    count_device_storage(size, false);
    cuda::device_free(ptr);
    return;
  }
#endif
  std::free(ptr);
}

Tensor::Tensor(Shape shape, DType dtype, Device device)
    : shape_(std::move(shape)), dtype_(dtype), device_(device) {
  std::string why = shape_size_error(shape_);
  if (!why.empty()) throw std::invalid_argument("tensor " + why);
  storage_ = std::make_shared<Storage>(nbytes(), device);
}

Tensor Tensor::clone() const { return to_device(device_); }

Tensor Tensor::to_device(Device d) const {
  Tensor t(shape_, dtype_, d);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.shape_ != shape_ || src.dtype_ != dtype_)
    throw std::invalid_argument("Tensor::copy_from: " + shape_str(src.shape_) + " " + dtype_name(src.dtype_) + " into " +
                                shape_str(shape_) + " " + dtype_name(dtype_));
  const size_t n = nbytes();
  if (!n) return;
  if (device_ == Device::cpu && src.device_ == Device::cpu) {
    std::memcpy(raw(), src.raw(), n);
    return;
  }
  // Every byte crossing between host and device is counted (runtime/device_memory.h).
  if (device_ == Device::cuda && src.device_ == Device::cpu) count_upload(n);
  else if (device_ == Device::cpu && src.device_ == Device::cuda) count_download(n);
  else count_device_copy(n);
  if ((device_ == Device::cpu || storage_->standin) && (src.device_ == Device::cpu || src.storage_->standin)) {
    std::memcpy(raw(), src.raw(), n);  // the stand-in device: its memory is host memory
    return;
  }
#ifdef GOLFRT_WITH_CUDA
  if (device_ == Device::cuda && src.device_ == Device::cpu) cuda::copy_to_device(raw(), src.raw(), n);
  else if (device_ == Device::cpu && src.device_ == Device::cuda) cuda::copy_to_host(raw(), src.raw(), n);
  else cuda::copy_on_device(raw(), src.raw(), n);
#else
  no_cuda();
#endif
}

Tensor Tensor::view(const Shape& shape) const {
  if (shape_numel(shape) != numel())
    throw std::invalid_argument("view " + shape_str(shape) + " of tensor " + shape_str(shape_) +
                                ": element counts differ");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::over(const Tensor& base, size_t byte_offset, Shape shape, DType dtype) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = base.device_;
  if (!base.storage_ || base.offset_ + byte_offset + t.nbytes() > base.storage_->size)
    throw std::out_of_range("Tensor::over: " + std::to_string(t.nbytes()) + " bytes at offset " +
                            std::to_string(byte_offset) + " exceed the base tensor");
  t.storage_ = base.storage_;
  t.offset_ = base.offset_ + byte_offset;
  return t;
}

double Tensor::get(int64_t i) const {
  require_host(*this, "get");
  switch (dtype_) {
    case DType::f32: return data<float>()[i];
    case DType::f64: return data<double>()[i];
    case DType::bf16: return bf16_to_f32(data<uint16_t>()[i]);
    case DType::f16: return f16_to_f32(data<uint16_t>()[i]);
    case DType::i32: return data<int32_t>()[i];
    case DType::u16: return data<uint16_t>()[i];
    case DType::i8: return data<int8_t>()[i];
    case DType::u8: return data<uint8_t>()[i];
  }
  return 0;
}

void Tensor::set(int64_t i, double v) {
  require_host(*this, "set");
  switch (dtype_) {
    case DType::f32: data<float>()[i] = float(v); break;
    case DType::f64: data<double>()[i] = v; break;
    case DType::bf16: data<uint16_t>()[i] = f32_to_bf16(float(v)); break;
    case DType::f16: data<uint16_t>()[i] = f32_to_f16(float(v)); break;
    case DType::i32: data<int32_t>()[i] = int32_t(v); break;
    case DType::u16: data<uint16_t>()[i] = uint16_t(v); break;
    case DType::i8: data<int8_t>()[i] = int8_t(v); break;
    case DType::u8: data<uint8_t>()[i] = uint8_t(v); break;
  }
}

Tensor Tensor::to(DType t) const {
  require_host(*this, "to");
  Tensor out(shape_, t, device_);
  int64_t n = numel();
  for (int64_t i = 0; i < n; i++) out.set(i, get(i));
  return out;
}

void Tensor::fill(double v) {
  if (device_ != Device::cpu && storage_ && storage_->standin) {
    // As the CUDA path below: a memset for zero (one launch), else a host fill copied up.
    if (v == 0.0) {
      if (nbytes()) std::memset(raw(), 0, nbytes());
    } else {
      Tensor h(shape_, dtype_);
      h.fill(v);
      copy_from(h);
    }
    return;
  }
  if (device_ != Device::cpu) {
#ifdef GOLFRT_WITH_CUDA
    if (v == 0.0) cuda::memset_device(raw(), 0, nbytes());
    else {  // rare (schedule scalars, tests): fill on the host and copy
      Tensor h(shape_, dtype_);
      h.fill(v);
      copy_from(h);
    }
    return;
#else
    no_cuda();
#endif
  }
  if (v == 0.0) {  // all-zero bits is 0 in every dtype
    if (nbytes()) std::memset(raw(), 0, nbytes());
    return;
  }
  int64_t n = numel();
  for (int64_t i = 0; i < n; i++) set(i, v);
}

}  // namespace golf
