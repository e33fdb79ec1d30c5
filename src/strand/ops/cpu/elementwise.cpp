#include "strand/ops/elementwise.h"

#include "strand/ops/dispatch.h"

namespace strand {

void add_inplace(const Tensor& dst, const Tensor& src) {
  STRAND_CHECK(dst.defined() && dst.is_contiguous(), "dst must be a defined contiguous tensor");
  check_tensor(dst, "dst", dst.shape());
  check_tensor(src, "src", dst.dtype(), dst.shape());
  ops_detail::check_cpu("add_inplace", {{"dst", dst}, {"src", src}});
  ops_detail::dispatch_float(dst.dtype(), "add_inplace", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const int64_t n = dst.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

}  // namespace strand
