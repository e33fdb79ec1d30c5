#include "strand/core/tensor.h"

#include "strand/core/arena.h"
#include "strand/core/device_memory.h"

#include <fmt/format.h>

namespace strand {

std::string Device::str() const {
  return type == DeviceType::CPU ? std::string("cpu") : fmt::format("cuda:{}", index);
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t d) {
  STRAND_CHECK(rank_ < kMaxDims, "shape has more than {} dimensions", kMaxDims);
  dims_[static_cast<size_t>(rank_++)] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if ((*this)[i] != o[i]) return false;
  return true;
}

std::string Shape::str() const {
  return fmt::format("[{}]", fmt::join(begin(), end(), ", "));
}

void Tensor::set_contiguous_strides() {
  int64_t s = 1;
  for (int i = shape_.rank() - 1; i >= 0; --i) {
    strides_[static_cast<size_t>(i)] = s;
    s *= shape_[i];
  }
}

static void check_extents(const Shape& shape) {
  for (int64_t d : shape) STRAND_CHECK(d >= 0, "negative extent in shape {}", shape.str());
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_extents(shape);
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.set_contiguous_strides();
  void* p = device_alloc(device, t.nbytes());
  t.storage_ = std::shared_ptr<void>(p, [device](void* q) { device_free(device, q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  device_zero(t.data_, device, t.nbytes());
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device,
                    std::shared_ptr<void> keep_alive) {
  check_extents(shape);
  Tensor t;
  t.data_ = data;
  t.storage_ = std::move(keep_alive);
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.set_contiguous_strides();
  return t;
}

Tensor Tensor::from_arena(Arena& arena, const Shape& shape, DType dtype) {
  check_extents(shape);
  const size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  return wrap(arena.allocate(bytes > 0 ? bytes : 1), shape, dtype, arena.device());
}

int64_t Tensor::size(int dim) const {
  const int d = dim < 0 ? dim + rank() : dim;
  STRAND_CHECK(d >= 0 && d < rank(), "dimension {} out of range for {}", dim, str());
  return shape_[d];
}

bool Tensor::is_contiguous() const {
  int64_t s = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[static_cast<size_t>(i)] != s) return false;
    s *= shape_[i];
  }
  return true;
}

Tensor Tensor::view(const Shape& shape) const {
  STRAND_CHECK(is_contiguous(), "view of non-contiguous tensor {}", str());
  Shape resolved = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] == -1) {
      STRAND_CHECK(infer < 0, "view shape {} has more than one -1", shape.str());
      infer = i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    STRAND_CHECK(known > 0 && numel() % known == 0, "cannot view {} as {}", str(), shape.str());
    resolved[infer] = numel() / known;
  }
  STRAND_CHECK(resolved.numel() == numel(), "cannot view {} as {}", str(), shape.str());
  Tensor t = *this;
  t.shape_ = resolved;
  t.set_contiguous_strides();
  return t;
}

Tensor Tensor::narrow(int dim, int64_t start, int64_t length) const {
  const int d = dim < 0 ? dim + rank() : dim;
  STRAND_CHECK(d >= 0 && d < rank(), "narrow: dimension {} out of range for {}", dim, str());
  STRAND_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d],
               "narrow: [{}, {}) out of range for {} dim {}", start, start + length, str(), d);
  Tensor t = *this;
  t.shape_[d] = length;
  t.data_ = static_cast<char*>(data_) +
            start * strides_[static_cast<size_t>(d)] * static_cast<int64_t>(dtype_size(dtype_));
  return t;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
  STRAND_CHECK(dim0 >= 0 && dim0 < rank() && dim1 >= 0 && dim1 < rank(), "transpose({}, {}) of {}", dim0,
               dim1, str());
  Tensor t = *this;
  std::swap(t.shape_[dim0], t.shape_[dim1]);
  std::swap(t.strides_[static_cast<size_t>(dim0)], t.strides_[static_cast<size_t>(dim1)]);
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype, bool saturate) const {
  STRAND_CHECK(is_cpu(), "dtype conversion of {} requires a host tensor", str());
  const Tensor src = contiguous();
  Tensor t = empty(shape_, dtype);
  convert_elements(src.data_, dtype_, t.data_, dtype, static_cast<size_t>(numel()), saturate);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  const Tensor src = contiguous();
  Tensor t = empty(shape_, dtype_, device);
  device_copy(t.data_, device, src.data_, device_, nbytes());
  return t;
}

// Calls fn(element offset in a, element offset in b) for every index of `shape`, in row-major order.
template <typename Fn>
static void for_each_index(const Shape& shape, const int64_t* sa, const int64_t* sb, Fn fn) {
  const int r = shape.rank();
  std::array<int64_t, Shape::kMaxDims> idx{};
  int64_t oa = 0, ob = 0;
  const int64_t n = shape.numel();
  for (int64_t k = 0; k < n; ++k) {
    fn(oa, ob);
    for (int d = r - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      if (++idx[du] < shape[d]) {
        oa += sa[du];
        ob += sb[du];
        break;
      }
      oa -= sa[du] * (shape[d] - 1);
      ob -= sb[du] * (shape[d] - 1);
      idx[du] = 0;
    }
  }
}

void Tensor::copy_from(const Tensor& src) {
  STRAND_CHECK(src.shape_ == shape_, "copy of {} into {}: shapes differ", src.str(), str());
  if (is_contiguous() && src.is_contiguous()) {
    if (src.dtype_ == dtype_) {
      device_copy(data_, device_, src.data_, src.device_, nbytes());
      return;
    }
    STRAND_CHECK(is_cpu() && src.is_cpu(), "dtype-converting copy of {} into {} requires host tensors",
                 src.str(), str());
    convert_elements(src.data_, src.dtype_, data_, dtype_, static_cast<size_t>(numel()));
    return;
  }
  STRAND_CHECK(is_cpu() && src.is_cpu(), "strided copy of {} into {} requires host tensors", src.str(),
               str());
  const size_t da = dtype_size(dtype_), db = dtype_size(src.dtype_);
  for_each_index(shape_, strides_.data(), src.strides_.data(), [&](int64_t oa, int64_t ob) {
    convert_elements(static_cast<const char*>(src.data_) + ob * static_cast<int64_t>(db), src.dtype_,
                     static_cast<char*>(data_) + oa * static_cast<int64_t>(da), dtype_, 1);
  });
}

void Tensor::fill(double value) {
  STRAND_CHECK(is_cpu(), "fill of {} requires a host tensor", str());
  Tensor one = empty({1}, DType::F64);
  *one.data<double>() = value;
  const size_t sz = dtype_size(dtype_);
  std::array<char, 8> bits{};
  convert_elements(one.data_, DType::F64, bits.data(), dtype_, 1);
  for_each_index(shape_, strides_.data(), strides_.data(), [&](int64_t oa, int64_t) {
    std::memcpy(static_cast<char*>(data_) + oa * static_cast<int64_t>(sz), bits.data(), sz);
  });
}

double Tensor::item(int64_t i) const {
  STRAND_CHECK(is_cpu() && is_contiguous(), "item() of {} requires a contiguous host tensor", str());
  STRAND_CHECK(i >= 0 && i < numel(), "item({}) out of range for {}", i, str());
  double v;
  convert_elements(static_cast<const char*>(data_) + i * static_cast<int64_t>(dtype_size(dtype_)), dtype_, &v,
                   DType::F64, 1);
  return v;
}

std::string Tensor::str() const {
  return fmt::format("{}{} {}", dtype_name(dtype_), shape_.str(), device_.str());
}

void check_tensor(const Tensor& t, const char* name, DType dtype, const Shape& shape) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  STRAND_CHECK(t.dtype() == dtype, "{} must be {}, got {}", name, dtype_name(dtype), t.str());
  bool ok = t.rank() == shape.rank();
  for (int i = 0; ok && i < shape.rank(); ++i) ok = shape[i] < 0 || shape[i] == t.shape()[i];
  STRAND_CHECK(ok, "{} must have shape {}, got {}", name, shape.str(), t.str());
  STRAND_CHECK(t.is_contiguous(), "{} must be contiguous", name);
}

void check_tensor(const Tensor& t, const char* name, const Shape& shape) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  STRAND_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "{} must be F32 or F64, got {}", name,
               t.str());
  check_tensor(t, name, t.dtype(), shape);
}

void check_same_dtype(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  STRAND_CHECK(a.dtype() == b.dtype(), "{} ({}) and {} ({}) must have the same dtype", a_name, a.str(),
               b_name, b.str());
}

}  // namespace strand
