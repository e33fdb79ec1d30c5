// Scoring with a masked language model (ESM-2): the log-probabilities it gives a position when that position
// alone is masked, and what is built from them.
//
//   masked marginal of a mutation set (ESM-1v's "masked marginals"): the sum over its mutations of
//     log p(mutant residue) - log p(wild-type residue) at the mutated position, masked alone in the
//     wild-type sequence (one forward per distinct position);
//   pseudo-log-likelihood of a sequence: the sum over its residues of log p(residue) with that residue masked
//     alone (one forward per residue).
//
// The masked copies of a sequence are packed into forward batches up to a token budget; packing changes
// nothing, since attention never crosses a sequence boundary.
#pragma once

#include "strand/models/language_model.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strand::infer {

// One substitution: the residue `wild_type` at 1-based residue `position` becomes `mutant` ("A23G").
struct Mutation {
  char wild_type = 0;
  int64_t position = 0;
  char mutant = 0;
};

// "A23G", or several joined by ':' ("A23G:C40F") for a multi-mutant. Errors name the text.
std::vector<Mutation> parse_mutations(std::string_view text);

// One line of a mutation file: a mutation set and, optionally, the record it applies to.
struct MutationLine {
  std::string record;  // empty: the input's only record
  std::string text;    // as written ("A23G:C40F")
  std::vector<Mutation> mutations;
  uint64_t line = 0;
};

// Reads a mutation file: one set per line, "A23G" or "A23G:C40F", optionally after a record id ("P12345
// A23G": a line whose second field is a mutation); fields separated by tabs, commas or spaces; blank lines,
// '#' comments and a header line whose first field is "mutant" or "mutation" (ProteinGym's CSVs) are skipped,
// as are the fields after the mutations. Errors name the file and line.
std::vector<MutationLine> read_mutation_file(const std::string& path);

struct MaskedScoringOptions {
  int32_t mask_id = 32;
  int64_t batch_tokens = 16384;  // tokens per packed forward (> 0); a sequence longer than this runs alone
};

// Log-probabilities [positions.size()][V] of every vocabulary entry at each token position of `tokens`, that
// position masked alone. Positions index `tokens` (0-based, so with a leading <cls> residue i is token i).
std::vector<std::vector<double>> masked_log_probs(LanguageModel& model, Arena& arena,
                                                  std::span<const int32_t> tokens,
                                                  std::span<const int64_t> positions,
                                                  const MaskedScoringOptions& options);

// The masked-marginal score of each mutation set against the wild-type `tokens` (<cls> residues <eos>:
// residue i is token i). `residue_id` maps a residue letter to its token id (-1 when unknown). A mutation
// whose wild-type letter disagrees with the sequence, or whose position lies outside it, is an error naming
// it.
std::vector<double> masked_marginal_scores(LanguageModel& model, Arena& arena,
                                           std::span<const int32_t> tokens,
                                           const std::vector<std::vector<Mutation>>& mutation_sets,
                                           const std::function<int32_t(char)>& residue_id,
                                           const MaskedScoringOptions& options);

// Pseudo-log-likelihood of `tokens` over the positions [first, last) (the residues, without <cls>/<eos>).
double pseudo_log_likelihood(LanguageModel& model, Arena& arena, std::span<const int32_t> tokens,
                             int64_t first, int64_t last, const MaskedScoringOptions& options);

}  // namespace strand::infer
