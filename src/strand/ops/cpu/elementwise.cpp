#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

namespace strand::cpu {

void add_inplace(const Tensor& dst, const Tensor& src) {
  ops_detail::dispatch_float(dst.dtype(), "add_inplace", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const int64_t n = dst.numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

}  // namespace strand::cpu
