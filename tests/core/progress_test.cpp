// The progress line: its text, drawn in place on a terminal and erased at the end, and nothing at all on
// anything else.
#include "strand/core/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace strand {
namespace {

TEST(ProgressLine, CountRateAndEta) {
  EXPECT_EQ(progress_line("strand score", "records", 30, 120, 20.0),
            "strand score: 30/120 records (25%), 1.5 records/s, ETA 1m00s");
  EXPECT_EQ(progress_line("strand score", "records", 3000, 10000, 10.0),
            "strand score: 3000/10000 records (30%), 300 records/s, ETA 23s");
  EXPECT_EQ(progress_line("strand embed", "records", 50, 1000000, 2.5),
            "strand embed: 50/1000000 records (0%), 20.0 records/s, ETA 13h53m");
  // Without a total (not counted yet, or not countable): the count and the rate.
  EXPECT_EQ(progress_line("strand embed", "records", 7, -1, 2.0), "strand embed: 7 records, 3.5 records/s");
  EXPECT_EQ(progress_line("strand embed", "records", 0, 10, 0.0), "strand embed: 0/10 records (0%)");
  EXPECT_EQ(progress_line("strand embed", "records", 0, 0, 1.0), "strand embed: 0/0 records");
}

// Everything written to a temporary file standing in for stderr.
std::string written(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  return s;
}

TEST(Progress, OnATerminalDrawsInPlaceAndErasesTheLineAtTheEnd) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress p("strand score", "records", out, true);
    EXPECT_TRUE(p.enabled());
    p.set_total(4);
    p.advance();  // the first advance draws at once
    p.advance();  // later ones wait for the redraw interval
    p.finish();
    EXPECT_FALSE(p.enabled());
    p.advance();  // nothing after finish
  }
  const std::string s = written(out);
  EXPECT_EQ(s.rfind("\rstrand score: 1/4 records (25%)", 0), 0u) << s;
  EXPECT_EQ(s.substr(s.size() - 4), "\r\x1b[K");
  EXPECT_EQ(s.find("2/4"), std::string::npos) << s;
  std::fclose(out);
}

TEST(Progress, AnythingButATerminalGetsNothing) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress p("strand score", "records", out, false);
    EXPECT_FALSE(p.enabled());
    p.set_total(2);
    p.advance(2);
  }
  EXPECT_EQ(written(out), "");
  std::fclose(out);
}

}  // namespace
}  // namespace strand
