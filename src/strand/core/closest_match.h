// "Did you mean": the plausible intended spelling of a mistyped name among the valid ones.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace strand {

// The candidate closest to `word` by edit distance, if close enough to be a plausible typo: at most
// max(2, |word|/3) edits, and not a rewrite of the whole word. Ties go to the earlier candidate.
std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace strand
