#include "strand/cuda/check.h"

#include "strand/core/error.h"

#include <string>

namespace strand::cuda {

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw Error(std::string("CUDA ") + what + " failed: " + cudaGetErrorString(status));
}

void check_launch(const char* what) {
  check_cuda(cudaGetLastError(), what);
}

}  // namespace strand::cuda
