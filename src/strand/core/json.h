// JSON from files strand did not write (safetensors headers, config.json, checkpoint indexes): strict parsing
// and messages that stay on one line whatever the file holds.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace strand {

// Parses JSON that must not repeat a key within any object (the safetensors rule; nlohmann::json would
// silently keep the last value) nor nest deeper than 64 levels. Throws strand::Error with the parser's
// one-line message.
nlohmann::json parse_json_strict(std::string_view text);

// `s` with control characters written as \xNN, so that a name read from an untrusted file stays on one line
// of a message or a listing.
std::string printable(std::string_view s);

// Reads and parses a JSON file strictly; errors start with the path.
nlohmann::json read_json_file(const std::string& path);

}  // namespace strand
