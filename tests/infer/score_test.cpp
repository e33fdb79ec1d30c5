// Scoring: log-likelihoods equal a per-sequence log-softmax of the full forward; packed batches give what
// one-record-at-a-time does; records keep their order; too-long records name themselves; the TSV format.
#include "strand/infer/score.h"

#include "infer/tiny_llama.h"
#include "ops/gradcheck.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::full_logits;
using testing::tiny_llama_config;

// sum_t log softmax(logits_t)[seq[t+1]], in double from the logits of a single-sequence forward.
double reference_logprob(LlamaModel& model, const std::vector<int32_t>& seq) {
  const Tensor logits = full_logits(model, seq);
  const int64_t V = model.vocab_size();
  double sum = 0;
  for (size_t t = 0; t + 1 < seq.size(); ++t) {
    const int64_t row = static_cast<int64_t>(t) * V;
    double m = -INFINITY, z = 0;
    for (int64_t v = 0; v < V; ++v) m = std::max(m, logits.item(row + v));
    for (int64_t v = 0; v < V; ++v) z += std::exp(logits.item(row + v) - m);
    sum += logits.item(row + seq[t + 1]) - m - std::log(z);
  }
  return sum;
}

// BOS + characters + EOS with the nucleotide tokenizer.
std::vector<int32_t> nucleotide_tokens(const std::string& s) {
  std::vector<int32_t> t = {2};
  for (const char c : s) t.push_back(static_cast<unsigned char>(c));
  t.push_back(0);
  return t;
}

struct Record {
  std::string id, sequence;
};

const std::vector<Record> kRecords = {
    {"seq1", "ACGTACGTTAGC"},          {"seq2", "A"},        {"empty", ""},
    {"seq4", "GGGGCCCCAAAATTTTACGTA"}, {"seq5", "acgtNNnn"}, {"seq6", "TTAGGC"},
    {"seq7", "CATCATCATCAT"},
};

class ScoreTest : public testing::TempDirTest {
 protected:
  std::string write_fasta(const std::vector<Record>& records) {
    const std::string file = path("in.fa");
    std::ofstream out(file);
    for (const Record& r : records) {
      out << ">" << r.id << " some description\n";
      // Wrap long sequences over several lines, as FASTA files do.
      for (size_t i = 0; i < r.sequence.size(); i += 7) out << r.sequence.substr(i, 7) << "\n";
    }
    return file;
  }

  std::vector<SequenceScore> score(LlamaModel& model, const std::string& file, int64_t batch_tokens,
                                   ScoreSummary* summary = nullptr) {
    auto reader = data::RecordReader::open(file);
    std::vector<SequenceScore> out;
    const ScoreSummary s = score_records(model, data::Tokenizer::nucleotide(), *reader, {batch_tokens},
                                         [&](const SequenceScore& x) { out.push_back(x); });
    if (summary != nullptr) *summary = s;
    return out;
  }
};

TEST(SequenceLogprobs, EqualPerSequenceLogSoftmaxOfTheFullForward) {
  for (const DType dtype : {DType::F64, DType::F32}) {
    LlamaModel model(tiny_llama_config(), dtype);
    model.init(4);
    std::vector<std::vector<int32_t>> seqs;
    for (const Record& r : kRecords) seqs.push_back(nucleotide_tokens(r.sequence));
    Arena arena;
    const std::vector<double> sums = sequence_logprobs(model, arena, seqs);
    ASSERT_EQ(sums.size(), seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      const double ref = reference_logprob(model, seqs[i]);
      EXPECT_NEAR(sums[i], ref, (dtype == DType::F64 ? 1e-12 : 1e-5) * std::abs(ref)) << kRecords[i].id;
    }
    // One token predicts nothing.
    EXPECT_EQ(sequence_logprobs(model, arena, {{2}})[0], 0.0);
    EXPECT_THROW(sequence_logprobs(model, arena, {{2, 65}, {}}), Error);
  }
}

TEST_F(ScoreTest, PackedEqualsOneAtATimeAndKeepsInputOrder) {
  LlamaModel model(tiny_llama_config(), DType::F64);
  model.init(5);
  const std::string file = write_fasta(kRecords);
  ScoreSummary packed_summary, alone_summary;
  const std::vector<SequenceScore> packed = score(model, file, 40, &packed_summary);
  const std::vector<SequenceScore> alone = score(model, file, 1, &alone_summary);
  const std::vector<SequenceScore> one_batch = score(model, file, 16384);
  ASSERT_EQ(packed.size(), kRecords.size());
  ASSERT_EQ(alone.size(), kRecords.size());
  ASSERT_EQ(one_batch.size(), kRecords.size());
  EXPECT_EQ(alone_summary.batches, static_cast<int64_t>(kRecords.size()));
  EXPECT_GT(packed_summary.batches, 1);
  EXPECT_LT(packed_summary.batches, static_cast<int64_t>(kRecords.size()));
  EXPECT_EQ(packed_summary.records, static_cast<int64_t>(kRecords.size()));
  int64_t tokens = 0;
  for (const Record& r : kRecords) tokens += static_cast<int64_t>(r.sequence.size()) + 2;
  EXPECT_EQ(packed_summary.tokens, tokens);
  for (size_t i = 0; i < kRecords.size(); ++i) {
    SCOPED_TRACE(kRecords[i].id);
    EXPECT_EQ(packed[i].id, kRecords[i].id);
    EXPECT_EQ(packed[i].length, static_cast<int64_t>(kRecords[i].sequence.size()));
    EXPECT_EQ(packed[i].predicted, packed[i].length + 1);
    const double ref = reference_logprob(model, nucleotide_tokens(kRecords[i].sequence));
    EXPECT_NEAR(packed[i].sum_logprob, ref, 1e-12 * std::abs(ref));
    EXPECT_NEAR(packed[i].sum_logprob, alone[i].sum_logprob, 1e-12 * std::abs(ref));
    EXPECT_NEAR(one_batch[i].sum_logprob, alone[i].sum_logprob, 1e-12 * std::abs(ref));
    EXPECT_DOUBLE_EQ(packed[i].mean_logprob,
                     packed[i].sum_logprob / static_cast<double>(packed[i].predicted));
    EXPECT_LT(packed[i].sum_logprob, 0.0);
  }
}

TEST_F(ScoreTest, RecordLongerThanTheModelIsAnErrorNamingIt) {
  LlamaConfig c = tiny_llama_config();
  c.max_position_embeddings = 16;
  LlamaModel model(c, DType::F32);
  model.init(1);
  // 14 residues + BOS + EOS fit exactly; 15 do not.
  const std::string file =
      write_fasta({{"fits", std::string(14, 'A')}, {"too_long", std::string(15, 'C')}, {"after", "ACGT"}});
  auto reader = data::RecordReader::open(file);
  try {
    score_records(model, data::Tokenizer::nucleotide(), *reader, {}, [](const SequenceScore&) {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("too_long"), std::string::npos) << what;
    EXPECT_NE(what.find("in.fa:4"), std::string::npos) << what;
    EXPECT_NE(what.find("17 tokens"), std::string::npos) << what;
    EXPECT_NE(what.find("max_position_embeddings"), std::string::npos) << what;
  }
}

TEST_F(ScoreTest, CountsUnknownCharactersAndChecksOptions) {
  LlamaModel model(tiny_llama_config(), DType::F32);
  model.init(1);
  const std::string file = path("in.jsonl");
  std::ofstream(file) << "{\"id\": \"a\", \"text\": \"AC\\u0001GT\"}\n{\"id\": \"b\", \"text\": \"ACGT\"}\n";
  auto reader = data::RecordReader::open(file);
  std::vector<SequenceScore> out;
  const ScoreSummary s = score_records(model, data::Tokenizer::nucleotide(), *reader, {},
                                       [&](const SequenceScore& x) { out.push_back(x); });
  EXPECT_EQ(s.unknown, 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].length, 5);
  auto again = data::RecordReader::open(file);
  EXPECT_THROW(score_records(model, data::Tokenizer::nucleotide(), *again, {0}, [](const SequenceScore&) {}),
               Error);
}

TEST(ScoreTsv, HeaderAndRows) {
  EXPECT_EQ(score_tsv_header(), "id\tlength\tsum_logprob\tmean_logprob\n");
  SequenceScore s;
  s.id = "chr1";
  s.length = 3;
  s.predicted = 4;
  s.sum_logprob = -5.5;
  s.mean_logprob = -1.375;
  EXPECT_EQ(score_tsv_row(s), "chr1\t3\t-5.500000\t-1.375000\n");
  s.id = "a\tb\\c\nd";
  EXPECT_EQ(score_tsv_row(s), "a\\tb\\\\c\\nd\t3\t-5.500000\t-1.375000\n");
}

}  // namespace
}  // namespace strand::infer
