// Timed choice among a product's candidate algorithms, restricted to those whose results are bit-identical
// to the first candidate's, so that tuning changes how fast a product runs but never what it computes.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>

namespace strand::cuda {

// run(i, out) enqueues candidate i on `stream`, writing its whole result (out_bytes) to `out` and nothing
// else. Each candidate runs once into a trial buffer whose bytes are then fingerprinted; candidates whose
// fingerprint differs from candidate 0's are dropped (split-K and similar schemes sum in another order).
// The rest are timed, the fastest of them returned (the lowest index on a tie). Synchronises the stream.
// Returns 0 without running anything when count < 2 or the trial buffer cannot be allocated.
int fastest_identical_candidate(int count, size_t out_bytes, const std::function<void(int, void*)>& run,
                                cudaStream_t stream);

}  // namespace strand::cuda
