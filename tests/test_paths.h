// Where tests find their data files and the strand binary: the build tree's paths, unless STRAND_TEST_DATA or
// STRAND_BINARY in the environment name others (the GPU machine runs the tests from a copy of the tree).
#pragma once

#include <cstdlib>
#include <string>

namespace strand::testing {

inline std::string test_data_dir() {
  const char* dir = std::getenv("STRAND_TEST_DATA");
  return dir != nullptr ? dir : STRAND_TEST_DATA;
}

inline std::string strand_binary() {
  const char* binary = std::getenv("STRAND_BINARY");
  return binary != nullptr ? binary : STRAND_BINARY;
}

}  // namespace strand::testing
