// Token embedding module, with PyTorch's padding_idx semantics (that row starts at zero and gets no
// gradient).
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"

namespace strand::nn {

class Embedding {
 public:
  Embedding(const std::string& prefix, int64_t vocab, int64_t width, int64_t padding_idx,
            const Placement& placement);
  // tokens [T] I32 -> [T, C]; tokens must stay valid until backward.
  Tensor forward(Arena& arena, const Tensor& tokens);
  void backward(const Tensor& dy);
  void collect(ParameterList& out) { out.push_back(&weight_); }
  Parameter& weight() { return weight_; }
  // Draws N(0, std^2) and zeroes the padding row.
  void init(uint64_t seed, uint64_t stream, double std);

 private:
  Parameter weight_;
  int64_t padding_idx_;
  Tensor tokens_;
};

}  // namespace strand::nn
