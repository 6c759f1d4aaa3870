#include "runtime/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace golf {

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

int64_t shape_numel(const Shape& s) {
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

Storage::Storage(size_t n) : size(n) {
  // 64-byte alignment: BLAS and vectorized loops want it, and it keeps arena offsets meaningful.
  size_t rounded = (n + 63) / 64 * 64;
  ptr = static_cast<unsigned char*>(std::aligned_alloc(64, rounded ? rounded : 64));
  if (!ptr) throw std::bad_alloc();
  std::memset(ptr, 0, rounded ? rounded : 64);
}

Storage::~Storage() { std::free(ptr); }

Tensor::Tensor(Shape shape, DType dtype, Device device)
    : shape_(std::move(shape)), dtype_(dtype), device_(device) {
  for (int64_t d : shape_)
    if (d < 0) throw std::invalid_argument("tensor shape " + shape_str(shape_) + " has a negative dimension");
  if (device != Device::cpu)
    throw std::runtime_error("golfrt: host Tensor cannot allocate on device " + std::string(device_name(device)));
  storage_ = std::make_shared<Storage>(nbytes());
}

Tensor Tensor::clone() const {
  Tensor t(shape_, dtype_, device_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
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
  Tensor out(shape_, t, device_);
  int64_t n = numel();
  for (int64_t i = 0; i < n; i++) out.set(i, get(i));
  return out;
}

void Tensor::fill(double v) {
  if (v == 0.0) {  // all-zero bits is 0 in every dtype
    if (nbytes()) std::memset(raw(), 0, nbytes());
    return;
  }
  int64_t n = numel();
  for (int64_t i = 0; i < n; i++) set(i, v);
}

}  // namespace golf
