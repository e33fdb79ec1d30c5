// Log-likelihood scoring of sequence files with a causal (next-token) LM.
//
// Each record's tokens are BOS + tokenizer(sequence) + EOS (BOS/EOS where the tokenizer has them), and its
// score is the sum of the natural-log probabilities of every token after the first given the ones before it
// (the residues and EOS), plus their mean. For throughput, consecutive records are packed into one forward
// batch (packed.h) up to a token budget; packing changes nothing, since no attention or label crosses a
// sequence boundary.
#pragma once

#include "strand/data/record_reader.h"
#include "strand/data/tokenizer.h"
#include "strand/infer/sequence_alphabet.h"
#include "strand/models/language_model.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strand::infer {

struct ScoreOptions {
  // Tokens per packed forward (> 0). Records are batched in input order while they fit; a record longer than
  // the budget runs alone.
  int64_t batch_tokens = 16384;
};

struct SequenceScore {
  std::string id;
  int64_t length = 0;       // tokens of the sequence without BOS/EOS (its residues, for one-character tokens)
  int64_t predicted = 0;    // tokens scored: every token after the first
  double sum_logprob = 0;   // natural log
  double mean_logprob = 0;  // sum_logprob / predicted; NaN when nothing is predicted
};

struct ScoreSummary {
  int64_t records = 0;
  int64_t tokens = 0;            // tokens run through the model
  int64_t batches = 0;           // packed forwards
  uint64_t unknown = 0;          // characters outside the tokenizer's vocabulary (scored as UNK)
  InputComposition composition;  // DNA or protein, record by record
};

// Sum of next-token log-probabilities of each sequence (every token after its first), all sequences packed
// into one forward. Sequences of one token score 0; an empty one is an error. The arena is reset first.
std::vector<double> sequence_logprobs(LanguageModel& model, Arena& arena,
                                      const std::vector<std::vector<int32_t>>& sequences);

// Scores every record of `reader`, calling `emit` once per record in input order. A record with more tokens
// than model.max_positions() (when bounded) is an error naming the file, line and record.
ScoreSummary score_records(LanguageModel& model, const data::Tokenizer& tokenizer, data::RecordReader& reader,
                           const ScoreOptions& options,
                           const std::function<void(const SequenceScore&)>& emit);

// TSV output: the header line "id\tlength\tsum_logprob\tmean_logprob\n" and one row per record (tabs, line
// breaks and backslashes in the id escaped as \t \n \r \\).
std::string score_tsv_header();
// A TSV field with tabs, line breaks and backslashes escaped as \t \n \r \\.
std::string escape_tsv_field(const std::string& s);
std::string score_tsv_row(const SequenceScore& score);

}  // namespace strand::infer
