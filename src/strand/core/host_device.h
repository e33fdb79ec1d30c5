// STRAND_HD marks functions compiled for both the host and CUDA devices, so the CPU reference and the CUDA
// kernels share one definition of bit-exact arithmetic (dtype rounding, Philox).
#pragma once

#if defined(__CUDACC__)
#define STRAND_HD __host__ __device__ __forceinline__
#else
#define STRAND_HD inline
#endif
