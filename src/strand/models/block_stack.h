// A model's stack of residual blocks, run in order, with per-block activation recompute and a backward pass
// that frees each block's temporaries as soon as the block is done.
//
// Block must offer: Tensor forward(Arena&, const Tensor& h, const SeqLayout&); void backward(Arena&, const
// Tensor& dh, const Tensor& out) writing the gradient at its input to `out`; void
// collect(nn::ParameterList&).
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/packed.h"

#include <array>
#include <functional>
#include <memory>
#include <vector>

namespace strand {

template <typename Block>
class BlockStack {
 public:
  void add(std::unique_ptr<Block> block) { blocks_.push_back(std::move(block)); }
  size_t size() const { return blocks_.size(); }
  Block& operator[](size_t i) { return *blocks_[i]; }

  // The first `layers` blocks keep only their input and run their forward again in the backward pass.
  void set_recompute_layers(int64_t layers) { recompute_layers_ = layers; }

  // h [T, C] through blocks [0, count) (all by default), saving what the backward needs in the arena.
  Tensor forward(Arena& arena, Tensor h, const SeqLayout& layout, size_t count = SIZE_MAX) {
    count = std::min(count, blocks_.size());
    layout_ = layout;
    inputs_.assign(blocks_.size(), Tensor());
    for (size_t i = 0; i < count; ++i) {
      inputs_[i] = h;
      if (recomputed(i)) {
        // Only the output outlives the block's forward; the backward runs the forward again.
        const Tensor out = Tensor::from_arena(arena, h.shape(), h.dtype());
        const Arena::Mark mark = arena.mark();
        copy(out, blocks_[i]->forward(arena, h, layout));
        arena.release(mark);
        h = out;
      } else {
        h = blocks_[i]->forward(arena, h, layout);
      }
    }
    return h;
  }

  // dh [T, C] at the output of the last forward (over every block) -> the gradient at its input. Each
  // block's parameters are reported to `ready` (when set) as soon as its backward is done.
  Tensor backward(Arena& arena, const Tensor& dh_out,
                  const std::function<void(const nn::ParameterList&)>& ready = {}) {
    // The gradient between blocks alternates between two buffers, so each block's backward temporaries (and
    // a recomputed block's activations) are released as soon as the block is done: the backward needs one
    // block's worth of scratch, not all of them. The last block reads dh_out where it is.
    const std::array<Tensor, 2> carry = {Tensor::from_arena(arena, dh_out.shape(), dh_out.dtype()),
                                         Tensor::from_arena(arena, dh_out.shape(), dh_out.dtype())};
    Tensor dh = dh_out;
    for (size_t i = blocks_.size(); i-- > 0;) {
      const Arena::Mark mark = arena.mark();
      if (recomputed(i)) blocks_[i]->forward(arena, inputs_[i], layout_);
      const Tensor& next = carry[(blocks_.size() - i) % 2];
      blocks_[i]->backward(arena, dh, next);
      arena.release(mark);
      if (ready) {
        nn::ParameterList params;
        blocks_[i]->collect(params);
        ready(params);
      }
      dh = next;
    }
    return dh;
  }

  void collect(nn::ParameterList& out) {
    for (auto& b : blocks_) b->collect(out);
  }

 private:
  bool recomputed(size_t i) const { return static_cast<int64_t>(i) < recompute_layers_; }

  std::vector<std::unique_ptr<Block>> blocks_;
  int64_t recompute_layers_ = 0;
  SeqLayout layout_;            // of the last forward, for recomputation
  std::vector<Tensor> inputs_;  // of the last forward, for recomputation
};

}  // namespace strand
