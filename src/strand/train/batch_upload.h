// BatchUploader: micro-batches onto the model's device without allocating or synchronising in a steady step.
//
// LMBatch::to allocates every tensor of every batch, and each cudaMalloc and cudaFree synchronises the
// device. On a GPU the uploader instead checks the host batch (LMBatch::check_ids), packs its tokens, labels,
// loss weights (converted to the statistics dtype), cu_seqlens and positions into pinned staging memory, and
// copies them with one cudaMemcpyAsync on the ops stream (cuda::stream()) into a device buffer sized once for
// the largest micro-batch. The returned batch's tensors are views into that buffer.
//
// Two slots, used in turn, keep reuse safe. The host waits for the copy that last read a staging slot (its
// event) before packing into it again, which in a step blocks only when the host runs two micro-batches ahead
// of the GPU. A device slot is rewritten by a copy on the ops stream, which runs after every kernel enqueued
// before it: a batch stays valid for the work enqueued before the second upload after it.
// A batch larger than the buffer (a recipe change, a longer evaluation batch) grows both, counted as
// allocations (core/device_memory.h); batches already returned keep their old buffer alive.
//
// On the CPU, upload() is LMBatch::to: the host batch itself, loss weights converted when needed.
#pragma once

#include "strand/data/lm_batcher.h"
#include "strand/models/language_model.h"

#include <array>
#include <cstdint>
#include <memory>

namespace strand {

// The most tokens and sequences one micro-batch of `batch` holds: packed, the token budget (each sequence at
// least one token); padded, `sequences` rows of max_length, each two sequences of the layout (Note [Padded
// encoder rows], data/lm_batcher.h).
struct BatchCapacity {
  int64_t tokens = 0, sequences = 0;
};
BatchCapacity largest_micro_batch(const data::BatchOptions& batch);

class BatchUploader {
 public:
  // Uploads to `device` (which, for CUDA, must be the current device when upload() runs), loss weights as
  // `weight_dtype`, ids checked against [0, vocab_size). On a GPU, sizes the buffers for `capacity` now.
  BatchUploader(Device device, DType weight_dtype, int64_t vocab_size, BatchCapacity capacity);
  ~BatchUploader();
  BatchUploader(const BatchUploader&) = delete;
  BatchUploader& operator=(const BatchUploader&) = delete;

  // `host`'s copy on the device (see above for how long it stays valid). REQUIRES: a host batch with I32
  // tokens and labels and F32 or `weight_dtype` loss weights (or none).
  LMBatch upload(const LMBatch& host);

 private:
  struct Slots;  // the staging and device buffers, their events
  Device device_;
  DType weight_dtype_;
  int64_t vocab_size_;
  std::unique_ptr<Slots> slots_;  // null on the CPU
};

}  // namespace strand
