// The sequence alphabet read off each tokenizer, and the DNA / protein tally of input records with the
// warning it gives for a model of the other kind.
#include "strand/infer/sequence_alphabet.h"

#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace strand::infer {
namespace {

TEST(SequenceAlphabet, CharacterVocabulariesAreDna) {
  for (const data::Tokenizer& t : {data::Tokenizer::nucleotide(), data::Tokenizer::char_level()}) {
    const SequenceAlphabet a = sequence_alphabet(t);
    EXPECT_EQ(a.kind, SequenceKind::dna) << t.name();
    EXPECT_EQ(a.letters, "ACGTNacgtn") << t.name();
    EXPECT_EQ(a.ids, (std::vector<int32_t>{'A', 'C', 'G', 'T', 'N', 'a', 'c', 'g', 't', 'n'})) << t.name();
  }
}

TEST(SequenceAlphabet, EsmIsTheResidueLettersAndNoSpecialToken) {
  const SequenceAlphabet a = sequence_alphabet(data::Tokenizer::esm());
  EXPECT_EQ(a.kind, SequenceKind::protein);
  EXPECT_EQ(a.letters, "LAGVSERTIDPKQNFYMHWCXBUZO");
  EXPECT_EQ(a.ids.front(), 4);
  EXPECT_EQ(a.ids.back(), 28);
}

class SmallVocabularyTest : public testing::TempDirTest {
 protected:
  // A WordLevel tokenizer.json of these characters and <pad>.
  data::Tokenizer tokenizer_of(const std::string& chars) const {
    nlohmann::json vocab = {{"<pad>", 0}};
    for (size_t i = 0; i < chars.size(); ++i) vocab[std::string(1, chars[i])] = i + 1;
    const nlohmann::json j = {
        {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<pad>"}}},
        {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", ""}}}, {"behavior", "Isolated"}}},
        {"added_tokens", {{{"id", 0}, {"content", "<pad>"}, {"special", true}}}}};
    std::ofstream(path("tokenizer.json")) << j.dump();
    return data::Tokenizer::from_hf_json(path("tokenizer.json"));
  }
};

TEST_F(SmallVocabularyTest, ItsOwnCharactersOfTheKindTheyAre) {
  const SequenceAlphabet dna = sequence_alphabet(tokenizer_of("ACGTRY"));
  EXPECT_EQ(dna.kind, SequenceKind::dna);
  EXPECT_EQ(dna.letters, "ACGRTY");
  const SequenceAlphabet protein = sequence_alphabet(tokenizer_of("ACDEFGHIKLMNPQRSTVWY-"));
  EXPECT_EQ(protein.kind, SequenceKind::protein);
  EXPECT_EQ(protein.letters, "-ACDEFGHIKLMNPQRSTVWY");
  EXPECT_EQ(sequence_alphabet(tokenizer_of("01")).kind, SequenceKind::other);
}

TEST(InputComposition, WarnsOfTheOtherKindOfSequence) {
  const SequenceAlphabet protein = sequence_alphabet(data::Tokenizer::esm());
  const SequenceAlphabet dna = sequence_alphabet(data::Tokenizer::nucleotide());
  InputComposition genomic;
  genomic.add("chr1", "ACGTNNacgt");
  genomic.add("empty", "");
  genomic.add("chr2", "GATTACA");
  EXPECT_EQ(genomic.records, 2);
  EXPECT_EQ(genomic.dna, 2);
  EXPECT_EQ(
      input_kind_warning(protein, genomic, "g.fa"),
      "g.fa: all 2 records are DNA (only A, C, G, T, N), but the model reads protein; is this the right "
      "input or model?");
  EXPECT_EQ(input_kind_warning(dna, genomic, "g.fa"), std::nullopt);

  InputComposition proteins;
  proteins.add("p1", "ACGT");  // neither for certain
  proteins.add("p2", "MKTAYIAKQR");
  proteins.add("p3", "MLSDEDFKAV");
  EXPECT_EQ(proteins.protein, 2);
  EXPECT_EQ(input_kind_warning(protein, proteins, "p.fa"), std::nullopt);  // not every record is DNA
  EXPECT_EQ(input_kind_warning(dna, proteins, "p.fa"),
            "p.fa: 2 of 3 records look like protein (letters no nucleotide code uses, first in record 'p2'), "
            "but the model reads DNA; is this the right input or model?");
  // IUPAC ambiguity codes are DNA, not protein.
  InputComposition ambiguous;
  ambiguous.add("r", "ACGTRYKMSWN");
  EXPECT_EQ(input_kind_warning(dna, ambiguous, "a.fa"), std::nullopt);
}

}  // namespace
}  // namespace strand::infer
