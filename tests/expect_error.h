// Checking strand::Error messages in tests.
#pragma once

#include "strand/core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace strand::testing {

// The message of the strand::Error that `fn` throws ("" and a test failure when it throws none). Messages are
// one line by contract, and this checks it.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "no strand::Error thrown";
  return "";
}

}  // namespace strand::testing

#define EXPECT_CONTAINS(haystack, needle)                          \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "'" << (haystack) << "' lacks '" << (needle) << "'"
