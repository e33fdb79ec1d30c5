// Where one training process meets the others of a data-parallel run. In a single process every operation
// is the identity (LocalGradientSync); a communicator (NCCL across GPUs) implements the same interface, and
// the trainer calls it at the same points whatever the world size:
//
//   global_sum      the step's loss normaliser (its label weight summed over every rank's micro-batches)
//                   and the logged loss sums, so that every rank scales its gradients alike;
//   gradients_ready from the backward of a step's last micro-batch, as soon as a block's parameter gradients
//                   are final (LanguageModel::set_gradients_ready): a communicator starts reducing them
//                   there, overlapping the reduction with the rest of the backward;
//   finish          before the optimizer reads the gradients: every reduction has completed;
//   any             the stop decision (a signal, train.stop_at_step), taken by every rank together so that
//                   no rank waits in a collective that the others have left.
#pragma once

#include "strand/nn/parameter.h"

#include <memory>

namespace strand {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual int world_size() const = 0;
  virtual int rank() const = 0;
  // The sum of `local` over every rank.
  virtual double global_sum(double local) = 0;
  // True on every rank when `local` is true on any.
  virtual bool any(bool local) = 0;
  // The gradients of `params` are final for this step (each parameter is reported once per step).
  virtual void gradients_ready(const nn::ParameterList& params) = 0;
  // Returns once every gradient reported so far holds its reduced value.
  virtual void finish() = 0;
};

// One process: nothing to exchange.
class LocalGradientSync final : public GradientSync {
 public:
  int world_size() const override { return 1; }
  int rank() const override { return 0; }
  double global_sum(double local) override { return local; }
  bool any(bool local) override { return local; }
  void gradients_ready(const nn::ParameterList&) override {}
  void finish() override {}
};

}  // namespace strand
