// How an op writes a parameter gradient: the caller, which knows whether this is the step's first write to
// it, says so explicitly (nn::claim_grad decides it for the modules).
#pragma once

namespace strand {

enum class GradWrite {
  assign,      // grad = this call's gradient: the first write of a step, over memory whose contents are stale
  accumulate,  // grad += this call's gradient: a later micro-batch, or a tied weight's second user
};

}  // namespace strand
