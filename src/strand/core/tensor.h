// Tensor: a typed, shaped view of memory on one device.
//
// A Tensor either owns its storage (shared among copies and views, freed with the last one) or views memory
// it does not own (an arena block, an mmapped file): the caller keeps such memory alive. Shapes are
// row-major; strides are in elements, so views (narrow, transpose) need no copy. Kernels take contiguous
// tensors and check it. Copying a Tensor copies the view, never the data.
#pragma once

#include "strand/core/dtype.h"
#include "strand/core/error.h"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

namespace strand {

class Arena;

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool operator==(const Device&) const = default;
  std::string str() const;
};

// Up to kMaxDims extents; no heap allocation, so building shapes in a training step is free.
class Shape {
 public:
  static constexpr int kMaxDims = 8;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  template <typename It>
  Shape(It begin, It end) {
    for (; begin != end; ++begin) push_back(static_cast<int64_t>(*begin));
  }
  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  int64_t numel() const;
  void push_back(int64_t d);
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  bool operator==(const Shape& o) const;
  std::string str() const;  // "[3, 64]"

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int rank_ = 0;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Owning, uninitialised storage.
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // A contiguous view of memory owned elsewhere; `keep_alive`, if given, is held as long as the view.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device = Device::cpu(),
                     std::shared_ptr<void> keep_alive = nullptr);
  // Contiguous storage from an arena: lives until the arena is reset.
  static Tensor from_arena(Arena& arena, const Shape& shape, DType dtype);

  bool defined() const { return data_ != nullptr || shape_.numel() == 0; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t stride(int dim) const { return strides_[static_cast<size_t>(dim)]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_.type == DeviceType::CPU; }
  bool is_contiguous() const;

  void* raw() const { return data_; }
  // Typed element pointer; checks that T matches the dtype (narrow floats are uint16_t / uint8_t bits).
  template <typename T>
  T* data() const;

  // Views sharing storage.
  Tensor view(const Shape& shape) const;                        // contiguous only; one dim may be -1
  Tensor narrow(int dim, int64_t start, int64_t length) const;  // a slice along dim
  Tensor transpose(int dim0, int dim1) const;

  // Copies.
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype, bool saturate = false) const;  // host only
  Tensor to(Device device) const;
  void copy_from(const Tensor& src);  // same shape; converts dtype on the host

  void fill(double value);  // host only
  // Element i of a contiguous host tensor as a double, for tests and printing.
  double item(int64_t i = 0) const;

  std::string str() const;  // "F32[3, 64] cpu"

 private:
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
  Shape shape_;
  std::array<int64_t, Shape::kMaxDims> strides_{};
  DType dtype_ = DType::F32;
  Device device_;

  void set_contiguous_strides();
};

// The C++ type of each dtype's storage.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::F64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::I32;
}
template <>
constexpr DType dtype_of<int16_t>() {
  return DType::I16;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::I8;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::U8;
}
template <>
constexpr DType dtype_of<uint32_t>() {
  return DType::U32;
}
template <>
constexpr DType dtype_of<uint64_t>() {
  return DType::U64;
}

template <typename T>
T* Tensor::data() const {
  if constexpr (std::is_same_v<T, uint16_t>) {
    STRAND_CHECK(dtype_ == DType::BF16 || dtype_ == DType::F16 || dtype_ == DType::U16,
                 "tensor {} accessed as 16-bit", str());
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    STRAND_CHECK(
        dtype_ == DType::U8 || dtype_ == DType::Bool || dtype_ == DType::F8E4M3 || dtype_ == DType::F8E5M2,
        "tensor {} accessed as 8-bit", str());
  } else {
    STRAND_CHECK(dtype_ == dtype_of<std::remove_const_t<T>>(), "tensor {} accessed as {}", str(),
                 dtype_name(dtype_of<std::remove_const_t<T>>()));
  }
  return static_cast<T*>(data_);
}

// Checks at an op's boundary, with messages naming the argument: check_tensor(x, "x", DType::F32, {T, C}).
// A dimension of -1 in `shape` matches any extent.
void check_tensor(const Tensor& t, const char* name, DType dtype, const Shape& shape);
void check_tensor(const Tensor& t, const char* name, const Shape& shape);  // float32 or float64
void check_same_dtype(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name);

}  // namespace strand
