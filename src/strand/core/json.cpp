#include "strand/core/json.h"

#include "strand/core/error.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <vector>

namespace strand {
namespace {

constexpr int kMaxJsonDepth = 64;

}  // namespace

nlohmann::json parse_json_strict(std::string_view text) {
  // nlohmann::json takes a NUL byte for the end of input and would accept whatever follows it.
  const size_t nul = text.find('\0');
  STRAND_CHECK(nul == std::string_view::npos, "invalid JSON: NUL byte at offset {}", nul);
  std::vector<std::unordered_set<std::string>> open_objects;  // keys seen so far in each enclosing object
  const nlohmann::json::parser_callback_t check =
      [&open_objects](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        STRAND_CHECK(depth <= kMaxJsonDepth, "JSON nests deeper than {} levels", kMaxJsonDepth);
        if (event == Event::object_start) {
          open_objects.emplace_back();
        } else if (event == Event::object_end) {
          open_objects.pop_back();
        } else if (event == Event::key) {
          const auto& key = parsed.get_ref<const std::string&>();
          STRAND_CHECK(open_objects.back().insert(key).second, "duplicate key '{}'", printable(key));
        }
        return true;
      };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("invalid JSON: {}", e.what()));
  }
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  STRAND_CHECK(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  STRAND_CHECK(!in.bad(), "{}: read failed", path);
  try {
    return parse_json_strict(text.str());
  } catch (const Error& e) {
    rethrow_with_context(e, path);
  }
}

}  // namespace strand
