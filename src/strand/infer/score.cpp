#include "strand/infer/score.h"

#include "strand/core/arena.h"
#include "strand/io/json.h"
#include "strand/ops/loss.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace strand::infer {
namespace {

// One record waiting in the current batch.
struct Pending {
  SequenceScore score;
  std::vector<int32_t> tokens;
};

std::string escape_field(const std::string& s) {
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

}  // namespace

std::vector<double> sequence_logprobs(CausalLM& model, Arena& arena,
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

ScoreSummary score_records(CausalLM& model, const data::Tokenizer& tokenizer, data::RecordReader& reader,
                           const ScoreOptions& options,
                           const std::function<void(const SequenceScore&)>& emit) {
  STRAND_CHECK(options.batch_tokens > 0, "batch_tokens must be positive, got {}", options.batch_tokens);
  STRAND_CHECK(tokenizer.vocab_size() <= model.vocab_size(),
               "tokenizer {} has {} ids, more than the model's vocabulary of {}", tokenizer.name(),
               tokenizer.vocab_size(), model.vocab_size());
  const int64_t limit = model.max_positions();
  const int64_t specials = (tokenizer.bos() >= 0 ? 1 : 0) + (tokenizer.eos() >= 0 ? 1 : 0);

  ScoreSummary summary;
  Arena arena;
  std::vector<Pending> pending;
  int64_t pending_tokens = 0;

  // Scores the pending records in one packed forward and emits them in order.
  const auto flush = [&] {
    std::vector<std::vector<int32_t>> batch;
    for (Pending& p : pending)
      if (!p.tokens.empty()) batch.push_back(std::move(p.tokens));
    const std::vector<double> sums = sequence_logprobs(model, arena, batch);
    size_t next = 0;
    for (Pending& p : pending) {
      SequenceScore& s = p.score;
      s.predicted = std::max<int64_t>(0, s.length + specials - 1);
      s.sum_logprob = s.length + specials > 0 ? sums[next++] : 0.0;
      s.mean_logprob = s.predicted > 0 ? s.sum_logprob / static_cast<double>(s.predicted)
                                       : std::numeric_limits<double>::quiet_NaN();
      emit(s);
    }
    if (!batch.empty()) ++summary.batches;
    summary.tokens += pending_tokens;
    pending.clear();
    pending_tokens = 0;
  };

  data::SequenceRecord record;
  while (reader.next(record)) {
    Pending p;
    if (tokenizer.bos() >= 0) p.tokens.push_back(tokenizer.bos());
    try {
      summary.unknown += tokenizer.encode(record.sequence, p.tokens);
    } catch (const Error& e) {
      rethrow_with_context(
          e, fmt::format("{}:{}: record '{}'", reader.path(), record.line, io::printable(record.id)));
    }
    if (tokenizer.eos() >= 0) p.tokens.push_back(tokenizer.eos());
    const int64_t n = static_cast<int64_t>(p.tokens.size());
    STRAND_CHECK(limit <= 0 || n <= limit,
                 "{}:{}: record '{}' has {} tokens ({} residues{}), more than the model's {} positions "
                 "(max_position_embeddings); split it into shorter records",
                 reader.path(), record.line, io::printable(record.id), n, n - specials,
                 specials == 2 ? " + BOS + EOS" : (specials == 1 ? " + 1 special token" : ""), limit);
    if (!pending.empty() && pending_tokens + n > options.batch_tokens) flush();
    p.score.id = record.id;
    p.score.length = n - specials;
    pending_tokens += n;
    pending.push_back(std::move(p));
    ++summary.records;
  }
  if (!pending.empty()) flush();
  return summary;
}

std::string score_tsv_header() {
  return "id\tlength\tsum_logprob\tmean_logprob\n";
}

std::string score_tsv_row(const SequenceScore& s) {
  return fmt::format("{}\t{}\t{:.6f}\t{:.6f}\n", escape_field(s.id), s.length, s.sum_logprob, s.mean_logprob);
}

}  // namespace strand::infer
