// A model given the other kind of sequence: `strand score` and `strand embed` warn in one line when a protein
// model gets only DNA records, or a DNA model gets protein records, and still do the work.
#include "strand/interop/hf_checkpoint.h"
#include "strand/models/esm2/model.h"

#include "infer/tiny_esm2.h"
#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::RunResult;

class InputKindCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel llama(testing::tiny_llama_config());
    llama.init(8);
    interop::save_hf_model(llama, path("llama"));
    Esm2Model esm(testing::tiny_esm2_config());
    esm.init(8);
    interop::save_hf_model(esm, path("esm"));
    std::ofstream(path("dna.fa")) << ">chr1\nACGTACGTNN\n>chr2\nGGATTACA\n";
    std::ofstream(path("protein.fa")) << ">short\nACGT\n>p53\nMEEPQSDPSV\n";
  }
  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }

  static std::string last_line(const std::string& err) {
    const size_t start = err.rfind('\n', err.size() - 2);
    return err.substr(start == std::string::npos ? 0 : start + 1);
  }
};

TEST_F(InputKindCliTest, AProteinModelGivenDnaWarns) {
  for (const char* command : {"score", "embed"}) {
    SCOPED_TRACE(command);
    const RunResult r =
        run({command, "--model", path("esm"), "--input", path("dna.fa"), "--output", path("out")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(last_line(r.err),
              "strand " + std::string(command) + ": warning: " + path("dna.fa") +
                  ": all 2 records are DNA (only A, C, G, T, N), but the model reads protein; "
                  "is this the right input or model?\n");
    const RunResult fine =
        run({command, "--model", path("esm"), "--input", path("protein.fa"), "--output", path("out")});
    ASSERT_EQ(fine.exit_code, 0) << fine.err;
    EXPECT_EQ(fine.err.find("warning"), std::string::npos) << fine.err;
  }
}

TEST_F(InputKindCliTest, ADnaModelGivenProteinWarns) {
  for (const char* command : {"score", "embed"}) {
    SCOPED_TRACE(command);
    const RunResult r =
        run({command, "--model", path("llama"), "--input", path("protein.fa"), "--output", path("out")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(last_line(r.err),
              "strand " + std::string(command) + ": warning: " + path("protein.fa") +
                  ": 1 of 2 records look like protein (letters no nucleotide code uses, first in "
                  "record 'p53'), but the model reads DNA; is this the right input or model?\n");
    const RunResult fine =
        run({command, "--model", path("llama"), "--input", path("dna.fa"), "--output", path("out")});
    ASSERT_EQ(fine.exit_code, 0) << fine.err;
    EXPECT_EQ(fine.err.find("warning"), std::string::npos) << fine.err;
  }
}

}  // namespace
}  // namespace strand::infer
