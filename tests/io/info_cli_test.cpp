// `strand info` run as a user would: the real binary, its exit code, stdout and stderr.
#include "strand/io/checkpoint_dir.h"

#include "file_bytes.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace strand::io {
namespace {

using testing::RunResult;

namespace fs = std::filesystem;

// Files under test live in ckpt/, apart from the captured output.
class InfoCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_ / "ckpt");
  }
  std::string path(const std::string& name) const { return (dir_ / "ckpt" / name).string(); }

  RunResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"info"};
    all.insert(all.end(), args.begin(), args.end());
    return testing::run_strand(all, dir_.string());
  }

  static void write_bytes(const std::string& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
    ASSERT_TRUE(out.good()) << file;
  }
};

std::vector<NamedTensor> sample_tensors(int n) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < n; ++i) {
    Tensor t = Tensor::zeros({i + 1, 3}, i % 2 == 0 ? DType::BF16 : DType::F32);
    tensors.push_back({fmt::format("layers.{}.weight", i), t});
  }
  return tensors;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  for (size_t i = 0; i < 8; ++i) s[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return s + header + data;
}

size_t count_lines(const std::string& s, const std::string& prefix) {
  size_t n = 0;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST_F(InfoCliTest, DescribesAValidFile) {
  const std::string file = path("model.safetensors");
  save_safetensors(file, sample_tensors(3), {{"format", "pt"}});
  const RunResult r = run({file});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("tensors: 3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: 18 (18)\n"), std::string::npos) << r.out;  // 3 + 6 + 9
  EXPECT_NE(r.out.find("dtypes: BF16 x2, F32 x1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metadata: format\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nlayers.0.weight BF16 [1, 3]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nlayers.2.weight BF16 [3, 3]\n"), std::string::npos) << r.out;
}

TEST_F(InfoCliTest, LimitsTheListingUnlessAll) {
  save_tensor_store((dir_ / "ckpt").string(), sample_tensors(5), {}, 0);
  const RunResult limited = run({(dir_ / "ckpt").string(), "--limit", "2"});
  EXPECT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_EQ(count_lines(limited.out, "layers."), 2u) << limited.out;
  EXPECT_NE(limited.out.find("... 3 more"), std::string::npos) << limited.out;

  const RunResult all = run({(dir_ / "ckpt").string(), "--limit", "2", "--all"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(count_lines(all.out, "layers."), 5u) << all.out;
  EXPECT_EQ(all.out.find("more"), std::string::npos) << all.out;
}

TEST_F(InfoCliTest, DescribesAShardedDirectoryWithConfig) {
  const std::string dir = (dir_ / "ckpt").string();
  write_bytes(path("config.json"), R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})");
  save_tensor_store(dir, sample_tensors(4), {{"format", "pt"}}, 30);
  const RunResult r = run({dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("model: llama (LlamaForCausalLM)\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\nfamily: llama, Llama-3 style causal decoder"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.safetensors.index.json ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" shards)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tensors: 4\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nlayers.3.weight F32 [4, 3]\n"), std::string::npos) << r.out;
}

TEST_F(InfoCliTest, MalformedInputIsOneErrorLineNamingTheFile) {
  const std::string d8(8, '\x01');
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const struct {
    const char* name;
    std::string bytes;
  } cases[] = {
      {"truncated", safetensors_bytes("{" + a + "}", d8.substr(0, 5))},
      {"overlapping",
       safetensors_bytes("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)},
      {"bad header length", std::string("\xff\xff\xff\xff\x00\x00\x00\x00{}", 10)},
      {"unknown dtype", safetensors_bytes(R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", d8)},
      {"too short", std::string("\x01\x00", 2)},
      {"newline in tensor name",
       safetensors_bytes(R"({"a\nb":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", d8)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = path("bad.safetensors");
    write_bytes(file, c.bytes);
    const RunResult r = run({file});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("strand: error: " + file + ": ", 0), 0u) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "expected exactly one line: " << r.err;
  }
}

TEST_F(InfoCliTest, MissingPathAndBadConfigAreErrors) {
  const std::string missing = path("nope.safetensors");
  RunResult r = run({missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "strand: error: " + missing + ": no such file or directory\n");

  const std::string dir = (dir_ / "ckpt").string();
  save_tensor_store(dir, sample_tensors(1), {}, 0);
  write_bytes(path("config.json"), R"({"model_type": "llama",)");
  r = run({dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("strand: error: " + path("config.json") + ": invalid JSON", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

TEST_F(InfoCliTest, AFileThatIsNoSafetensorsSaysWhatItIsNotAndWhatInfoReads) {
  const std::string accepts =
      "; strand info reads a safetensors file, a model or checkpoint directory (model.safetensors or "
      "model.safetensors.index.json inside), a .index.json, or a Megatron dataset prefix (PATH.idx + "
      "PATH.bin)\n";
  const struct {
    const char* name;
    std::string bytes;
    const char* looks_like;
  } cases[] = {
      {"genome.fa", ">chr1 E. coli\nACGTACGTACGT\n", "FASTA"},
      {"tiny.fa", ">r\nAC\n", "FASTA"},
      {"reads.fq", "@r1\nACGT\n+\nIIII\n", "FASTQ"},
      {"genome.fa.gz", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10), "gzip-compressed data"},
      {"notes.txt", "just some text\n", "something else"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_bytes(path(c.name), c.bytes);
    const RunResult r = run({path(c.name)});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "strand: error: " + path(c.name) + ": not a safetensors file (it looks like " +
                         c.looks_like + "), nor a model directory" + accepts);
  }
  const std::string empty_dir = path("empty");
  fs::create_directories(empty_dir);
  const RunResult r = run({empty_dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "strand: error: " + empty_dir +
                       ": a directory without model.safetensors or model.safetensors.index.json" + accepts);
}

}  // namespace
}  // namespace strand::io
