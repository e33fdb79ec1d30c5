#include "strand/infer/embed.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/ops/precision.h"

#include <algorithm>
#include <cmath>

namespace strand::infer {

RecordBatchSummary embed_records(LanguageModel& model, const data::Tokenizer& tokenizer,
                                 data::RecordReader& reader, const EmbedOptions& options,
                                 const std::function<void(RecordEmbedding&)>& emit) {
  STRAND_CHECK(tokenizer.vocab_size() <= model.vocab_size(),
               "tokenizer {} has {} ids, more than the model's vocabulary of {}", tokenizer.name(),
               tokenizer.vocab_size(), model.vocab_size());
  const int64_t layers = model.num_layers();
  const int64_t layer = options.layer < 0 ? layers + 1 + options.layer : options.layer;
  STRAND_CHECK(layer >= 0 && layer <= layers,
               "embedding layer {} outside [0, {}] (or [-{}, -1] from the end)", options.layer, layers,
               layers + 1);
  const int64_t hidden = model.hidden_size();
  const int64_t lead = tokenizer.bos() >= 0 ? 1 : 0;
  RecordBatchOptions batching = options.batching;
  batching.max_positions = model.max_positions();
  Arena arena(size_t{1} << 20, model.device());
  return for_each_record_batch(tokenizer, reader, batching, [&](std::vector<TokenizedRecord>& records) {
    std::vector<std::vector<int32_t>> sequences;
    for (const TokenizedRecord& r : records) sequences.push_back(r.tokens);
    arena.reset();
    const LMBatch batch = LMBatch::from_sequences(sequences).to(
        model.device(), statistics_dtype(model.device(), model.dtype()), model.vocab_size());
    const Tensor h =
        model.representations(arena, batch.tokens, batch.layout, layer).to(Device::cpu()).to(DType::F32);
    int64_t offset = 0;
    for (TokenizedRecord& r : records) {
      RecordEmbedding e;
      e.id = std::move(r.id);
      e.residues = r.residues;
      e.truncated = r.truncated;
      const float* rows = h.data<float>() + (offset + lead) * hidden;
      if (options.pooling == Pooling::PerResidue) {
        e.values = Tensor::empty({r.residues, hidden}, DType::F32);
        std::copy(rows, rows + r.residues * hidden, e.values.data<float>());
      } else {
        e.values = Tensor::zeros({hidden}, DType::F32);
        std::vector<double> sum(static_cast<size_t>(hidden), 0.0);
        for (int64_t t = 0; t < r.residues; ++t)
          for (int64_t c = 0; c < hidden; ++c) sum[static_cast<size_t>(c)] += rows[t * hidden + c];
        for (int64_t c = 0; c < hidden; ++c)
          e.values.data<float>()[c] =
              r.residues > 0
                  ? static_cast<float>(sum[static_cast<size_t>(c)] / static_cast<double>(r.residues))
                  : NAN;
      }
      // An empty record's mean is NaN by definition; any other NaN is the model's.
      const float* v = e.values.data<float>();
      STRAND_CHECK(
          r.residues == 0 || std::none_of(v, v + e.values.numel(), [](float x) { return std::isnan(x); }),
          "{}:{}: record '{}': its embedding holds NaN (the model's outputs are not finite: are its "
          "weights?)",
          reader.path(), r.line, printable(e.id));
      offset += static_cast<int64_t>(r.tokens.size());
      emit(e);
    }
  });
}

}  // namespace strand::infer
