#include "strand/infer/masked_record_scoring.h"

#include "strand/core/json.h"
#include "strand/infer/masked_scoring.h"
#include "strand/infer/record_batches.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>

namespace strand::infer {
namespace {

// The token id of a one-letter residue; -1 when the tokenizer does not know it.
std::function<int32_t(char)> residue_ids(const data::Tokenizer& tokenizer) {
  return [&tokenizer](char c) {
    std::vector<int32_t> ids;
    return tokenizer.encode(std::string_view(&c, 1), ids) == 0 && ids.size() == 1 ? ids[0] : -1;
  };
}

MaskedScoringOptions masked_options(const data::Tokenizer& tokenizer, const ScoreOptions& options,
                                    const char* what) {
  MaskedScoringOptions scoring;
  scoring.mask_id = tokenizer.mask();
  scoring.batch_tokens = options.batch_tokens;
  STRAND_CHECK(scoring.mask_id >= 0, "tokenizer '{}' has no mask token: {} need one", tokenizer.name(), what);
  return scoring;
}

}  // namespace

ScoreSummary score_pseudo_likelihoods(LanguageModel& model, const data::Tokenizer& tokenizer,
                                      data::RecordReader& reader, const ScoreOptions& options,
                                      const std::function<void(const PseudoLikelihood&)>& emit) {
  const MaskedScoringOptions scoring = masked_options(tokenizer, options, "pseudo-log-likelihoods");
  RecordBatchOptions batching;
  batching.max_positions = model.max_positions();
  Arena arena(size_t{1} << 20, model.device());
  const int64_t lead = tokenizer.bos() >= 0 ? 1 : 0;
  ScoreSummary s;
  const RecordBatchSummary read =
      for_each_record_batch(tokenizer, reader, batching, [&](std::vector<TokenizedRecord>& batch) {
        for (const TokenizedRecord& r : batch) {
          PseudoLikelihood p;
          p.id = r.id;
          p.residues = r.residues;
          p.pll = pseudo_log_likelihood(model, arena, r.tokens, lead, lead + r.residues, scoring);
          STRAND_CHECK(!std::isnan(p.pll),
                       "{}:{}: record '{}': the pseudo-log-likelihood is NaN (the model's outputs are not "
                       "finite: are its weights?)",
                       reader.path(), r.line, printable(r.id));
          p.mean_pll = r.residues > 0 ? p.pll / static_cast<double>(r.residues) : NAN;
          emit(p);
          s.tokens += static_cast<int64_t>(r.tokens.size()) * r.residues;  // one masked copy per residue
        }
      });
  s.records = read.records;
  s.unknown = read.unknown;
  s.composition = read.composition;
  return s;
}

ScoreSummary score_mutation_file(LanguageModel& model, const data::Tokenizer& tokenizer,
                                 data::RecordReader& reader, const std::string& mutations_path,
                                 const ScoreOptions& options,
                                 const std::function<void(const MutationScore&)>& emit) {
  const MaskedScoringOptions scoring = masked_options(tokenizer, options, "masked-marginal scores");
  std::map<std::string, std::vector<int32_t>> wild_types;
  std::string only;
  RecordBatchOptions batching;
  batching.max_positions = model.max_positions();
  const RecordBatchSummary read =
      for_each_record_batch(tokenizer, reader, batching, [&](std::vector<TokenizedRecord>& batch) {
        for (TokenizedRecord& r : batch) {
          STRAND_CHECK(!wild_types.count(r.id), "{}:{}: record id '{}' appears twice", reader.path(), r.line,
                       printable(r.id));
          only = r.id;
          wild_types[r.id] = std::move(r.tokens);
        }
      });
  const std::vector<MutationLine> lines = read_mutation_file(mutations_path);
  std::vector<std::string> record_of(lines.size());
  std::map<std::string, std::vector<size_t>> by_record;  // record id -> lines, in file order
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string id = lines[i].record;
    if (id.empty()) {
      STRAND_CHECK(wild_types.size() == 1,
                   "{}:{}: a line without a record id needs an input of exactly one record; {} has {}",
                   mutations_path, lines[i].line, reader.path(), wild_types.size());
      id = only;
    }
    STRAND_CHECK(wild_types.count(id), "{}:{}: no record '{}' in {}", mutations_path, lines[i].line,
                 printable(id), reader.path());
    by_record[id].push_back(i);
    record_of[i] = id;
  }
  Arena arena(size_t{1} << 20, model.device());
  std::vector<double> scores(lines.size());
  ScoreSummary s;
  for (const auto& [id, rows] : by_record) {
    std::vector<std::vector<Mutation>> sets;
    std::set<int64_t> positions;  // each distinct position is one masked copy of the sequence
    for (const size_t i : rows) {
      sets.push_back(lines[i].mutations);
      for (const Mutation& m : lines[i].mutations) positions.insert(m.position);
    }
    std::vector<double> got;
    try {
      got = masked_marginal_scores(model, arena, wild_types.at(id), sets, residue_ids(tokenizer), scoring);
    } catch (const Error& e) {
      rethrow_with_context(e, fmt::format("{}: record '{}'", mutations_path, printable(id)));
    }
    for (size_t k = 0; k < rows.size(); ++k) {
      const MutationLine& line = lines[rows[k]];
      STRAND_CHECK(!std::isnan(got[k]),
                   "{}:{}: record '{}': the score of {} is NaN (the model's outputs are not finite: are its "
                   "weights?)",
                   mutations_path, line.line, printable(id), printable(line.text));
      scores[rows[k]] = got[k];
    }
    s.tokens += static_cast<int64_t>(wild_types.at(id).size() * positions.size());
  }
  for (size_t i = 0; i < lines.size(); ++i) emit({record_of[i], lines[i].text, scores[i]});
  s.records = read.records;
  s.unknown = read.unknown;
  s.composition = read.composition;
  return s;
}

std::string pseudo_likelihood_tsv_header() {
  return "id\tlength\tpll\tmean_pll\n";
}

std::string pseudo_likelihood_tsv_row(const PseudoLikelihood& r) {
  return fmt::format("{}\t{}\t{:.6f}\t{:.6f}\n", escape_tsv_field(r.id), r.residues, r.pll, r.mean_pll);
}

std::string mutation_tsv_header() {
  return "id\tmutant\tscore\n";
}

std::string mutation_tsv_row(const MutationScore& r) {
  return fmt::format("{}\t{}\t{:.6f}\n", escape_tsv_field(r.record), r.mutant, r.score);
}

}  // namespace strand::infer
