// Feed-forward block with biases and exact-erf GELU (ESM-2, BERT): out(gelu(in(x))).
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/linear.h"

namespace strand::nn {

class GeluMLP {
 public:
  // in_name, out_name: the two projections' prefixes (ESM-2: <layer>.intermediate.dense,
  // <layer>.output.dense).
  GeluMLP(const std::string& in_name, const std::string& out_name, int64_t hidden, int64_t ffn,
          const Placement& placement);
  // [T, hidden] -> [T, hidden], plus residual when given (added by the output projection).
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& residual = Tensor());
  Tensor backward(Arena& arena, const Tensor& dy);
  void collect(ParameterList& out);

 private:
  Linear in_, out_;
  Tensor pre_activation_;
};

}  // namespace strand::nn
