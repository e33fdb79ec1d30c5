// Output paths of `strand score`, `embed` and `forward` that are not plain files (Note [Output targets] in
// io/atomic_file.cpp): /dev/null stays a device, a FIFO's reader gets the bytes, /dev/stdout is the
// process's stdout, a symlink stays a link whose target gets the contents, and a directory is an error
// naming it. A failed run leaves an existing output as it was.
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"

#include "file_bytes.h"
#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

namespace strand::io {
namespace {

namespace fs = std::filesystem;
using testing::RunResult;

bool is_char_device(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

class OutputTargetsCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel model(testing::tiny_llama_config());
    model.init(4);
    interop::save_hf_model(model, path("model"));
    std::ofstream(path("in.fa")) << ">a\nACGTACGT\n>b\nGGATTACA\n";
    const RunResult plain = score_to(path("plain.tsv"));
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    expected_ = read_text(path("plain.tsv"));
    ASSERT_EQ(expected_.rfind("id\tlength\t", 0), 0u) << expected_;
  }

  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }
  RunResult score_to(const std::string& output) const {
    return run({"score", "--model", path("model"), "--input", path("in.fa"), "--output", output});
  }

  std::string expected_;  // the TSV written to a plain file
};

TEST_F(OutputTargetsCliTest, DevNullStaysACharacterDevice) {
  ASSERT_TRUE(is_char_device("/dev/null"));
  const RunResult r = score_to("/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(is_char_device("/dev/null"));
  const RunResult embed =
      run({"embed", "--model", path("model"), "--input", path("in.fa"), "--output", "/dev/null"});
  ASSERT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_TRUE(is_char_device("/dev/null"));
}

TEST_F(OutputTargetsCliTest, AFifoGetsTheBytes) {
  const std::string fifo = path("scores.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::future<std::string> read = std::async(std::launch::async, [&fifo] { return read_text(fifo); });
  const RunResult r = score_to(fifo);
  release_reader(fifo);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read.get(), expected_);
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(OutputTargetsCliTest, DevStdoutIsTheProcesssStdout) {
  const RunResult r = score_to("/dev/stdout");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_);
}

TEST_F(OutputTargetsCliTest, ASymlinkStaysALinkAndItsTargetGetsTheContents) {
  fs::create_directory(dir_ / "results");
  std::ofstream(path("results/scores.tsv")) << "old\n";
  fs::create_symlink("results/scores.tsv", dir_ / "latest.tsv");
  const RunResult r = score_to(path("latest.tsv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "latest.tsv"));
  EXPECT_EQ(read_text(path("results/scores.tsv")), expected_);

  fs::create_symlink("results/embeddings.st", dir_ / "latest.st");  // dangling until written
  const RunResult embed =
      run({"embed", "--model", path("model"), "--input", path("in.fa"), "--output", path("latest.st")});
  ASSERT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "latest.st"));
  EXPECT_EQ(SafetensorsFile::open(path("results/embeddings.st")).info("embeddings").shape, (Shape{2, 16}));
}

TEST_F(OutputTargetsCliTest, ADirectoryIsAnErrorNamingIt) {
  fs::create_directory(dir_ / "out");
  const RunResult r = score_to(path("out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "strand: error: " + path("out") + ": is a directory, not a file to write\n");
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));
  const RunResult embed =
      run({"embed", "--model", path("model"), "--input", path("in.fa"), "--output", path("out")});
  EXPECT_EQ(embed.exit_code, 1);
  EXPECT_EQ(embed.err.rfind("strand: error: " + path("out") + ": is a directory", 0), 0u) << embed.err;
}

TEST_F(OutputTargetsCliTest, ForwardWritesToDevNull) {
  Tensor ids = Tensor::empty({4}, DType::I32), cu = Tensor::empty({2}, DType::I32);
  for (int i = 0; i < 4; ++i) ids.data<int32_t>()[i] = 65 + i;
  cu.data<int32_t>()[0] = 0;
  cu.data<int32_t>()[1] = 4;
  save_safetensors(path("inputs.st"), {{"input_ids", ids}, {"cu_seqlens", cu}});
  const RunResult r =
      run({"forward", "--model", path("model"), "--inputs", path("inputs.st"), "--out", "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(is_char_device("/dev/null"));
}

TEST_F(OutputTargetsCliTest, AFailedRunLeavesAnExistingOutputAsItWas) {
  std::ofstream(path("bad.fa")) << ">ok\nACGT\n>huge\n" << std::string(300, 'A') << "\n";
  const RunResult r =
      run({"score", "--model", path("model"), "--input", path("bad.fa"), "--output", path("plain.tsv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(read_text(path("plain.tsv")), expected_);
  EXPECT_EQ(files().count(".plain.tsv.tmp"), 0u);
  for (const std::string& name : files()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

}  // namespace
}  // namespace strand::io
