// The fixture of the `strand train` command-line tests: the binary run with a tiny recipe in a fresh
// directory, and the checks of a one-line error.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "run_strand.h"
#include "temp_dir.h"

namespace strand::testing {

class TrainCli : public TempDirTest {
 protected:
  // `args` is split at spaces (test paths hold none).
  RunResult run(const std::string& args) const {
    std::vector<std::string> words;
    std::istringstream in(args);
    for (std::string w; in >> w;) words.push_back(w);
    return run_strand(words, dir_.string());
  }
  std::string tiny() const {
    return std::string("model.hidden_size=32 model.intermediate_size=64 model.num_hidden_layers=1 ") +
           "model.num_attention_heads=2 model.num_key_value_heads=1 data.max_length=64 batch.tokens=256 " +
           "schedule.warmup_steps=1 train.log_every=1 train.eval_every=0 checkpoint.save_every=0 "
           "run.tensorboard=false " +
           "data.train=[" + STRAND_TEST_DATA + "/data/ecoli_k12_excerpt.fa] data.val=[] train.threads=1 ";
  }
  static void expect_one_error_line(const RunResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err.rfind("strand: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
};

}  // namespace strand::testing
