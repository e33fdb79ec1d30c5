// Matrix products on the GPU through cuBLASLt: F32 or BF16 operands, F32 accumulation.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C_in (+ bias[n] broadcast over rows, when non-null), where
// C_in is `c_in` when set (same layout as C, e.g. a residual added on the way) and C itself otherwise.
// op(A) is [m, k] (A stored [k, m] if trans_a), op(B) is [k, n] (B stored [n, k] if trans_b); lda, ldb, ldc
// are row strides in elements. A and B have dtype ab (F32 or BF16); C and bias have dtype c (F32 or BF16; a
// BF16 product may accumulate into F32 C, as weight gradients do). F32 operands compute in true F32 (no
// TF32).
struct Gemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0;
  const void* b = nullptr;
  int64_t ldb = 0;
  void* c = nullptr;
  int64_t ldc = 0;
  DType ab = DType::BF16;
  DType c_dtype = DType::BF16;
  const void* c_in = nullptr;
  float alpha = 1, beta = 0;
  const void* bias = nullptr;
};

void gemm(const Gemm& g, cudaStream_t stream);

// db[cols] (F32) += column sums of dy [rows, cols] (dtype act), the bias gradient; db = the sums when not
// accumulate.
void column_sum(DType act, float* db, const void* dy, int64_t rows, int64_t cols, bool accumulate,
                cudaStream_t stream);

}  // namespace strand::cuda
