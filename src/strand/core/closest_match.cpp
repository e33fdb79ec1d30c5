#include "strand/core/closest_match.h"

#include <algorithm>
#include <string_view>

namespace strand {
namespace {

// Edit distance (insertions, deletions, substitutions) between two short strings.
size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

// The candidate closest to `word` by edit distance, if close enough to be a plausible typo: at most
// max(2, |word|/3) edits, and not a rewrite of the whole word. Ties go to the earlier candidate.
std::optional<std::string> closest_match(const std::string& word,
                                         const std::vector<std::string>& candidates) {
  constexpr size_t kMaxCompared = 256;  // longer input is not a typo of a key
  if (word.size() > kMaxCompared) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    const size_t d = levenshtein(word, c);
    if (d < best_distance && d < std::max(word.size(), c.size())) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace strand
