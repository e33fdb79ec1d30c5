// Checks every language model must pass on its own terms, shared by the model tests: finite-difference
// gradients of the whole model in double precision, packing that changes nothing, and activation recompute
// that changes nothing.
#pragma once

#include "strand/models/language_model.h"

#include "ops/gradcheck.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

namespace strand::testing {

// Central differences of loss_sum / normaliser against the backward, for a spread of entries of every
// parameter (all of the small ones). REQUIRES: an F64 model on the CPU.
inline void expect_gradients_match_finite_differences(LanguageModel& model, const LMBatch& batch,
                                                      double normaliser) {
  Arena arena;
  lm_loss(model, arena, batch, normaliser);
  auto loss = [&] {
    arena.reset();
    return lm_loss(model, arena, batch).sums.loss_sum / normaliser;
  };
  for (nn::Parameter* p : model.parameters()) {
    SCOPED_TRACE(p->name);
    const int64_t count = p->value.numel();
    const int64_t stride = std::max<int64_t>(1, count / 24);
    double* v = p->value.data<double>();
    double err = 0, ref = 1e-12;
    for (int64_t i = 0; i < count; i += stride) {
      const double saved = v[i];
      v[i] = saved + 1e-6;
      const double up = loss();
      v[i] = saved - 1e-6;
      const double down = loss();
      v[i] = saved;
      const double numeric = (up - down) / 2e-6;
      err = std::max(err, std::abs(numeric - p->grad.item(i)));
      ref = std::max(ref, std::abs(numeric));
    }
    EXPECT_LT(err / ref, 1e-6) << p->name;
    EXPECT_GT(ref, 1e-8) << p->name << ": zero gradient proves nothing";
  }
}

// The logits of sequences packed into one batch equal those of each sequence run alone.
inline void expect_packed_equals_alone(LanguageModel& model,
                                       const std::vector<std::vector<int32_t>>& sequences) {
  Arena arena;
  const LMBatch all = LMBatch::from_sequences(sequences);
  const Tensor packed = model.forward(arena, all.tokens, all.layout).clone();
  int64_t offset = 0;
  for (const auto& s : sequences) {
    arena.reset();
    const LMBatch one = LMBatch::from_sequences({s});
    const Tensor alone = model.forward(arena, one.tokens, one.layout);
    const Tensor slice = packed.narrow(0, offset, static_cast<int64_t>(s.size())).contiguous();
    EXPECT_LT(max_rel_error(alone, slice), 1e-13);
    offset += static_cast<int64_t>(s.size());
  }
}

// Recomputing blocks in the backward pass must reproduce the stored activations exactly: the same loss and
// bit-identical gradients, whichever blocks recompute. `make` builds the same F64 model each call.
inline void expect_recompute_changes_nothing(const std::function<std::unique_ptr<LanguageModel>()>& make,
                                             const LMBatch& batch) {
  std::vector<std::vector<double>> grads;
  for (int64_t recompute : {0, 1, 5}) {
    const std::unique_ptr<LanguageModel> model = make();
    model->set_recompute_layers(recompute);
    Arena arena(64);  // small, so blocks chain and released spans are reused
    const LossResult r = lm_loss(*model, arena, batch, 3.0);
    std::vector<double> all{r.sums.loss_sum};
    for (nn::Parameter* p : model->parameters())
      all.insert(all.end(), p->grad.data<double>(), p->grad.data<double>() + p->grad.numel());
    grads.push_back(std::move(all));
  }
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_EQ(grads[0], grads[2]);
}

}  // namespace strand::testing
