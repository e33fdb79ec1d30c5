// Deferred zeroing of gradients: a step's gradients start at zero, but writing those zeros (on the GPU, 2.6
// GB for ESM-2 650M, about 1 ms of an H100's step) is wasted when the first backward write could assign
// instead of accumulate. AdamW::zero_grads on CUDA therefore only marks the gradients as pending zero here,
// and the GPU paths of the ops that accumulate into gradients ask accumulate_into before writing:
//
//   linear_backward (dw, db), layernorm_backward (dw, db), rmsnorm_backward (dw) overwrite a gradient that
//   is wholly pending (a product with beta 0 also skips reading it), which leaves the pending set;
//   embedding_backward writes only the rows of the tokens it sees, so a pending table is zeroed first.
//
// Whatever is still pending when the gradients are read (AdamW::step, before the norm) is zeroed then: a
// parameter that received no gradient this step. A new op that accumulates into parameter gradients on the
// GPU must call accumulate_into; a direct reader of gradients calls flush_deferred_zeros first, or it sees
// the last step's values. Regions are byte ranges of contiguous tensors, so a fused projection's gradient is
// overwritten whole when the views of all its parameters are pending.
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// Marks t (contiguous) as logically zero until claimed or flushed. Pending regions it contains are merged
// into it; pending regions it overlaps only in part are zeroed now.
void defer_zero(const Tensor& t);

// Called by an op before it adds into grad (contiguous). When the op writes every element of grad and grad is
// wholly covered by pending regions, these are dropped and false is returned: the op assigns. Otherwise
// pending regions overlapping grad are zeroed now and true is returned: the op accumulates.
bool accumulate_into(const Tensor& grad, bool writes_every_element);

// Zeroes every pending region (on its device, without a host round trip) and empties the set.
void flush_deferred_zeros();

// Bytes pending zero, for tests.
size_t deferred_zero_bytes();

}  // namespace strand
