#include "strand/ops/cuda/gemm.h"

#include "strand/core/error.h"

#include <cuda_bf16.h>

#include <string>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per column, rows in order: deterministic, and coalesced across the threads of a warp.
template <typename T>
__global__ void column_sum_kernel(float* db, const T* dy, int64_t rows, int64_t cols) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float s = 0;
  for (int64_t r = 0; r < rows; ++r) s += static_cast<float>(dy[r * cols + c]);
  db[c] += s;
}

}  // namespace

void column_sum_accumulate(DType act, float* db, const void* dy, int64_t rows, int64_t cols,
                           cudaStream_t stream) {
  if (cols == 0) return;
  const auto blocks = static_cast<unsigned>((cols + kThreads - 1) / kThreads);
  if (act == DType::F32) {
    column_sum_kernel<<<blocks, kThreads, 0, stream>>>(db, static_cast<const float*>(dy), rows, cols);
  } else if (act == DType::BF16) {
    column_sum_kernel<<<blocks, kThreads, 0, stream>>>(db, static_cast<const __nv_bfloat16*>(dy), rows, cols);
  } else {
    throw Error(std::string("column_sum_accumulate: unsupported dtype ") + std::string(dtype_name(act)));
  }
  check_launch("column_sum_accumulate");
}

}  // namespace strand::cuda
