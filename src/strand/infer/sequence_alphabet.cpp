#include "strand/infer/sequence_alphabet.h"

#include "strand/core/json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace strand::infer {
namespace {

constexpr std::string_view kEsmResidues = "LAGVSERTIDPKQNFYMHWCXBUZO";
constexpr std::string_view kDnaLetters = "ACGTNacgtn";
constexpr std::string_view kAminoAcids = "ACDEFGHIKLMNPQRSTVWY";
// IUPAC nucleotide codes (U for RNA, ambiguity codes, N): a smaller vocabulary of only these is DNA.
constexpr std::string_view kNucleotideCodes = "ACGTURYSWKMBDHVN";
// Letters no nucleotide code uses: a record holding one is protein.
constexpr std::string_view kProteinOnlyLetters = "EFIJLOPQXZ";

bool in(std::string_view set, char c) {
  return set.find(c) != std::string_view::npos;
}

char upper(char c) {
  return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

// The id `c` encodes to when it is one known token of its own; -1 otherwise.
int32_t id_of(const data::Tokenizer& tokenizer, char c) {
  std::vector<int32_t> ids;
  return tokenizer.encode(std::string_view(&c, 1), ids) == 0 && ids.size() == 1 ? ids[0] : -1;
}

// The printable ASCII characters the tokenizer has an ordinary (non-special) id for, each on its own.
std::set<char> vocabulary_characters(const data::Tokenizer& tokenizer) {
  std::set<char> chars;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.is_special(id)) continue;
    const std::string text = tokenizer.decode(std::span<const int32_t>(&id, 1));
    if (text.size() == 1 && std::isgraph(static_cast<unsigned char>(text[0]))) chars.insert(text[0]);
  }
  return chars;
}

SequenceAlphabet encodable(const data::Tokenizer& tokenizer, SequenceKind kind, std::string_view letters) {
  SequenceAlphabet a;
  a.kind = kind;
  for (const char c : letters) {
    const int32_t id = id_of(tokenizer, c);
    if (id < 0) continue;
    a.letters += c;
    a.ids.push_back(id);
  }
  return a;
}

}  // namespace

const char* sequence_kind_name(SequenceKind kind) {
  switch (kind) {
    case SequenceKind::dna:
      return "DNA";
    case SequenceKind::protein:
      return "protein";
    case SequenceKind::other:
      break;
  }
  return "other";
}

SequenceAlphabet sequence_alphabet(const data::Tokenizer& tokenizer) {
  if (tokenizer.name() == data::Tokenizer::esm().name())
    return encodable(tokenizer, SequenceKind::protein, kEsmResidues);
  const std::set<char> chars = vocabulary_characters(tokenizer);
  const auto letters = std::count_if(chars.begin(), chars.end(),
                                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
  if (letters == 52) return encodable(tokenizer, SequenceKind::dna, kDnaLetters);
  const std::string own(chars.begin(), chars.end());
  SequenceKind kind = SequenceKind::other;
  if (!own.empty() &&
      std::all_of(own.begin(), own.end(), [](char c) { return in(kNucleotideCodes, upper(c)); }))
    kind = SequenceKind::dna;
  else if (std::all_of(kAminoAcids.begin(), kAminoAcids.end(),
                       [&chars](char c) { return chars.count(c) > 0; }))
    kind = SequenceKind::protein;
  return encodable(tokenizer, kind, own);
}

void InputComposition::add(const std::string& id, std::string_view sequence) {
  if (sequence.empty()) return;
  ++records;
  if (std::all_of(sequence.begin(), sequence.end(), [](char c) { return in(kDnaLetters, c); })) ++dna;
  if (std::any_of(sequence.begin(), sequence.end(),
                  [](char c) { return in(kProteinOnlyLetters, upper(c)); })) {
    if (protein == 0) first_protein = id;
    ++protein;
  }
}

std::optional<std::string> input_kind_warning(const SequenceAlphabet& model, const InputComposition& input,
                                              const std::string& input_path) {
  if (model.kind == SequenceKind::protein && input.records > 0 && input.dna == input.records)
    return fmt::format(
        "{}: {} DNA (only A, C, G, T, N), but the model reads protein; is this the right input or model?",
        input_path,
        input.records == 1 ? std::string("its record is") : fmt::format("all {} records are", input.records));
  if (model.kind == SequenceKind::dna && input.protein > 0)
    return fmt::format(
        "{}: {} of {} records look like protein (letters no nucleotide code uses, first in record '{}'), "
        "but the model reads DNA; is this the right input or model?",
        input_path, input.protein, input.records, printable(input.first_protein));
  return std::nullopt;
}

}  // namespace strand::infer
