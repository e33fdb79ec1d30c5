// Records of a sequence file, tokenised and grouped into packed batches for inference (scoring, embedding).
//
// Each record becomes BOS + tokenizer(sequence) + EOS (BOS/EOS where the tokenizer has them; <cls>/<eos> for
// ESM). Consecutive records are grouped in input order while their tokens fit a budget; a record longer than
// the budget makes a batch of its own.
#pragma once

#include "strand/data/record_reader.h"
#include "strand/data/tokenizer.h"
#include "strand/infer/sequence_alphabet.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strand::infer {

struct TokenizedRecord {
  std::string id;
  uint64_t line = 0;            // where the record starts in its file
  std::vector<int32_t> tokens;  // BOS/EOS included
  int64_t residues = 0;         // tokens of the sequence itself (after any truncation)
  bool truncated = false;
};

struct RecordBatchOptions {
  int64_t batch_tokens = 16384;  // > 0
  int64_t max_positions = 0;     // the model's limit on a record's tokens; 0: none
  // A record over max_positions is cut to its first residues (BOS/EOS kept) instead of being an error.
  bool truncate = false;
};

struct RecordBatchSummary {
  int64_t records = 0;
  int64_t tokens = 0;
  int64_t batches = 0;
  int64_t truncated = 0;
  uint64_t unknown = 0;          // characters outside the tokenizer's vocabulary (encoded as UNK)
  InputComposition composition;  // DNA or protein, record by record
};

// Reads every record of `reader` and calls `run` with each batch, in input order. A record over
// max_positions (without `truncate`) is an error naming the file, line and record.
RecordBatchSummary for_each_record_batch(const data::Tokenizer& tokenizer, data::RecordReader& reader,
                                         const RecordBatchOptions& options,
                                         const std::function<void(std::vector<TokenizedRecord>&)>& run);

}  // namespace strand::infer
