// Typed access to the fields of a transformers config.json, with errors that name the file and the key.
#pragma once

#include "strand/core/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace strand {

class HfConfigFields {
 public:
  HfConfigFields(const nlohmann::json& j, const std::string& source) : j_(j), source_(source) {
    STRAND_CHECK(j.is_object(), "{}: config must be a JSON object", source);
  }
  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  int64_t integer(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j_.at(key);
    STRAND_CHECK(v.is_number_integer(), "{}: '{}' must be an integer, got {}", source_, key, v.dump());
    return v.get<int64_t>();
  }
  int64_t required_integer(const char* key) const {
    STRAND_CHECK(has(key), "{}: missing required key '{}'", source_, key);
    return integer(key, 0);
  }
  double number(const char* key, double fallback) const { return number_of(j_, key, fallback); }
  double number_of(const nlohmann::json& obj, const char* key, double fallback) const {
    if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
    const nlohmann::json& v = obj.at(key);
    STRAND_CHECK(v.is_number(), "{}: '{}' must be a number, got {}", source_, key, v.dump());
    return v.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j_.at(key);
    STRAND_CHECK(v.is_boolean(), "{}: '{}' must be true or false, got {}", source_, key, v.dump());
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j_.at(key);
    STRAND_CHECK(v.is_string(), "{}: '{}' must be a string, got {}", source_, key, v.dump());
    return v.get<std::string>();
  }
  // Token ids may be an int or, for eos, a list of ints (the first is used).
  int64_t token_id(const char* key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j_.at(key);
    if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
    return integer(key, fallback);
  }
  const nlohmann::json& raw() const { return j_; }
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& j_;
  const std::string& source_;
};

}  // namespace strand
