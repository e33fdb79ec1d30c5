// Timed choice among a product's candidate algorithms, restricted to those whose results are bit-identical
// to the first candidate's, so that tuning changes how fast a product runs but never what it computes.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>

namespace strand::cuda {

// The trial buffer a result of out_bytes needs: the result rounded up to 256 bytes (whole fingerprint
// words, the padding zeroed), followed by kTrialSumBytes for the fingerprint's accumulator. Callers own the
// buffer, so tuning, which runs inside a steady step, allocates nothing.
inline constexpr size_t kTrialSumBytes = sizeof(unsigned long long);
constexpr size_t trial_result_bytes(size_t out_bytes) {
  return (out_bytes + 255) / 256 * 256;
}

// run(i, out) enqueues candidate i on `stream`, writing its whole result to `out` and nothing else. Each
// candidate runs once into `trial` (result_bytes = trial_result_bytes(out_bytes), then the accumulator)
// whose bytes are then fingerprinted; candidates whose fingerprint differs from candidate 0's are dropped
// (split-K and similar schemes sum in another order). The rest are timed, the fastest of them returned (the
// lowest index on a tie). Synchronises the stream. Returns 0 without running anything when count < 2.
int fastest_identical_candidate(int count, void* trial, size_t result_bytes,
                                const std::function<void(int, void*)>& run, cudaStream_t stream);

}  // namespace strand::cuda
