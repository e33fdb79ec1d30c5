#include "strand/infer/score.h"

#include "strand/core/arena.h"
#include "strand/core/json.h"
#include "strand/infer/record_batches.h"
#include "strand/ops/loss.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace strand::infer {
namespace {}  // namespace

std::string escape_tsv_field(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> sequence_logprobs(LanguageModel& model, Arena& arena,
                                      const std::vector<std::vector<int32_t>>& sequences) {
  for (size_t i = 0; i < sequences.size(); ++i)
    STRAND_CHECK(!sequences[i].empty(), "scoring: sequence {} of the batch has no tokens", i);
  std::vector<double> sums(sequences.size(), 0.0);
  if (sequences.empty()) return sums;
  arena.reset();
  const LMBatch batch = LMBatch::from_sequences(sequences);
  const Tensor logits = model.forward(arena, batch.tokens, batch.layout);  // [T, V]
  const int64_t tokens = batch.tokens.numel();
  const Tensor losses = Tensor::from_arena(arena, {tokens}, model.dtype());  // -log p(label), 0 at the ends
  const Tensor lse = Tensor::from_arena(arena, {tokens}, model.dtype());
  cross_entropy_forward(losses, lse, logits, batch.labels, Tensor());
  const int32_t* cu = batch.layout.cu_seqlens.data<int32_t>();
  for (size_t s = 0; s < sequences.size(); ++s) {
    double sum = 0;
    for (int32_t t = cu[s]; t + 1 < cu[s + 1]; ++t) sum -= losses.item(t);
    sums[s] = sum;
  }
  return sums;
}

ScoreSummary score_records(LanguageModel& model, const data::Tokenizer& tokenizer, data::RecordReader& reader,
                           const ScoreOptions& options,
                           const std::function<void(const SequenceScore&)>& emit) {
  STRAND_CHECK(tokenizer.vocab_size() <= model.vocab_size(),
               "tokenizer {} has {} ids, more than the model's vocabulary of {}", tokenizer.name(),
               tokenizer.vocab_size(), model.vocab_size());
  RecordBatchOptions batching;
  batching.batch_tokens = options.batch_tokens;
  batching.max_positions = model.max_positions();
  Arena arena;
  int64_t forwards = 0;
  const RecordBatchSummary s =
      for_each_record_batch(tokenizer, reader, batching, [&](std::vector<TokenizedRecord>& records) {
        std::vector<std::vector<int32_t>> batch;
        for (TokenizedRecord& r : records)
          if (!r.tokens.empty()) batch.push_back(r.tokens);
        const std::vector<double> sums = sequence_logprobs(model, arena, batch);
        forwards += batch.empty() ? 0 : 1;
        size_t next = 0;
        for (const TokenizedRecord& r : records) {
          SequenceScore score;
          score.id = r.id;
          score.length = r.residues;
          const auto n = static_cast<int64_t>(r.tokens.size());
          score.predicted = std::max<int64_t>(0, n - 1);
          score.sum_logprob = n > 0 ? sums[next++] : 0.0;
          STRAND_CHECK(
              !std::isnan(score.sum_logprob),
              "{}:{}: record '{}': the log-likelihood is NaN (the model's outputs are not finite: are "
              "its weights?)",
              reader.path(), r.line, printable(r.id));
          score.mean_logprob = score.predicted > 0 ? score.sum_logprob / static_cast<double>(score.predicted)
                                                   : std::numeric_limits<double>::quiet_NaN();
          emit(score);
        }
      });
  ScoreSummary summary;
  summary.records = s.records;
  summary.tokens = s.tokens;
  summary.batches = forwards;
  summary.unknown = s.unknown;
  summary.composition = s.composition;
  return summary;
}

std::string score_tsv_header() {
  return "id\tlength\tsum_logprob\tmean_logprob\n";
}

std::string score_tsv_row(const SequenceScore& s) {
  return fmt::format("{}\t{}\t{:.6f}\t{:.6f}\n", escape_tsv_field(s.id), s.length, s.sum_logprob,
                     s.mean_logprob);
}

}  // namespace strand::infer
