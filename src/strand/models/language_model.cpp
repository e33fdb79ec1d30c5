#include "strand/models/language_model.h"

#include "strand/ops/precision.h"

namespace strand {

Tensor lm_loss_accumulate(LanguageModel& model, Arena& arena, const LMBatch& batch, double grad_normaliser,
                          const Tensor& sums) {
  const Tensor logits = model.forward(arena, batch.tokens, batch.layout);
  const int64_t tokens = batch.tokens.numel();
  const DType stats = statistics_dtype(logits);
  const Tensor losses = Tensor::from_arena(arena, {tokens}, stats);
  const Tensor lse = Tensor::from_arena(arena, {tokens}, stats);
  cross_entropy_forward(losses, lse, sums, logits, batch.labels, batch.loss_weights);
  if (grad_normaliser > 0) {
    const Tensor dlogits = Tensor::from_arena(arena, logits.shape(), logits.dtype());
    cross_entropy_backward(dlogits, logits, batch.labels, batch.loss_weights, lse, 1.0 / grad_normaliser);
    model.backward(arena, dlogits);
  }
  return logits;
}

LossResult lm_loss(LanguageModel& model, Arena& arena, const LMBatch& batch, double grad_normaliser) {
  const Tensor sums = Tensor::zeros({3}, DType::F64, model.device());
  LossResult r;
  r.logits = lm_loss_accumulate(model, arena, batch, grad_normaliser, sums);
  const Tensor host = sums.to(Device::cpu());
  r.sums.loss_sum = host.data<double>()[0];
  r.sums.weight_sum = host.data<double>()[1];
  r.sums.tokens = static_cast<int64_t>(host.data<double>()[2]);
  return r;
}

}  // namespace strand
