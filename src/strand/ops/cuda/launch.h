// Shared conventions of the CUDA launchers in this directory (ops/cuda/*.h).
//
// The device-neutral entry points (ops/*.cpp) validate shapes, dtypes and devices and then call these with
// raw device pointers, so nothing here re-checks arguments. Every launcher enqueues work on `stream` and
// returns without synchronising; launch errors are thrown as strand::Error by check_launch (cuda/check.h).
//
// Element types: `act` is the dtype of activations and of the compute copies of weights, F32 or BF16;
// statistics (rstd, lse, losses) and parameter gradients are always F32, and arithmetic is F32 throughout.
// Row-major matrices take a leading dimension (elements between rows) where views into fused buffers need
// one.
#pragma once

#include "strand/core/dtype.h"
#include "strand/cuda/check.h"

#include <cuda_runtime.h>

#include <cstdint>
