// Parameters: a named value with its gradient, the unit that checkpoints, optimizers and HF interop address.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/grad_write.h"

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
  Tensor grad;     // same shape and dtype; backward passes accumulate into it (see Note [Pending zero])
  Tensor compute;  // the compute-precision copy kernels read, when the placement has one (else undefined)
  bool decay = true;       // weight decay applies (false for norm weights and biases)
  bool embedding = false;  // a token embedding table (recipes may exclude these from weight decay)
  // grad is logically zero while its memory still holds an earlier step's values: the next backward write
  // assigns it (claim_grad). Set by defer_zero_grads, cleared by claim_grad and flush_pending_zero_grads.
  bool grad_pending_zero = false;

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
// Writes zeros to every gradient now (none is left pending).
void zero_grads(const ParameterList& params);

// Note [Pending zero]
// A step's gradients start at zero, but writing those zeros (on the GPU 2.6 GB for ESM-2 650M, about 1 ms of
// an H100's step) is wasted when the first backward write can assign instead of add: a weight-gradient
// product with beta 0 also skips reading the F32 gradient. So the optimizer's zero_grads only marks the
// gradients pending zero (defer_zero_grads), and the module that writes a parameter gradient asks claim_grad
// how to write it, right before the op, passing the answer to the op (ops/grad_write.h). The first claim of a
// step says assign; later ones (more micro-batches, the second user of a tied weight) say accumulate.
// Whatever is still pending when gradients are read (the optimizer step, before the norm) is zeroed then by
// flush_pending_zero_grads: a parameter that received no gradient this step.

// Marks every gradient pending zero; nothing is written.
void defer_zero_grads(const ParameterList& params);
// How the op about to write p.grad (every element of it) writes it: assign if pending zero, which claims it
// (no longer pending), else accumulate.
GradWrite claim_grad(Parameter& p);
// The same for an op writing one buffer that the gradients of `parts` tile exactly (a fused projection's
// weight gradient): assign when every part is pending, which claims them all; otherwise the pending parts are
// zeroed now (claimed) and the op accumulates.
GradWrite claim_grads(const std::vector<Parameter*>& parts);
// Zeroes the gradients still pending (on their device, without a host round trip) and clears the flags.
void flush_pending_zero_grads(const ParameterList& params);

}  // namespace strand::nn
