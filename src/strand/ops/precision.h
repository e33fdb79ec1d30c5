// Which dtype goes with which tensor of an op (see ops/README.md): on the CPU every float tensor of an op
// shares one dtype; on CUDA, statistics (rstd, lse, losses) and parameter gradients stay F32 whatever the
// activations.
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// The dtype of statistics and parameter gradients for activations of dtype `activation` on `device`.
inline DType statistics_dtype(Device device, DType activation) {
  return device.type == DeviceType::CPU ? activation : DType::F32;
}
inline DType statistics_dtype(const Tensor& activation) {
  return statistics_dtype(activation.device(), activation.dtype());
}

}  // namespace strand
