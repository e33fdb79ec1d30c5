#include "strand/data/preprocess.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/data/dataset_sidecar.h"
#include "strand/data/indexed_dataset.h"

#include "expect_error.h"
#include "io/file_bytes.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace strand::data {
namespace {

using testing::RunResult;

using testing::error_of;

namespace fs = std::filesystem;

using Docs = std::vector<std::vector<int32_t>>;

// Token ids of ASCII text under the nucleotide and char tokenizers (both: the byte value).
std::vector<int32_t> ascii(std::string_view s) {
  return std::vector<int32_t>(s.begin(), s.end());
}
std::vector<int32_t> cat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class PreprocessTest : public testing::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << bytes;
    return path(name);
  }
  PreprocessOptions options(std::vector<std::string> inputs) const {
    PreprocessOptions o;
    for (auto& i : inputs) o.inputs.push_back(path(i));
    o.output_prefix = path("out");
    return o;
  }
  static Docs documents(const std::string& prefix) {
    const IndexedDataset ds = IndexedDataset::open(prefix);
    Docs docs;
    for (uint64_t i = 0; i < ds.size(); ++i) docs.push_back(ds.get(i));
    return docs;
  }
  void run_only(const PreprocessOptions& o) { preprocess(o, Tokenizer::nucleotide()); }
  Docs run(const PreprocessOptions& o, const Tokenizer& t = Tokenizer::nucleotide(),
           PreprocessSummary* s = nullptr) {
    const PreprocessSummary summary = preprocess(o, t);
    if (s != nullptr) *s = summary;
    EXPECT_EQ(summary.bin_path, preprocess_dataset_prefix(o) + ".bin");
    return documents(preprocess_dataset_prefix(o));
  }
};

TEST_F(PreprocessTest, OneDocumentPerRecordWithEodAndBos) {
  write("a.fa", ">a\nACGT\n>b\nac\ngt\n");
  PreprocessOptions o = options({"a.fa"});
  PreprocessSummary s;
  EXPECT_EQ(run(o, Tokenizer::nucleotide(), &s), (Docs{ascii("ACGT"), ascii("acgt")}));
  EXPECT_EQ(s.files, 1u);
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.documents, 2u);
  EXPECT_EQ(s.tokens, 8u);
  EXPECT_EQ(s.dtype, DType::U16);
  EXPECT_EQ(files(), (std::set<std::string>{"a.fa", "out_text_document.bin", "out_text_document.idx",
                                            "out_text_document.strand.json"}));
  o.append_eod = true;
  EXPECT_EQ(run(o), (Docs{cat(ascii("ACGT"), {0}), cat(ascii("acgt"), {0})}));
  o.add_bos = true;
  EXPECT_EQ(run(o), (Docs{cat(cat({2}, ascii("ACGT")), {0}), cat(cat({2}, ascii("acgt")), {0})}));
  o.dtype = DType::U8;
  run(o, Tokenizer::nucleotide(), &s);
  EXPECT_EQ(IndexedDataset::open(path("out_text_document")).dtype(), DType::U8);
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::char_level()); }),
                  "--add-bos: tokenizer 'char' has no BOS");
}

TEST_F(PreprocessTest, TheSidecarRecordsTheSpecialTokensAdded) {
  write("a.fa", ">a\nACGT\n");
  PreprocessOptions o = options({"a.fa"});
  run(o);
  std::optional<DatasetSidecar> s = read_dataset_sidecar(path("out_text_document"));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->tokenizer, "nucleotide");
  EXPECT_FALSE(s->add_bos);
  EXPECT_FALSE(s->append_eod);
  o.add_bos = o.append_eod = o.reverse_complement = true;
  o.tag_prefix = "|x|";
  run(o);
  s = read_dataset_sidecar(path("out_text_document"));
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->add_bos && s->append_eod && s->reverse_complement);
  EXPECT_EQ(s->bos, 2);
  EXPECT_EQ(s->eod, 0);
  EXPECT_EQ(s->tag_prefix, "|x|");
  EXPECT_FALSE(read_dataset_sidecar(path("absent")).has_value());
  write("bad.strand.json", "{\"tokenizer\": 3}");
  EXPECT_CONTAINS(error_of([&] { read_dataset_sidecar(path("bad")); }), path("bad.strand.json"));
}

// A genome on one line (as some assemblers write it) is one record however long the line.
TEST_F(PreprocessTest, ALongSingleLineRecordIsOneDocument) {
  std::string sequence(size_t{20} << 20, 'A');
  for (size_t i = 0; i < sequence.size(); i += 7) sequence[i] = "ACGT"[(i / 7) % 4];
  write("one.fa", ">chr\n" + sequence + "\n>next\nGT\n");
  PreprocessOptions o = options({"one.fa"});
  o.append_eod = true;
  const IndexedDataset ds = [&] {
    run_only(o);
    return IndexedDataset::open(path("out_text_document"));
  }();
  ASSERT_EQ(ds.size(), 2u);
  ASSERT_EQ(ds.length(0), sequence.size() + 1);
  std::vector<int32_t> tail;
  ds.read(0, sequence.size() - 3, 4, tail);
  EXPECT_EQ(tail, cat(ascii(sequence.substr(sequence.size() - 3)), {0}));
  EXPECT_EQ(ds.get(1), cat(ascii("GT"), {0}));
}

TEST_F(PreprocessTest, EnforceSampleLengthPadsWithPadAfterEod) {
  write("a.fa", ">a\nACGT\n>b\nG\n");
  PreprocessOptions o = options({"a.fa"});
  o.append_eod = true;
  o.enforce_sample_length = 8;
  const Docs expected = {cat(ascii("ACGT"), {0, 1, 1, 1}), cat(ascii("G"), {0, 1, 1, 1, 1, 1, 1})};
  EXPECT_EQ(run(o), expected);
  EXPECT_EQ(run(o, Tokenizer::char_level()), expected);  // savanna's CharLevelTokenizer: EOD 0, PAD 1
  o.append_eod = false;
  EXPECT_EQ(run(o), (Docs{cat(ascii("ACGT"), {1, 1, 1, 1}), cat(ascii("G"), {1, 1, 1, 1, 1, 1, 1})}));
  o.enforce_sample_length = 4;  // exactly full
  EXPECT_EQ(run(o)[0], ascii("ACGT"));
}

TEST_F(PreprocessTest, LongerDocumentIsAnErrorUnlessDropped) {
  write("a.fa", ">a\nACG\n>b desc\nACGT\n>c\nTT\n");
  PreprocessOptions o = options({"a.fa"});
  o.append_eod = true;
  o.enforce_sample_length = 4;
  const std::string message = error_of([&] { preprocess(o, Tokenizer::nucleotide()); });
  EXPECT_CONTAINS(message,
                  path("a.fa") + ":3: record 'b' has 5 tokens, more than the enforced sample length 4");
  EXPECT_EQ(files(), std::set<std::string>{"a.fa"});  // nothing at the output prefix, no temporary files

  o.drop_long = true;
  PreprocessSummary s;
  EXPECT_EQ(run(o, Tokenizer::nucleotide(), &s), (Docs{cat(ascii("ACG"), {0}), cat(ascii("TT"), {0, 1})}));
  EXPECT_EQ(s.dropped, 1u);
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.documents, 2u);
}

TEST(ReverseComplement, NucleotidesIupacAndCase) {
  EXPECT_EQ(reverse_complement("ACGTN"), "NACGT");
  EXPECT_EQ(reverse_complement("acgtn"), "nacgt");
  EXPECT_EQ(reverse_complement("RYKMSWBDHVU"), "ABDHVWSKMRY");
  EXPECT_EQ(reverse_complement("ryk-*X|"), "|X*-mry");
  EXPECT_EQ(reverse_complement("A\xc3\xa9\xe2\x82\xacG"), "C\xe2\x82\xac\xc3\xa9T");  // characters, not bytes
  EXPECT_EQ(reverse_complement("A\x82\xe2"
                               "C"),
            "G\xe2\x82T");  // stray bytes alone
  EXPECT_EQ(reverse_complement(""), "");
}

TEST_F(PreprocessTest, ReverseComplementDocumentsFollowTheirRecord) {
  write("a.fa", ">a\nAACGn\n>b\nGGt\n");
  PreprocessOptions o = options({"a.fa"});
  o.reverse_complement = true;
  o.append_eod = true;
  PreprocessSummary s;
  EXPECT_EQ(run(o, Tokenizer::nucleotide(), &s), (Docs{cat(ascii("AACGn"), {0}), cat(ascii("nCGTT"), {0}),
                                                       cat(ascii("GGt"), {0}), cat(ascii("aCC"), {0})}));
  EXPECT_EQ(s.records, 2u);
  EXPECT_EQ(s.documents, 4u);
}

TEST_F(PreprocessTest, TagPrefixCaseChangeAndReverseComplement) {
  write("a.fa", ">a\nacgT\n");
  PreprocessOptions o = options({"a.fa"});
  o.tag_prefix = "|d__Bacteria;p__x|";
  o.case_change = CaseChange::Upper;
  o.reverse_complement = true;
  EXPECT_EQ(run(o), (Docs{ascii("|d__Bacteria;p__x|ACGT"), ascii("|d__Bacteria;p__x|ACGT")}));
  o.case_change = CaseChange::Lower;
  o.reverse_complement = false;
  o.add_bos = true;
  EXPECT_EQ(run(o), (Docs{cat({2}, ascii("|d__Bacteria;p__x|acgt"))}));
  // The tag counts towards the enforced length.
  o.add_bos = false;
  o.enforce_sample_length = 22;
  EXPECT_EQ(run(o), (Docs{ascii("|d__Bacteria;p__x|acgt")}));
  o.enforce_sample_length = 21;
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }), "record 'a' has 22 tokens");
}

TEST_F(PreprocessTest, EmptyRecordsAndUnknownCharactersAreCounted) {
  write("a.jsonl",
        "{\"text\": \"AC\\u20acG\"}\n"
        "{\"text\": \"\"}\n"
        "{\"text\": \"T\\u0001\"}\n");
  PreprocessOptions o = options({"a.jsonl"});
  o.reverse_complement = true;
  PreprocessSummary s;
  EXPECT_EQ(run(o, Tokenizer::nucleotide(), &s), (Docs{{65, 67, 3, 71}, {67, 3, 71, 84}, {84, 3}, {3, 65}}));
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.empty, 1u);
  EXPECT_EQ(s.unknown, 4u);
  EXPECT_EQ(s.documents, 4u);
}

TEST_F(PreprocessTest, JsonlFieldNamesTheOutput) {
  write("a.jsonl", "{\"seq\": \"ACGT\", \"text\": \"x\"}\n");
  PreprocessOptions o = options({"a.jsonl"});
  o.reader.jsonl_field = "seq";
  EXPECT_EQ(preprocess_dataset_prefix(o), path("out_seq_document"));
  EXPECT_EQ(run(o), (Docs{ascii("ACGT")}));
  EXPECT_TRUE(fs::exists(path("out_seq_document.idx")));
}

TEST_F(PreprocessTest, MixedFormatsAndCompressionInInputOrder) {
  write("a.fa", ">a\nAAAA\n");
  write("b.fq", "@b\nCC\n+\nII\n");
  write("c.jsonl", "{\"text\": \"GGG\"}\n");
  fs::copy_file(std::string(STRAND_TEST_DATA) + "/data/inputs/sample.fa.xz", path("d.fa.xz"));
  PreprocessOptions o = options({"c.jsonl", "a.fa", "d.fa.xz", "b.fq"});
  PreprocessSummary s;
  const Docs docs = run(o, Tokenizer::nucleotide(), &s);
  EXPECT_EQ(docs, (Docs{ascii("GGG"), ascii("AAAA"), ascii("ACGTACGTACGTacgtNNRY"),
                        ascii("TTTTGGGGCCCCAAAAACGU-*"), ascii("acgtn"), ascii("CC")}));
  EXPECT_EQ(s.files, 4u);
}

TEST_F(PreprocessTest, SkipMalformedCountsAndContinues) {
  write("a.fa", ">a\nAC\n>b\nA#C\n>c\nGG\n");
  PreprocessOptions o = options({"a.fa"});
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }),
                  path("a.fa") + ":4: invalid character '#'");
  EXPECT_EQ(files(), std::set<std::string>{"a.fa"});
  o.reader.skip_malformed = true;
  PreprocessSummary s;
  EXPECT_EQ(run(o, Tokenizer::nucleotide(), &s), (Docs{ascii("AC"), ascii("GG")}));
  EXPECT_EQ(s.skipped, 1u);
  EXPECT_EQ(s.records, 2u);
}

std::string gzip_file(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Random records over three files, one of them gzipped.
void write_random_inputs(const std::function<void(const std::string&, const std::string&)>& write) {
  std::mt19937 rng(42);
  for (int f = 0; f < 3; ++f) {
    std::string fasta;
    for (int r = 0; r < 1500; ++r) {
      fasta += ">f" + std::to_string(f) + "r" + std::to_string(r) + "\n";
      const size_t n = rng() % 300;
      for (size_t i = 0; i < n; ++i) fasta += "ACGTNacgtRY"[rng() % 11];
      fasta += "\n";
    }
    if (f == 1) {
      write("in1.fa.gz", gzip_file(fasta));
    } else {
      write("in" + std::to_string(f) + ".fa", fasta);
    }
  }
}

TEST_F(PreprocessTest, SameBytesForAnyNumberOfWorkers) {
  write_random_inputs([this](const std::string& n, const std::string& b) { write(n, b); });
  PreprocessOptions o = options({"in0.fa", "in1.fa.gz", "in2.fa"});
  o.append_eod = true;
  o.reverse_complement = true;
  o.tag_prefix = "|tag|";
  o.enforce_sample_length = 300;
  o.drop_long = true;
  o.batch_records = 7;
  std::string bin1, idx1;
  PreprocessSummary s1;
  for (const int workers : {1, 4, 2, 16}) {
    SCOPED_TRACE(workers);
    o.workers = workers;
    PreprocessSummary s;
    run(o, Tokenizer::nucleotide(), &s);
    const std::string bin = io::read_text(path("out_text_document.bin"));
    const std::string idx = io::read_text(path("out_text_document.idx"));
    if (workers == 1) {
      bin1 = bin, idx1 = idx, s1 = s;
      EXPECT_EQ(s.records, 4500u);
      EXPECT_GT(s.dropped, 0u);
      EXPECT_GT(s.documents, 8000u);
      continue;
    }
    EXPECT_EQ(bin, bin1);
    EXPECT_EQ(idx, idx1);
    EXPECT_EQ(s.documents, s1.documents);
    EXPECT_EQ(s.dropped, s1.dropped);
    EXPECT_EQ(s.tokens, s1.tokens);
    EXPECT_EQ(s.empty, s1.empty);
  }
}

// With several workers the error reported is still the first one in input order.
TEST_F(PreprocessTest, FirstErrorInInputOrderWhateverTheWorkers) {
  write_random_inputs([this](const std::string& n, const std::string& b) { write(n, b); });
  std::string bad = io::read_text(path("in2.fa"));
  bad.insert(bad.size() - 50, "\n>broken\nAC!GT\n");
  write("in2.fa", bad);
  PreprocessOptions o = options({"in0.fa", "in1.fa.gz", "in2.fa"});
  o.enforce_sample_length = 280;  // some records of in0.fa are longer: that error comes first
  o.batch_records = 5;
  std::string first;
  for (const int workers : {1, 3, 8}) {
    o.workers = workers;
    const std::string message = error_of([&] { preprocess(o, Tokenizer::nucleotide()); });
    if (workers == 1) first = message;
    EXPECT_EQ(message, first);
    EXPECT_CONTAINS(message, path("in0.fa") + ":");
    EXPECT_EQ(files(), (std::set<std::string>{"in0.fa", "in1.fa.gz", "in2.fa"}));
  }
  o.enforce_sample_length = 0;
  for (const int workers : {1, 3}) {
    o.workers = workers;
    EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }), path("in2.fa") + ":");
    EXPECT_EQ(files(), (std::set<std::string>{"in0.fa", "in1.fa.gz", "in2.fa"}));
  }
}

TEST_F(PreprocessTest, RejectsInconsistentOptions) {
  write("a.fa", ">a\nAC\n");
  PreprocessOptions o = options({"a.fa"});
  o.drop_long = true;
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }),
                  "--drop-long needs --enforce-sample-length");
  o = options({"a.fa"});
  o.workers = 0;
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }), "--workers");
  o = options({});
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }), "no input files");
  o = options({"absent.fa"});
  EXPECT_CONTAINS(error_of([&] { preprocess(o, Tokenizer::nucleotide()); }),
                  path("absent.fa") + ": cannot open");
  EXPECT_EQ(files(), std::set<std::string>{"a.fa"});
}

// ----------------------------------------------------------------------------------------------------------
// `strand preprocess` as a user runs it.

class PreprocessCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_ / "work");
  }
  std::string work(const std::string& name) const { return (dir_ / "work" / name).string(); }
  std::set<std::string> work_files() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_ / "work")) names.insert(e.path().filename().string());
    return names;
  }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(work(name), std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  RunResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"preprocess"};
    all.insert(all.end(), args.begin(), args.end());
    return testing::run_strand(all, dir_.string());
  }
};

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST_F(PreprocessCliTest, BadFastaFailsWithOneLineAndNoOutput) {
  write("bad.fa", std::string(">a\nACGT\n>b\nAC\x00GT\n", 18));
  for (const std::string workers : {"1", "4"}) {
    const RunResult r =
        run({work("bad.fa"), "--output-prefix", work("out"), "--append-eod", "--workers", workers});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err, "strand: error: " + work("bad.fa") +
                         ":4: invalid character \\x00 in the sequence of record 'b'\n");
    EXPECT_EQ(count_lines(r.err), 1u);
    EXPECT_EQ(work_files(), std::set<std::string>{"bad.fa"});
  }
  write("noheader.fa", "ACGT\n");
  const RunResult r = run({work("noheader.fa"), "--output-prefix", work("out")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("strand: error: " + work("noheader.fa") + ":1: expected '>'", 0), 0u) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u);
}

TEST_F(PreprocessCliTest, WritesTheDatasetAndASummary) {
  write("a.fa", ">a\nACGT\n>b\nGG\n");
  write("b.jsonl", "{\"text\": \"T\\u00ffA\\u0100\"}\n");
  RunResult r = run({work("a.fa"), work("b.jsonl"), "--output-prefix", work("ds"), "--append-eod",
                     "--enforce-sample-length", "6", "--reverse-complement", "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(work_files(), (std::set<std::string>{"a.fa", "b.jsonl", "ds_text_document.bin",
                                                 "ds_text_document.idx", "ds_text_document.strand.json"}));
  EXPECT_NE(r.out.find("2 files, 3 records -> 6 documents, 36 tokens (U16)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown characters: 2"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("warning: 2 characters outside the vocabulary of tokenizer 'nucleotide'"),
            std::string::npos)
      << r.err;
  const IndexedDataset ds = IndexedDataset::open(work("ds_text_document"));
  ASSERT_EQ(ds.size(), 6u);
  EXPECT_EQ(ds.get(0), (std::vector<int32_t>{65, 67, 71, 84, 0, 1}));
  EXPECT_EQ(ds.get(4), (std::vector<int32_t>{84, 255, 65, 3, 0, 1}));
  EXPECT_EQ(ds.get(5), (std::vector<int32_t>{3, 84, 255, 65, 0, 1}));

  r = run({work("a.fa"), "--output-prefix", work("ds"), "--tokenizer", "char", "--dtype", "u8", "--uppercase",
           "--lowercase"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "strand: error: --uppercase and --lowercase exclude each other\n");
}

}  // namespace
}  // namespace strand::data
