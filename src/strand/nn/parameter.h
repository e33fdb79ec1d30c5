// Parameters: a named value with its gradient, the unit that checkpoints, optimizers and HF interop address.
#pragma once

#include "strand/core/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace strand::nn {

// Where a model lives and in which precisions. Master weights and gradients are `master` (F32, or F64 for
// gradient checks on the CPU); activations and the copies of the weights that kernels read are `compute`.
// On the CPU the two are the same; on CUDA the usual pair is F32 masters with BF16 compute copies.
struct Placement {
  Device device;
  DType master = DType::F32;
  DType compute = DType::F32;

  Placement(DType dtype = DType::F32) : master(dtype), compute(dtype) {}  // NOLINT: a CPU dtype converts
  // On the calling thread's current CUDA device (select_device, core/device_memory.h).
  static Placement cuda(DType compute_dtype = DType::BF16);
  bool has_compute_copy() const { return compute != master; }
};

struct Parameter {
  std::string
      name;        // canonical name, the HF one where a HF model exists ("model.layers.0.mlp.up_proj.weight")
  Tensor value;    // master weights
  Tensor grad;     // same shape and dtype; backward passes accumulate into it
  Tensor compute;  // the compute-precision copy kernels read, when the placement has one (else undefined)
  bool decay = true;       // weight decay applies (false for norm weights and biases)
  bool embedding = false;  // a token embedding table (recipes may exclude these from weight decay)

  // Allocates value, a zeroed grad and (if the placement has one) the compute copy.
  Parameter(std::string parameter_name, const Shape& shape, const Placement& placement, bool weight_decay);
  // A parameter over storage shared with others: value, grad and compute (undefined if none) are views, e.g.
  // one projection's rows of a fused weight that a single product reads and accumulates into.
  Parameter(std::string parameter_name, Tensor value_view, Tensor grad_view, Tensor compute_view,
            bool weight_decay);

  // The tensor forward and backward passes read.
  const Tensor& weight() const { return compute.defined() ? compute : value; }
};

using ParameterList = std::vector<Parameter*>;

// value ~ N(0, std^2), drawn from Philox stream `stream` of `seed`: the same values on any machine, device or
// thread count. Both refresh the compute copy.
void init_normal(Parameter& p, uint64_t seed, uint64_t stream, double std);
void init_constant(Parameter& p, double value);
// Sets value from a tensor of its shape on any device (converting the dtype on the host) and refreshes the
// compute copy.
void assign(Parameter& p, const Tensor& src);
// Re-derives each compute copy from its master value (after loading or changing values directly).
void refresh_compute(const ParameterList& params);
void zero_grads(const ParameterList& params);

}  // namespace strand::nn
