#include "strand/train/resume_check.h"

#include "strand/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace strand {
namespace {

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
  if (!j.is_object()) {
    out[prefix] = j;
    return;
  }
  for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
}

bool under(const std::string& key, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes) {
    const std::string s(p);
    if (s.ends_with(".") ? key.starts_with(s) : key == s) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> check_resume_config(const nlohmann::json& saved, const nlohmann::json& current,
                                             const std::string& checkpoint) {
  std::map<std::string, nlohmann::json> before, now;
  flatten(saved, "", before);
  flatten(current, "", now);
  std::vector<std::string> conflicts, changes;
  for (const auto& [key, value] : now) {
    const auto it = before.find(key);
    if (it == before.end() || it->second == value) continue;
    const std::string change = fmt::format("{}: {} -> {}", key, it->second.dump(), value.dump());
    if (under(key, {"model.", "data.", "batch.", "loss.", "train.seed"})) {
      conflicts.push_back(fmt::format("{} was {}, now {}", key, it->second.dump(), value.dump()));
    } else if (under(key, {"optimizer.", "schedule.", "train.max_steps"})) {
      changes.push_back(change);
    }
  }
  STRAND_CHECK(
      conflicts.empty(),
      "checkpoint {} belongs to another run: {}; resume with the recipe that wrote it, or start afresh "
      "with run.overwrite=true",
      checkpoint, fmt::join(conflicts, "; "));
  return changes;
}

}  // namespace strand
