// Per-sequence and per-residue embeddings: a model's representation of each record at a chosen layer, the
// records packed into batches (record_batches.h). A residue is a token of the sequence itself: BOS/<cls> and
// EOS/<eos> are left out of both the per-residue rows and the mean.
#pragma once

#include "strand/infer/record_batches.h"
#include "strand/models/language_model.h"

#include <functional>

namespace strand::infer {

enum class Pooling { Mean, PerResidue };

struct EmbedOptions {
  int64_t layer =
      -1;  // in [0, num_layers]; negative counts from the end (-1: the last, after the final norm)
  Pooling pooling = Pooling::Mean;
  RecordBatchOptions batching;
};

struct RecordEmbedding {
  std::string id;
  int64_t residues = 0;
  bool truncated = false;
  Tensor values;  // F32 on the host: [hidden] (mean) or [residues, hidden] (per residue)
};

// Embeds every record of `reader` in input order, calling `emit` once per record. The batches are uploaded to
// the model's device; the representations come back as F32.
RecordBatchSummary embed_records(LanguageModel& model, const data::Tokenizer& tokenizer,
                                 data::RecordReader& reader, const EmbedOptions& options,
                                 const std::function<void(RecordEmbedding&)>& emit);

}  // namespace strand::infer
