// Masked-model scoring of sequence files (ESM-2): pseudo-log-likelihoods of every record, or the
// masked-marginal scores of a file of mutation sets against the records (masked_scoring.h has the
// computations). The results are handed to a callback, so callers choose how to write them.
#pragma once

#include "strand/data/record_reader.h"
#include "strand/data/tokenizer.h"
#include "strand/infer/score.h"
#include "strand/models/language_model.h"

#include <functional>
#include <string>

namespace strand::infer {

struct PseudoLikelihood {
  std::string id;
  int64_t residues = 0;
  double pll = 0;       // natural log
  double mean_pll = 0;  // pll / residues; NaN for an empty record
};

// The pseudo-log-likelihood of every record of `reader` (its residues, without <cls>/<eos>), emitted in input
// order. ScoreSummary::tokens counts the tokens of the masked copies (one copy per residue).
ScoreSummary score_pseudo_likelihoods(LanguageModel& model, const data::Tokenizer& tokenizer,
                                      data::RecordReader& reader, const ScoreOptions& options,
                                      const std::function<void(const PseudoLikelihood&)>& emit);

struct MutationScore {
  std::string record;  // the record the set applies to
  std::string mutant;  // the set as written in the file ("A23G:C40F")
  double score = 0;    // masked-marginal log-odds
};

// The masked-marginal score of every line of `mutations_path` (read_mutation_file) against the records of
// `reader`, emitted in the file's line order. A line without a record id needs an input of exactly one
// record; an unknown record id, a repeated one in the input, or a mutation that disagrees with its record is
// an error naming the file and line. ScoreSummary::tokens counts the tokens of the masked copies (one per
// distinct mutated position of a record).
ScoreSummary score_mutation_file(LanguageModel& model, const data::Tokenizer& tokenizer,
                                 data::RecordReader& reader, const std::string& mutations_path,
                                 const ScoreOptions& options,
                                 const std::function<void(const MutationScore&)>& emit);

// TSV of the two: "id\tlength\tpll\tmean_pll" and "id\tmutant\tscore" headers, one row per result (the id
// escaped as escape_tsv_field does).
std::string pseudo_likelihood_tsv_header();
std::string pseudo_likelihood_tsv_row(const PseudoLikelihood& r);
std::string mutation_tsv_header();
std::string mutation_tsv_row(const MutationScore& r);

}  // namespace strand::infer
