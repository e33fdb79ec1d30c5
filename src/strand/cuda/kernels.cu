#include "strand/core/error.h"
#include "strand/core/philox.h"
#include "strand/cuda/kernels.h"

#include <cuda_runtime.h>

#include <string>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;

// Messages are built without fmt here: nvcc cannot evaluate fmt's compile-time format checks.
void check_launch(const char* what) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess) status = cudaDeviceSynchronize();
  if (status != cudaSuccess)
    throw Error(std::string("CUDA kernel ") + what + " failed: " + cudaGetErrorString(status));
}

unsigned blocks_for(size_t n) {
  return static_cast<unsigned>((n + kThreads - 1) / kThreads);
}

// One element per thread; narrow formats are written as their raw bits.
template <typename Out, typename Convert>
__global__ void convert_kernel(Out* dst, const float* src, size_t n, Convert convert) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = convert(src[i]);
}

__global__ void philox_normal_kernel(float* dst, size_t n, uint64_t seed, uint64_t stream) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = philox_normal(seed, stream, i);
}

__global__ void philox_bits_kernel(uint32_t* dst, size_t n, uint64_t seed, uint64_t stream) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = philox_bits(seed, stream, i);
}

template <typename Out, typename Convert>
void launch_convert(void* dst, const float* src, size_t n, Convert convert) {
  if (n == 0) return;
  convert_kernel<<<blocks_for(n), kThreads>>>(static_cast<Out*>(dst), src, n, convert);
  check_launch("convert_from_f32");
}

}  // namespace

void convert_from_f32(void* dst, DType dst_dtype, const float* src, size_t n, bool saturate) {
  switch (dst_dtype) {
    case DType::F32:
      launch_convert<float>(dst, src, n, [] __device__(float x) { return x; });
      return;
    case DType::BF16:
      launch_convert<uint16_t>(dst, src, n,
                               [saturate] __device__(float x) { return f32_to_bf16(x, saturate); });
      return;
    case DType::F16:
      launch_convert<uint16_t>(dst, src, n,
                               [saturate] __device__(float x) { return f32_to_f16(x, saturate); });
      return;
    case DType::F8E4M3:
      launch_convert<uint8_t>(dst, src, n,
                              [saturate] __device__(float x) { return f32_to_f8e4m3(x, saturate); });
      return;
    case DType::F8E5M2:
      launch_convert<uint8_t>(dst, src, n,
                              [saturate] __device__(float x) { return f32_to_f8e5m2(x, saturate); });
      return;
    default:
      throw Error("convert_from_f32: unsupported destination dtype " + std::string(dtype_name(dst_dtype)));
  }
}

void philox_normal_fill(float* dst, size_t n, uint64_t seed, uint64_t stream) {
  if (n == 0) return;
  philox_normal_kernel<<<blocks_for(n), kThreads>>>(dst, n, seed, stream);
  check_launch("philox_normal_fill");
}

void philox_bits_fill(uint32_t* dst, size_t n, uint64_t seed, uint64_t stream) {
  if (n == 0) return;
  philox_bits_kernel<<<blocks_for(n), kThreads>>>(dst, n, seed, stream);
  check_launch("philox_bits_fill");
}

}  // namespace strand::cuda
