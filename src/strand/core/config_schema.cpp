#include "strand/core/config_schema.h"

#include "strand/core/closest_match.h"
#include "strand/core/error.h"
#include "strand/core/json.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

namespace strand {
namespace {

enum class FieldType { kInt, kFloat, kBool, kString, kList, kChoice };

using Target = std::variant<int64_t*, double*, bool*, std::string*, std::vector<std::string>*>;
using Value = std::variant<int64_t, double, bool, std::string, std::vector<std::string>>;

struct Field {
  std::string key;
  FieldType type;
  Target target;
  Value default_value;
  std::vector<std::string> choices;  // kChoice only
  std::string doc;
  std::optional<NumericRange> range = std::nullopt;  // kInt and kFloat only
  bool set = false;
};

// A value as written in YAML or in an override, before it is checked against the field's type.
struct RawValue {
  enum class Kind { kScalar, kNull, kList };
  Kind kind = Kind::kNull;
  std::string text;                // kScalar
  std::vector<std::string> items;  // kList
};

constexpr size_t kMaxShown = 60;  // longest user text quoted in full in a message

// `s` made safe for a one-line message: control characters escaped, long text cut.
std::string shown(std::string_view s) {
  std::string out = printable(s.substr(0, std::min(s.size(), kMaxShown + 1)));
  if (s.size() > kMaxShown) out = out.substr(0, kMaxShown - 3) + "...";
  return out;
}

std::string describe(const RawValue& v) {
  switch (v.kind) {
    case RawValue::Kind::kNull:
      return "null";
    case RawValue::Kind::kList:
      return "a list";
    case RawValue::Kind::kScalar:
      break;
  }
  return "'" + shown(v.text) + "'";
}

std::string describe(const nlohmann::json& j) {
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  return shown(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string last_segment(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool is_valid_key(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '.') {
      if (key[i + 1] == '.') return false;
    } else if (!is_key_char(key[i])) {
      return false;
    }
  }
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// YAML 1.2 core-schema decimal integer: [-+]?[0-9]+.
bool looks_like_integer(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (!is_digit(s[i])) return false;
  return true;
}

// YAML 1.2 core-schema number without inf/nan: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?.
bool looks_like_number(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t mantissa_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++mantissa_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exponent_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == s.size();
}

// from_chars takes no leading '+'.
std::string_view without_plus(std::string_view s) {
  return (!s.empty() && s[0] == '+') ? s.substr(1) : s;
}

int64_t to_int(const Field& f, const RawValue& v) {
  STRAND_CHECK(v.kind == RawValue::Kind::kScalar && looks_like_integer(v.text),
               "'{}' must be an integer, got {}", f.key, describe(v));
  const std::string_view digits = without_plus(v.text);
  int64_t out = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  STRAND_CHECK(ec != std::errc::result_out_of_range, "'{}' must be a 64-bit integer, got {} (out of range)",
               f.key, describe(v));
  STRAND_ASSERT(ec == std::errc() && end == digits.data() + digits.size());
  return out;
}

double to_float(const Field& f, const RawValue& v) {
  STRAND_CHECK(v.kind == RawValue::Kind::kScalar && looks_like_number(v.text),
               "'{}' must be a number, got {}", f.key, describe(v));
  const std::string_view digits = without_plus(v.text);
  double out = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  STRAND_CHECK(ec != std::errc::result_out_of_range, "'{}' must be a number, got {} (out of double range)",
               f.key, describe(v));
  STRAND_ASSERT(ec == std::errc() && end == digits.data() + digits.size());
  return out;
}

bool to_bool(const Field& f, const RawValue& v) {
  if (v.kind == RawValue::Kind::kScalar) {
    if (v.text == "true" || v.text == "True" || v.text == "TRUE") return true;
    if (v.text == "false" || v.text == "False" || v.text == "FALSE") return false;
  }
  throw Error(fmt::format("'{}' must be true or false, got {}", f.key, describe(v)));
}

std::string to_string(const Field& f, const RawValue& v) {
  STRAND_CHECK(v.kind != RawValue::Kind::kList, "'{}' must be a string, got a list", f.key);
  return v.text;  // empty for null
}

std::string to_choice(const Field& f, const RawValue& v) {
  const std::string choices = join(f.choices, ", ");
  STRAND_CHECK(v.kind == RawValue::Kind::kScalar, "'{}' must be one of [{}], got {}", f.key, choices,
               describe(v));
  if (std::find(f.choices.begin(), f.choices.end(), v.text) != f.choices.end()) return v.text;
  const std::optional<std::string> guess = closest_match(v.text, f.choices);
  throw Error(fmt::format("'{}' must be one of [{}], got {}{}", f.key, choices, describe(v),
                          guess ? fmt::format(" (did you mean '{}'?)", *guess) : ""));
}

std::vector<std::string> to_list(const Field& f, const RawValue& v) {
  switch (v.kind) {
    case RawValue::Kind::kNull:
      return {};
    case RawValue::Kind::kList:
      return v.items;
    case RawValue::Kind::kScalar:
      break;
  }
  throw Error(fmt::format("'{}' must be a list of strings, got {}", f.key, describe(v)));
}

// The typed value `v` holds for field `f`; throws a message naming the key.
Value convert_type(const Field& f, const RawValue& v) {
  switch (f.type) {
    case FieldType::kInt:
      return to_int(f, v);
    case FieldType::kFloat:
      return to_float(f, v);
    case FieldType::kBool:
      return to_bool(f, v);
    case FieldType::kString:
      return to_string(f, v);
    case FieldType::kList:
      return to_list(f, v);
    case FieldType::kChoice:
      return to_choice(f, v);
  }
  STRAND_ASSERT(false);
}

Value convert_type(const Field& f, const nlohmann::json& j) {
  switch (f.type) {
    case FieldType::kInt:
      STRAND_CHECK(j.is_number_integer(), "'{}' must be an integer, got {}", f.key, describe(j));
      STRAND_CHECK(
          !j.is_number_unsigned() || j.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()},
          "'{}' must be a 64-bit integer, got {} (out of range)", f.key, describe(j));
      return j.get<int64_t>();
    case FieldType::kFloat:
      STRAND_CHECK(j.is_number(), "'{}' must be a number, got {}", f.key, describe(j));
      return j.get<double>();
    case FieldType::kBool:
      STRAND_CHECK(j.is_boolean(), "'{}' must be true or false, got {}", f.key, describe(j));
      return j.get<bool>();
    case FieldType::kString:
      STRAND_CHECK(j.is_string(), "'{}' must be a string, got {}", f.key, describe(j));
      return j.get<std::string>();
    case FieldType::kChoice: {
      STRAND_CHECK(j.is_string(), "'{}' must be one of [{}], got {}", f.key, join(f.choices, ", "),
                   describe(j));
      RawValue v;
      v.kind = RawValue::Kind::kScalar;
      v.text = j.get<std::string>();
      return to_choice(f, v);
    }
    case FieldType::kList: {
      STRAND_CHECK(j.is_array(), "'{}' must be an array of strings, got {}", f.key, describe(j));
      std::vector<std::string> items;
      for (size_t i = 0; i < j.size(); ++i) {
        STRAND_CHECK(j[i].is_string(), "'{}' must be an array of strings, got {} at index {}", f.key,
                     describe(j[i]), i);
        items.push_back(j[i].get<std::string>());
      }
      return items;
    }
  }
  STRAND_ASSERT(false);
}

std::string format_value(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return x.empty() ? "\"\"" : x;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          return fmt::format("[{}]", join(x, ", "));
        } else if constexpr (std::is_same_v<T, double>) {
          std::string text = fmt::format("{}", x);  // shortest round-trip form
          if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";  // 32 -> 32.0
          return text;
        } else {
          return fmt::format("{}", x);
        }
      },
      v);
}

// The field's range checked on a converted value.
Value in_range(const Field& f, Value v) {
  if (!f.range) return v;
  const double x =
      std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v)) : std::get<double>(v);
  if (!f.range->contains(x))
    throw Error(fmt::format("'{}' must be {}, got {}", f.key, f.range->str(), format_value(v)));
  return v;
}

template <typename Raw>
Value convert(const Field& f, const Raw& raw) {
  return in_range(f, convert_type(f, raw));
}

void store(Field& f, const Value& v) {
  std::visit([&v](auto* target) { *target = std::get<std::remove_pointer_t<decltype(target)>>(v); },
             f.target);
}

nlohmann::json current_json(const Field& f) {
  return std::visit([](const auto* target) { return nlohmann::json(*target); }, f.target);
}

std::string type_name(const Field& f) {
  switch (f.type) {
    case FieldType::kInt:
      return "int";
    case FieldType::kFloat:
      return "float";
    case FieldType::kBool:
      return "bool";
    case FieldType::kString:
      return "string";
    case FieldType::kList:
      return "list";
    case FieldType::kChoice:
      return join(f.choices, "|");
  }
  STRAND_ASSERT(false);
}

// --- Overrides ---

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

bool is_quote(char c) {
  return c == '\'' || c == '"';
}

// `s` without one pair of matching surrounding quotes.
std::string unquote(std::string_view s) {
  if (s.size() >= 2 && is_quote(s.front()) && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return std::string(s);
}

// "[a, 'b,c', d]" -> {"a", "b,c", "d"}. Elements are trimmed; quoted ones keep commas and spaces.
std::vector<std::string> parse_list_literal(std::string_view s) {
  STRAND_CHECK(s.size() >= 2 && s.back() == ']', "list value must end with ']'");
  const std::string_view inner = trim(s.substr(1, s.size() - 2));
  std::vector<std::string> items;
  if (inner.empty()) return items;
  size_t i = 0;
  while (true) {
    while (i < inner.size() && (inner[i] == ' ' || inner[i] == '\t')) ++i;
    std::string item;
    if (i < inner.size() && is_quote(inner[i])) {
      const size_t close = inner.find(inner[i], i + 1);
      STRAND_CHECK(close != std::string_view::npos, "unterminated quote in list element {}",
                   items.size() + 1);
      item = std::string(inner.substr(i + 1, close - i - 1));
      i = close + 1;
      while (i < inner.size() && (inner[i] == ' ' || inner[i] == '\t')) ++i;
      STRAND_CHECK(i == inner.size() || inner[i] == ',', "expected ',' after quoted list element {}",
                   items.size() + 1);
    } else {
      const size_t comma = std::min(inner.find(',', i), inner.size());
      item = std::string(trim(inner.substr(i, comma - i)));
      STRAND_CHECK(!item.empty(), "empty element {} in list (quote it as '' to mean the empty string)",
                   items.size() + 1);
      STRAND_CHECK(item.find_first_of("[]") == std::string::npos, "nested lists are not supported");
      i = comma;
    }
    items.push_back(std::move(item));
    if (i == inner.size()) return items;
    ++i;  // the comma
  }
}

RawValue parse_override_value(const Field& f, std::string_view text) {
  RawValue v;
  if (text == "null") return v;
  if (f.type == FieldType::kList) {
    v.kind = RawValue::Kind::kList;
    if (!text.empty() && text.front() == '[') {
      v.items = parse_list_literal(text);
    } else if (!text.empty()) {
      v.items.push_back(unquote(text));
    }
    return v;
  }
  v.kind = RawValue::Kind::kScalar;
  v.text = unquote(text);
  return v;
}

// --- YAML ---

std::string yaml_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "null";
  }
}

// "source:LINE: message", or "source: message" where yaml-cpp has no position.
std::string at(const std::string& source, const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null() || mark.line < 0) return fmt::format("{}: {}", source, message);
  return fmt::format("{}:{}: {}", source, mark.line + 1, message);
}

// A YAML scalar, sequence or null as a RawValue. Plain null ("~", "null", nothing) is null; a quoted "null"
// is the string. A null sequence element is the empty string. REQUIRES: not a mapping; sequence elements
// checked by check_list_elements() where they matter.
RawValue raw_from_yaml(const YAML::Node& node) {
  RawValue v;
  if (node.IsNull()) return v;
  if (node.IsScalar()) {
    v.kind = RawValue::Kind::kScalar;
    v.text = node.Scalar();
    return v;
  }
  STRAND_ASSERT(node.IsSequence());
  v.kind = RawValue::Kind::kList;
  for (const YAML::Node& item : node) v.items.push_back(item.IsScalar() ? item.Scalar() : std::string());
  return v;
}

// Every element of the sequence given for list field `key` is a scalar or null; errors give the element's
// line.
void check_list_elements(const YAML::Node& sequence, const std::string& key, const std::string& source) {
  size_t index = 0;
  for (const YAML::Node& item : sequence) {
    ++index;
    if (!item.IsScalar() && !item.IsNull())
      throw Error(at(
          source, item.Mark(),
          fmt::format("'{}' must be a list of strings, got {} as element {}", key, yaml_kind(item), index)));
  }
}

}  // namespace

struct ConfigSchema::Impl {
  std::vector<Field> fields;                      // in the order added
  std::unordered_map<std::string, size_t> index;  // key -> position in `fields`
  std::vector<std::string> sections;              // every proper prefix of a key, in first-appearance order
  std::unordered_set<std::string> section_set;
  bool skip_unknown = false;

  // True when `key` is no field and such keys are skipped.
  bool skipped(const std::string& key) const { return skip_unknown && !index.contains(key); }

  void add(Field f) {
    STRAND_CHECK(is_valid_key(f.key), "config schema: invalid key '{}' (dotted segments of [A-Za-z0-9_-])",
                 shown(f.key));
    STRAND_CHECK(!index.contains(f.key), "config schema: key '{}' added twice", f.key);
    STRAND_CHECK(!section_set.contains(f.key),
                 "config schema: '{}' is already a section, so it cannot be a field", f.key);
    std::visit(
        [&f](const auto* target) {
          STRAND_CHECK(target != nullptr, "config schema: '{}' has no target", f.key);
        },
        f.target);
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', dot + 1)) {
      const std::string section = f.key.substr(0, dot);
      STRAND_CHECK(!index.contains(section), "config schema: '{}' is a field, so '{}' cannot be under it",
                   section, f.key);
    }
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', dot + 1)) {
      std::string section = f.key.substr(0, dot);
      if (section_set.insert(section).second) sections.push_back(std::move(section));
    }
    store(f, f.default_value);
    index.emplace(f.key, fields.size());
    fields.push_back(std::move(f));
  }

  Field* find(const std::string& key) {
    const auto it = index.find(key);
    return it == index.end() ? nullptr : &fields[it->second];
  }

  // Why `key` names no field: a section, under a field, or unknown (with the closest valid key).
  std::string not_a_field(const std::string& key) const {
    if (section_set.contains(key)) return fmt::format("'{}' is a section, not a value", key);
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
      const std::string prefix = key.substr(0, dot);
      if (index.contains(prefix)) return fmt::format("'{}' is a value, not a section", prefix);
    }
    std::vector<std::string> candidates;
    candidates.reserve(fields.size() + sections.size());
    for (const Field& f : fields) candidates.push_back(f.key);
    candidates.insert(candidates.end(), sections.begin(), sections.end());
    std::optional<std::string> guess = closest_match(key, candidates);
    if (!guess) {
      // The right name in the wrong section ("lr" for "optimizer.lr").
      const std::string leaf = last_segment(key);
      for (const Field& f : fields) {
        if (last_segment(f.key) == leaf) {
          guess = f.key;
          break;
        }
      }
    }
    return fmt::format("unknown key '{}'{}", shown(key),
                       guess ? fmt::format(" (did you mean '{}'?)", *guess) : "");
  }

  Field& field(const std::string& key) {
    Field* f = find(key);
    if (f == nullptr) throw Error(not_a_field(key));
    return *f;
  }

  void reset(Field& f) {
    store(f, f.default_value);
    f.set = false;
  }

  void apply_override(const std::string& text) {
    if (!text.empty() && text[0] == '~') {
      const std::string key = text.substr(1);
      STRAND_CHECK(!key.empty(), "missing key after '~'");
      STRAND_CHECK(key.find('=') == std::string::npos, "'~KEY' resets KEY to its default and takes no value");
      if (section_set.contains(key)) {
        for (Field& f : fields)
          if (f.key.starts_with(key + ".")) reset(f);
        return;
      }
      if (!skipped(key)) reset(field(key));
      return;
    }
    std::string_view body = text;
    if (body.starts_with("++")) {
      body.remove_prefix(2);
    } else if (body.starts_with("+")) {
      body.remove_prefix(1);
    }
    const size_t eq = body.find('=');
    STRAND_CHECK(eq != std::string_view::npos, "expected KEY=VALUE, +KEY=VALUE, ++KEY=VALUE or ~KEY");
    const std::string key(body.substr(0, eq));
    STRAND_CHECK(!key.empty(), "missing key before '='");
    if (skipped(key)) return;
    Field& f = field(key);
    const Value v = convert(f, parse_override_value(f, body.substr(eq + 1)));
    store(f, v);
    f.set = true;
  }

  // Walks one YAML mapping; `seen` holds the dotted keys of the document so far with their lines, to reject a
  // key given twice (yaml-cpp keeps both entries).
  void load_yaml_mapping(const YAML::Node& mapping, const std::string& prefix, const std::string& source,
                         std::unordered_map<std::string, int>& seen) {
    for (const auto& entry : mapping) {  // entries are proxies: copy the (cheap) node handles out
      const YAML::Node key_node = entry.first;
      const YAML::Node value = entry.second;
      const YAML::Mark mark = key_node.Mark();
      if (!key_node.IsScalar() || key_node.Scalar().empty())
        throw Error(
            at(source, mark, fmt::format("keys must be non-empty strings, got {}", yaml_kind(key_node))));
      if (key_node.Scalar() == "<<")
        throw Error(at(source, mark, "YAML merge keys ('<<') are not supported"));
      const std::string key = prefix.empty() ? key_node.Scalar() : prefix + "." + key_node.Scalar();
      const auto [previous, inserted] = seen.emplace(key, mark.line + 1);
      if (!inserted)
        throw Error(
            at(source, mark,
               fmt::format("duplicate key '{}' (first given at line {})", shown(key), previous->second)));
      Field* f = find(key);
      if (f == nullptr && skip_unknown && !section_set.contains(key)) continue;
      if (value.IsMap()) {
        if (f != nullptr) throw Error(at(source, mark, fmt::format("'{}' is a value, not a section", key)));
        if (!section_set.contains(key)) throw Error(at(source, mark, not_a_field(key)));
        load_yaml_mapping(value, key, source, seen);
        continue;
      }
      if (f == nullptr) {
        if (section_set.contains(key) && (value.IsNull() || skip_unknown)) continue;  // an empty section
        throw Error(at(source, mark, not_a_field(key)));
      }
      if (value.IsSequence() && f->type == FieldType::kList) check_list_elements(value, key, source);
      Value v;
      try {
        v = convert(*f, raw_from_yaml(value));
      } catch (const Error& e) {
        throw Error(at(source, mark, e.what()));
      }
      store(*f, v);
      f->set = true;
    }
  }

  void load_json_object(const nlohmann::json& values, const std::string& prefix) {
    for (const auto& [name, value] : values.items()) {
      const std::string key = prefix.empty() ? name : prefix + "." + name;
      Field* f = find(key);
      if (f == nullptr && skip_unknown && !section_set.contains(key)) continue;
      if (value.is_object()) {
        STRAND_CHECK(f == nullptr, "'{}' is a value, not a section", key);
        if (!section_set.contains(key)) throw Error(not_a_field(key));
        load_json_object(value, key);
        continue;
      }
      if (f == nullptr) throw Error(not_a_field(key));
      const Value v = convert(*f, value);
      store(*f, v);
      f->set = true;
    }
  }
};

ConfigSchema::ConfigSchema() : impl_(std::make_unique<Impl>()) {}
ConfigSchema::~ConfigSchema() = default;

void ConfigSchema::add(const std::string& key, int64_t* target, int64_t default_value,
                       const std::string& doc) {
  impl_->add(Field{key, FieldType::kInt, target, default_value, {}, doc});
}

void ConfigSchema::add(const std::string& key, double* target, double default_value, const std::string& doc) {
  impl_->add(Field{key, FieldType::kFloat, target, default_value, {}, doc});
}

void ConfigSchema::add(const std::string& key, int64_t* target, int64_t default_value, NumericRange range,
                       const std::string& doc) {
  Field f{key, FieldType::kInt, target, default_value, {}, doc, range};
  in_range(f, default_value);
  impl_->add(std::move(f));
}

void ConfigSchema::add(const std::string& key, double* target, double default_value, NumericRange range,
                       const std::string& doc) {
  Field f{key, FieldType::kFloat, target, default_value, {}, doc, range};
  in_range(f, default_value);
  impl_->add(std::move(f));
}

void ConfigSchema::add(const std::string& key, bool* target, bool default_value, const std::string& doc) {
  impl_->add(Field{key, FieldType::kBool, target, default_value, {}, doc});
}

void ConfigSchema::add(const std::string& key, std::string* target, const std::string& default_value,
                       const std::string& doc) {
  impl_->add(Field{key, FieldType::kString, target, default_value, {}, doc});
}

void ConfigSchema::add(const std::string& key, std::vector<std::string>* target,
                       const std::vector<std::string>& default_value, const std::string& doc) {
  impl_->add(Field{key, FieldType::kList, target, default_value, {}, doc});
}

void ConfigSchema::add_choice(const std::string& key, std::string* target, const std::string& default_value,
                              const std::vector<std::string>& choices, const std::string& doc) {
  STRAND_CHECK(!choices.empty(), "config schema: '{}' has no choices", key);
  STRAND_CHECK(std::find(choices.begin(), choices.end(), default_value) != choices.end(),
               "config schema: default '{}' of '{}' is not one of [{}]", default_value, key,
               join(choices, ", "));
  impl_->add(Field{key, FieldType::kChoice, target, default_value, choices, doc});
}

void ConfigSchema::skip_unknown_keys() {
  impl_->skip_unknown = true;
}

void ConfigSchema::load_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  STRAND_CHECK(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  STRAND_CHECK(!in.bad(), "{}: read failed", path);
  load_yaml_string(text.str(), path);
}

void ConfigSchema::load_yaml_string(const std::string& text, const std::string& source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw Error(at(source_name, e.mark, "invalid YAML: " + printable(e.msg)));
  }
  if (documents.empty()) return;
  if (documents.size() > 1)
    throw Error(at(source_name, documents[1].Mark(),
                   fmt::format("a recipe is one YAML document, found {}", documents.size())));
  const YAML::Node& top = documents[0];
  if (top.IsNull()) return;
  if (!top.IsMap())
    throw Error(at(source_name, top.Mark(),
                   fmt::format("the top level must be a mapping of keys to values, got {}", yaml_kind(top))));
  std::unordered_map<std::string, int> seen;
  try {
    impl_->load_yaml_mapping(top, "", source_name, seen);
  } catch (const YAML::Exception& e) {
    throw Error(at(source_name, e.mark, "invalid YAML: " + printable(e.msg)));
  }
}

void ConfigSchema::apply_override(const std::string& override_text) {
  try {
    impl_->apply_override(override_text);
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("override '{}'", shown(override_text)));
  }
}

void ConfigSchema::apply_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_override(o);
}

std::string ConfigSchema::help() const {
  struct Row {
    std::string key, type, doc;
  };
  // Groups by the key's section, top level first, then sections in first-appearance order.
  std::vector<std::pair<std::string, std::vector<Row>>> groups{{"", {}}};
  // A long default (a list of paths) is not padded to, so that it does not push every description right.
  constexpr size_t kMaxAlignedType = 40;
  size_t key_width = 0, type_width = 0;
  for (const Field& f : impl_->fields) {
    const size_t dot = f.key.rfind('.');
    const std::string section = dot == std::string::npos ? "" : f.key.substr(0, dot);
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == section; });
    if (group == groups.end()) {
      groups.emplace_back(section, std::vector<Row>{});
      group = std::prev(groups.end());
    }
    const std::string range = f.range ? fmt::format(" {}", f.range->str()) : std::string();
    Row row{f.key, fmt::format("({}{}, default {})", type_name(f), range, format_value(f.default_value)),
            f.doc};
    key_width = std::max(key_width, row.key.size());
    if (row.type.size() <= kMaxAlignedType) type_width = std::max(type_width, row.type.size());
    group->second.push_back(std::move(row));
  }
  std::string out;
  for (const auto& [section, rows] : groups) {
    if (rows.empty()) continue;
    if (!out.empty()) out += '\n';
    if (!section.empty()) out += section + ":\n";
    for (const Row& row : rows) {
      std::string line =
          fmt::format("  {:<{}}  {:<{}}  {}", row.key, key_width, row.type, type_width, row.doc);
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + '\n';
    }
  }
  return out;
}

nlohmann::json ConfigSchema::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (const Field& f : impl_->fields) {
    nlohmann::json* node = &out;
    size_t start = 0;
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', start)) {
      node = &(*node)[f.key.substr(start, dot - start)];
      start = dot + 1;
    }
    (*node)[f.key.substr(start)] = current_json(f);
  }
  return out;
}

std::string ConfigSchema::to_yaml() const {
  YAML::Node root(YAML::NodeType::Map);
  for (const Field& f : impl_->fields) {
    std::vector<std::string> path;
    for (size_t start = 0, dot;; start = dot + 1) {
      dot = f.key.find('.', start);
      path.push_back(f.key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
    }
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < path.size(); ++i) chain.push_back(chain.back()[path[i]]);
    YAML::Node leaf = chain.back()[path.back()];
    std::visit(
        [&leaf](const auto* target) {
          using T = std::remove_cv_t<std::remove_pointer_t<decltype(target)>>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            leaf = YAML::Node(YAML::NodeType::Sequence);
            for (const std::string& item : *target) leaf.push_back(item);
          } else if constexpr (std::is_same_v<T, double>) {
            leaf = format_value(*target);  // the shortest form that reads back to the same double
          } else {
            leaf = *target;
          }
        },
        f.target);
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

void ConfigSchema::load_json(const nlohmann::json& values, const std::string& source_name) {
  try {
    STRAND_CHECK(values.is_object(), "expected a JSON object of config values, got {}", describe(values));
    impl_->load_json_object(values, "");
  } catch (const Error& e) {
    rethrow_with_context(e, source_name);
  }
}

bool ConfigSchema::is_set(const std::string& key) const {
  const auto it = impl_->index.find(key);
  if (it == impl_->index.end()) throw Error(impl_->not_a_field(key));
  return impl_->fields[it->second].set;
}

std::vector<std::string> ConfigSchema::keys() const {
  std::vector<std::string> out;
  for (const Field& f : impl_->fields) out.push_back(f.key);
  return out;
}

bool NumericRange::contains(double v) const {
  if (min && (min_exclusive ? v <= *min : v < *min)) return false;
  if (max && (max_exclusive ? v >= *max : v > *max)) return false;
  return true;
}

std::string NumericRange::str() const {
  if (min && max)
    return fmt::format("in {}{}, {}{}", min_exclusive ? '(' : '[', *min, *max, max_exclusive ? ')' : ']');
  if (min) return fmt::format("{} {}", min_exclusive ? ">" : ">=", *min);
  if (max) return fmt::format("{} {}", max_exclusive ? "<" : "<=", *max);
  return "any number";
}

std::vector<RecipeEntry> list_recipes(const std::vector<std::string>& search_dirs) {
  namespace fs = std::filesystem;
  std::map<std::string, RecipeEntry> found;
  for (const std::string& dir : search_dirs) {
    if (dir.empty()) continue;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() != ".yaml" || !it->is_regular_file(ec)) continue;
      RecipeEntry e{it->path().stem().string(), it->path().string(), ""};
      if (found.contains(e.name)) continue;
      std::ifstream in(e.path);
      for (std::string line; std::getline(in, line);) {
        if (line.starts_with("#")) {
          e.description = line.substr(
              line.find_first_not_of("# ") == std::string::npos ? line.size() : line.find_first_not_of("# "));
          break;
        }
        if (!line.empty()) break;  // no leading comment
      }
      found.emplace(e.name, std::move(e));
    }
  }
  std::vector<RecipeEntry> out;
  for (auto& [name, e] : found) out.push_back(std::move(e));
  return out;
}

std::string resolve_recipe(const std::string& name_or_path, const std::vector<std::string>& search_dirs) {
  namespace fs = std::filesystem;
  STRAND_CHECK(!name_or_path.empty(), "empty recipe name");
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  for (const std::string& dir : search_dirs) {
    if (dir.empty()) continue;
    for (const fs::path& candidate : {fs::path(dir) / name_or_path, fs::path(dir) / (name_or_path + ".yaml")})
      if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  const std::vector<RecipeEntry> available = list_recipes(search_dirs);
  const std::string name = shown(name_or_path);
  if (!available.empty()) {
    std::vector<std::string> names;
    for (const RecipeEntry& r : available) names.push_back(printable(r.name));
    throw Error(fmt::format("recipe '{}' not found (available: {})", name, join(names, ", ")));
  }
  if (search_dirs.empty())
    throw Error(fmt::format("recipe '{}' not found (no recipe directories given)", name));
  std::vector<std::string> dirs;
  for (const std::string& d : search_dirs) dirs.push_back(printable(d));
  throw Error(fmt::format("recipe '{}' not found (no *.yaml recipes in: {})", name, join(dirs, ", ")));
}

}  // namespace strand
