#include "strand/infer/masked_scoring.h"

#include "strand/core/error.h"
#include "strand/ops/precision.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>

namespace strand::infer {

std::vector<Mutation> parse_mutations(std::string_view text) {
  std::vector<Mutation> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(':', start), text.size());
    const std::string_view one = text.substr(start, end - start);
    STRAND_CHECK(one.size() >= 3,
                 "mutation '{}' in '{}': expected a residue, a position and a residue (A23G)", one, text);
    Mutation m;
    m.wild_type = one.front();
    m.mutant = one.back();
    const std::string_view digits = one.substr(1, one.size() - 2);
    STRAND_CHECK(std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                     digits.size() <= 9,
                 "mutation '{}' in '{}': the position must be a number (A23G)", one, text);
    m.position = std::stoll(std::string(digits));
    STRAND_CHECK(m.position >= 1, "mutation '{}' in '{}': positions count from 1", one, text);
    out.push_back(m);
    start = end + 1;
  }
  return out;
}

namespace {

bool is_mutation_text(std::string_view field) {
  return field.size() >= 3 && std::isalpha(static_cast<unsigned char>(field.front())) != 0 &&
         std::isdigit(static_cast<unsigned char>(field[1])) != 0;
}

}  // namespace

std::vector<MutationLine> read_mutation_file(const std::string& path) {
  std::ifstream in(path);
  STRAND_CHECK(in.good(), "{}: cannot open the mutation file", path);
  std::vector<MutationLine> out;
  std::string text;
  for (uint64_t line = 1; std::getline(in, text); ++line) {
    std::vector<std::string> fields;
    std::string field;
    for (const char c : text + '\n') {
      if (c == '\t' || c == ',' || c == ' ' || c == '\n' || c == '\r') {
        if (!field.empty()) fields.push_back(std::move(field));
        field.clear();
      } else {
        field += c;
      }
    }
    if (fields.empty() || fields[0].starts_with("#")) continue;
    if (out.empty() && (fields[0] == "mutant" || fields[0] == "mutation" || fields[0] == "mutations"))
      continue;
    MutationLine m;
    m.line = line;
    // "<record> <mutations> ..." when the second field is a mutation; else the first field is the mutations
    // and the rest (a ProteinGym sequence or score) is ignored.
    if (fields.size() >= 2 && is_mutation_text(fields[1])) m.record = fields[0];
    m.text = m.record.empty() ? fields[0] : fields[1];
    try {
      m.mutations = parse_mutations(m.text);
    } catch (const Error& e) {
      rethrow_with_context(e, fmt::format("{}:{}", path, line));
    }
    out.push_back(std::move(m));
  }
  STRAND_CHECK(!out.empty(), "{}: no mutations listed", path);
  return out;
}

std::vector<std::vector<double>> masked_log_probs(LanguageModel& model, Arena& arena,
                                                  std::span<const int32_t> tokens,
                                                  std::span<const int64_t> positions,
                                                  const MaskedScoringOptions& options) {
  STRAND_CHECK(options.batch_tokens > 0, "masked scoring: batch_tokens must be positive");
  const auto length = static_cast<int64_t>(tokens.size());
  for (const int64_t p : positions)
    STRAND_CHECK(p >= 0 && p < length, "masked scoring: position {} outside a sequence of {} tokens", p,
                 length);
  const int64_t vocab = model.vocab_size();
  std::vector<std::vector<double>> out(positions.size());
  const int64_t copies_per_batch = std::max<int64_t>(1, options.batch_tokens / std::max<int64_t>(length, 1));
  for (size_t first = 0; first < positions.size(); first += static_cast<size_t>(copies_per_batch)) {
    const size_t count = std::min(positions.size() - first, static_cast<size_t>(copies_per_batch));
    std::vector<std::vector<int32_t>> copies(count, std::vector<int32_t>(tokens.begin(), tokens.end()));
    for (size_t c = 0; c < count; ++c) copies[c][static_cast<size_t>(positions[first + c])] = options.mask_id;
    arena.reset();
    const LMBatch batch = LMBatch::from_sequences(copies).to(
        model.device(), statistics_dtype(model.device(), model.dtype()), vocab);
    const Tensor logits = model.forward(arena, batch.tokens, batch.layout).to(Device::cpu()).to(DType::F64);
    for (size_t c = 0; c < count; ++c) {
      const double* row =
          logits.data<double>() + (static_cast<int64_t>(c) * length + positions[first + c]) * vocab;
      const double max = *std::max_element(row, row + vocab);
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
      const double lse = max + std::log(sum);
      out[first + c].resize(static_cast<size_t>(vocab));
      for (int64_t v = 0; v < vocab; ++v) out[first + c][static_cast<size_t>(v)] = row[v] - lse;
    }
  }
  return out;
}

std::vector<double> masked_marginal_scores(LanguageModel& model, Arena& arena,
                                           std::span<const int32_t> tokens,
                                           const std::vector<std::vector<Mutation>>& mutation_sets,
                                           const std::function<int32_t(char)>& residue_id,
                                           const MaskedScoringOptions& options) {
  const auto residues = static_cast<int64_t>(tokens.size()) - 2;  // without <cls> and <eos>
  std::map<int64_t, size_t> slot;                                 // token position -> row of log_probs
  for (const auto& set : mutation_sets) {
    for (const Mutation& m : set) {
      const std::string name = fmt::format("{}{}{}", m.wild_type, m.position, m.mutant);
      STRAND_CHECK(m.position <= residues, "mutation {}: position {} is past the sequence's {} residues",
                   name, m.position, residues);
      const int32_t wt = residue_id(m.wild_type), mut = residue_id(m.mutant);
      STRAND_CHECK(wt >= 0 && mut >= 0, "mutation {}: '{}' is not a residue of the vocabulary", name,
                   wt < 0 ? m.wild_type : m.mutant);
      STRAND_CHECK(tokens[static_cast<size_t>(m.position)] == wt,
                   "mutation {}: residue {} of the sequence is not {}", name, m.position, m.wild_type);
      slot.emplace(m.position, slot.size());
    }
  }
  std::vector<int64_t> positions(slot.size());
  for (const auto& [position, row] : slot) positions[row] = position;
  const auto log_probs = masked_log_probs(model, arena, tokens, positions, options);
  std::vector<double> scores;
  for (const auto& set : mutation_sets) {
    double score = 0;
    for (const Mutation& m : set) {
      const std::vector<double>& lp = log_probs[slot.at(m.position)];
      score +=
          lp[static_cast<size_t>(residue_id(m.mutant))] - lp[static_cast<size_t>(residue_id(m.wild_type))];
    }
    scores.push_back(score);
  }
  return scores;
}

double pseudo_log_likelihood(LanguageModel& model, Arena& arena, std::span<const int32_t> tokens,
                             int64_t first, int64_t last, const MaskedScoringOptions& options) {
  STRAND_CHECK(0 <= first && first <= last && last <= static_cast<int64_t>(tokens.size()),
               "pseudo-log-likelihood: range [{}, {}) outside a sequence of {} tokens", first, last,
               tokens.size());
  std::vector<int64_t> positions;
  for (int64_t p = first; p < last; ++p) positions.push_back(p);
  const auto log_probs = masked_log_probs(model, arena, tokens, positions, options);
  double sum = 0;
  for (size_t i = 0; i < positions.size(); ++i)
    sum += log_probs[i][static_cast<size_t>(tokens[static_cast<size_t>(positions[i])])];
  return sum;
}

}  // namespace strand::infer
