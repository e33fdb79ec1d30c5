// Matrix products on the GPU through cuBLASLt: F32 or BF16 operands, F32 accumulation; each operand carries
// its own dtype (and, for FP8 products later, its scale).
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// An input matrix of a product: row-major, rows `ld` elements apart, in `dtype`.
struct GemmOperand {
  const void* data = nullptr;
  int64_t ld = 0;
  DType dtype = DType::BF16;
  // The device F32 that dequantises an FP8 operand (its values are data * scale); null otherwise. Reserved
  // for FP8 products: refused today.
  const float* scale = nullptr;
};

// The output matrix of a product: row-major, rows `ld` elements apart, in `dtype`.
struct GemmOutput {
  void* data = nullptr;
  int64_t ld = 0;
  DType dtype = DType::BF16;
  // For an FP8 output: the device F32 that quantises it (stored values are result * scale), and where the
  // product writes the largest |result| (the amax of delayed scaling); null otherwise. Reserved for FP8
  // products: refused today.
  const float* scale = nullptr;
  float* amax = nullptr;
};

// Row-major C[m, n] = alpha * op(A) op(B) + beta * C_in (+ bias[n] broadcast over rows, when non-null), where
// C_in is `c_in` when set (same layout and dtype as C, e.g. a residual added on the way) and C itself
// otherwise. op(A) is [m, k] (A stored [k, m] if trans_a), op(B) is [k, n] (B stored [n, k] if trans_b).
// Accumulation is F32; F32 operands compute in true F32 (no TF32).
//
// Dtypes, checked by gemm(): A and B are F32 or BF16 and share one (cuBLASLt mixes operand dtypes only in FP8
// products); C is F32 for F32 operands, and BF16 or F32 for BF16 ones (a BF16 product may accumulate into
// an F32 C, as weight gradients do); bias has C's dtype. FP8 dtypes, scales and amax are refused until FP8
// products are implemented (nn/linear_precision.h says how they will be used).
struct Gemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  GemmOperand a, b;
  GemmOutput c;
  const void* c_in = nullptr;
  float alpha = 1, beta = 0;
  const void* bias = nullptr;
};

// Throws, naming the operand, unless g's dtypes, scales and amax are ones gemm() runs (see Gemm).
void check_gemm(const Gemm& g);

// Enqueues g's product on `stream` (after check_gemm).
void gemm(const Gemm& g, cudaStream_t stream);

// db[cols] (F32) += column sums of dy [rows, cols] (dtype act), the bias gradient; db = the sums when not
// accumulate.
void column_sum(DType act, float* db, const void* dy, int64_t rows, int64_t cols, bool accumulate,
                cudaStream_t stream);

}  // namespace strand::cuda
