// Internal to the CUDA kernels: finding a token's sequence in a packed (THD) batch on the device.
#pragma once

#include <cstdint>

namespace strand::cuda {

// The sequence s with cu_seqlens[s] <= token < cu_seqlens[s + 1] (binary search over cu_seqlens [num_seqs +
// 1]); empty sequences never qualify.
__device__ inline int64_t sequence_of(const int32_t* cu_seqlens, int64_t num_seqs, int64_t token) {
  int64_t lo = 0, hi = num_seqs;  // cu_seqlens[lo] <= token < cu_seqlens[hi]
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (cu_seqlens[mid] <= token) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace strand::cuda
