// Which letters a model's sequences are written in, read off its tokenizer: what generation samples by
// default, what a prompt may hold, and what an input file is expected to look like.
//
// Tokenizers define vocabularies, not alphabets: the nucleotide tokenizer gives every character up to U+00FF
// an id, so a model trained on DNA still has 252 ids that are not DNA. The alphabet of a tokenizer is:
//   esm                    protein: the residue letters of EsmTokenizer, LAGVSERTIDPKQNFYMHWCXBUZO (the 20
//                          amino acids, X, and B U Z O); never '.', '-', <null_1> or a special token;
//   a character vocabulary that holds every ASCII letter (nucleotide, char, bionemo's tokenizer.json files,
//                          those strand exports): DNA, ACGTN and acgtn (soft-masked repeats), the letters
//                          strand's genomic models are trained on;
//   a smaller vocabulary   (a tokenizer.json written for one alphabet) its own single characters, called DNA
//                          when they are all nucleotide codes, protein when they hold the 20 amino acids.
// Letters of the alphabet that the tokenizer cannot encode (on its own, as one id) are left out.
#pragma once

#include "strand/data/tokenizer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strand::infer {

enum class SequenceKind { dna, protein, other };

const char* sequence_kind_name(SequenceKind kind);  // "DNA", "protein", "other"

struct SequenceAlphabet {
  SequenceKind kind = SequenceKind::other;
  std::string letters;       // the alphabet's characters (one byte each), in the order listed above
  std::vector<int32_t> ids;  // the token id of each letter, in the same order

  bool contains(char c) const { return letters.find(c) != std::string::npos; }
};

SequenceAlphabet sequence_alphabet(const data::Tokenizer& tokenizer);

// What the records of an input look like, tallied record by record: DNA (only A C G T N, either case) or
// protein (a letter that no nucleotide code uses: E F I J L O P Q X Z, either case). Most records are
// neither for certain (a short peptide of A C G T, an empty record): they count for neither.
struct InputComposition {
  int64_t records = 0;        // non-empty records seen
  int64_t dna = 0;            // of them, written only in ACGTN
  int64_t protein = 0;        // of them, holding a protein-only letter
  std::string first_protein;  // the id of the first protein record

  void add(const std::string& id, std::string_view sequence);
};

// One line (without a trailing newline) when the input looks like the other kind of sequence than the model
// reads: every record DNA for a protein model, any record protein for a DNA model. Nothing otherwise.
std::optional<std::string> input_kind_warning(const SequenceAlphabet& model, const InputComposition& input,
                                              const std::string& input_path);

}  // namespace strand::infer
