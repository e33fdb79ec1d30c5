#include "strand/infer/record_batches.h"

#include "strand/core/error.h"
#include "strand/core/json.h"

#include <fmt/format.h>

namespace strand::infer {

RecordBatchSummary for_each_record_batch(const data::Tokenizer& tokenizer, data::RecordReader& reader,
                                         const RecordBatchOptions& options,
                                         const std::function<void(std::vector<TokenizedRecord>&)>& run) {
  STRAND_CHECK(options.batch_tokens > 0, "batch_tokens must be positive, got {}", options.batch_tokens);
  const int64_t specials = (tokenizer.bos() >= 0 ? 1 : 0) + (tokenizer.eos() >= 0 ? 1 : 0);
  const int64_t limit = options.max_positions;
  STRAND_CHECK(limit <= 0 || limit > specials, "a model of {} positions cannot hold a record", limit);
  RecordBatchSummary summary;
  std::vector<TokenizedRecord> pending;
  int64_t pending_tokens = 0;
  const auto flush = [&] {
    run(pending);
    ++summary.batches;
    summary.tokens += pending_tokens;
    pending.clear();
    pending_tokens = 0;
  };

  data::SequenceRecord record;
  while (reader.next(record)) {
    TokenizedRecord r;
    r.id = record.id;
    r.line = record.line;
    summary.composition.add(record.id, record.sequence);
    if (tokenizer.bos() >= 0) r.tokens.push_back(tokenizer.bos());
    try {
      summary.unknown += tokenizer.encode(record.sequence, r.tokens);
    } catch (const Error& e) {
      rethrow_with_context(
          e, fmt::format("{}:{}: record '{}'", reader.path(), record.line, printable(record.id)));
    }
    int64_t n = static_cast<int64_t>(r.tokens.size()) + (tokenizer.eos() >= 0 ? 1 : 0);
    if (limit > 0 && n > limit) {
      STRAND_CHECK(options.truncate,
                   "{}:{}: record '{}' has {} tokens ({} residues{}), more than the model's {} positions "
                   "(max_position_embeddings); split it into shorter records, or truncate",
                   reader.path(), record.line, printable(record.id), n, n - specials,
                   specials == 2 ? " + BOS + EOS" : (specials == 1 ? " + 1 special token" : ""), limit);
      r.tokens.resize(static_cast<size_t>(limit - (tokenizer.eos() >= 0 ? 1 : 0)));
      r.truncated = true;
      ++summary.truncated;
      n = limit;
    }
    if (tokenizer.eos() >= 0) r.tokens.push_back(tokenizer.eos());
    r.residues = n - specials;
    if (!pending.empty() && pending_tokens + n > options.batch_tokens) flush();
    pending_tokens += n;
    pending.push_back(std::move(r));
    ++summary.records;
  }
  if (!pending.empty()) flush();
  return summary;
}

}  // namespace strand::infer
