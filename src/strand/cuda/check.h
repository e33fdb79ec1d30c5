// Errors of the CUDA runtime as strand::Error, for every layer that calls it directly.
#pragma once

#include <cuda_runtime.h>

namespace strand::cuda {

// Throws strand::Error naming `what` if status is not cudaSuccess.
void check_cuda(cudaError_t status, const char* what);
// Throws strand::Error naming `what` if the last launch failed (no synchronisation).
void check_launch(const char* what);

}  // namespace strand::cuda
