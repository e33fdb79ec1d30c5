// Parameters: a named value with its gradient, the unit that checkpoints, optimizers and HF interop address.
#pragma once

#include "strand/core/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace strand::nn {

struct Parameter {
  std::string
      name;      // canonical name, the HF one where a HF model exists ("model.layers.0.mlp.up_proj.weight")
  Tensor value;  // master weights
  Tensor grad;   // same shape and dtype; backward passes accumulate into it
  bool decay = true;       // weight decay applies (false for norm weights and biases)
  bool embedding = false;  // a token embedding table (recipes may exclude these from weight decay)

  // Allocates value and a zeroed grad.
  Parameter(std::string parameter_name, const Shape& shape, DType dtype, bool weight_decay);
};

using ParameterList = std::vector<Parameter*>;

// value ~ N(0, std^2), drawn from Philox stream `stream` of `seed`: the same values on any machine or thread
// count.
void init_normal(Parameter& p, uint64_t seed, uint64_t stream, double std);
void init_constant(Parameter& p, double value);
void zero_grads(const ParameterList& params);

}  // namespace strand::nn
