// Fingerprints are order-independent sums of mixed 64-bit words (each 32-bit word mixed with its index), so
// per-thread partial sums combine in any order and the fingerprint is deterministic. Equal bytes give equal
// fingerprints; a difference changes the fingerprint with overwhelming likelihood.
#include "strand/ops/cuda/fingerprint.h"

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocks = 264;  // two per SM on an H100; the sums are bandwidth-bound

__device__ uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Adds each thread's sum of mixed (index, word) pairs over `count` 32-bit words to *out.
__global__ void fingerprint_kernel(const uint32_t* words, size_t count, unsigned long long* out) {
  uint64_t sum = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    sum += mix((static_cast<uint64_t>(i) << 32) ^ words[i]);
  atomicAdd(out, static_cast<unsigned long long>(sum));
}

}  // namespace

uint64_t fingerprint(const void* data, size_t bytes, unsigned long long* sum, cudaStream_t stream) {
  check_cuda(cudaMemsetAsync(sum, 0, sizeof(*sum), stream), "fingerprint: clear");
  fingerprint_kernel<<<kBlocks, kThreads, 0, stream>>>(static_cast<const uint32_t*>(data), bytes / 4, sum);
  check_launch("fingerprint");
  unsigned long long host = 0;
  check_cuda(cudaMemcpyAsync(&host, sum, sizeof(host), cudaMemcpyDeviceToHost, stream), "fingerprint: read");
  check_cuda(cudaStreamSynchronize(stream), "fingerprint");
  return host;
}

}  // namespace strand::cuda
