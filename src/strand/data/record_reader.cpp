#include "strand/data/record_reader.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/data/byte_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

namespace strand::data {
namespace {

constexpr size_t kInitialLineBuffer = 1 << 20;
constexpr size_t kMaxJsonErrorChars = 200;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// A byte as a message shows it: 'A' (\x41) when printable, else \x00.
std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f) return fmt::format("'{}' (\\x{:02x})", c, u);
  return fmt::format("\\x{:02x}", u);
}

// Residue alphabets as 256-entry lookup tables.
std::array<bool, 256> make_alphabet(std::string_view extra) {
  std::array<bool, 256> table{};
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (const char c : extra) table[static_cast<unsigned char>(c)] = true;
  return table;
}
const std::array<bool, 256> kFastaAlphabet = make_alphabet("-*");
const std::array<bool, 256> kFastqAlphabet = make_alphabet("-*.");

// Index of the first byte of `s` outside `alphabet`, or npos.
size_t find_invalid(std::string_view s, const std::array<bool, 256>& alphabet) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!alphabet[static_cast<unsigned char>(s[i])]) return i;
  }
  return std::string_view::npos;
}

// Index of the first control byte (other than tab) of a header line, or npos.
size_t find_control(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return i;
  }
  return std::string_view::npos;
}

// Splits a header line (marker already removed) into id and description.
void split_header(std::string_view header, SequenceRecord& record) {
  header = trim(header);
  size_t end = 0;
  while (end < header.size() && !is_space(header[end])) ++end;
  record.id.assign(header.substr(0, end));
  record.description.assign(trim(header.substr(end)));
}

// Lines of a byte source, with bounded memory: the buffer grows only as far as the longest line.
class LineReader {
 public:
  LineReader(std::unique_ptr<ByteSource> source, uint64_t max_line_bytes)
      : source_(std::move(source)), max_line_bytes_(max_line_bytes), buffer_(kInitialLineBuffer) {}

  // The next line without its "\n" or "\r\n"; false at the end. The view is valid until the next call.
  bool next(std::string_view& line) {
    while (true) {
      const char* start = buffer_.data() + begin_;
      const void* nl = std::memchr(start + scanned_, '\n', end_ - begin_ - scanned_);
      if (nl != nullptr) {
        const size_t length = static_cast<const char*>(nl) - start;
        line = std::string_view(start, length);
        begin_ += length + 1;
        scanned_ = 0;
        return finish_line(line);
      }
      scanned_ = end_ - begin_;
      if (eof_) {
        if (begin_ == end_) return false;
        line = std::string_view(start, end_ - begin_);
        begin_ = end_;
        scanned_ = 0;
        return finish_line(line);
      }
      fill();
    }
  }

  // The first byte that is not whitespace or a line break, without consuming anything; -1 for a blank input.
  // `line` receives its line number.
  int first_visible_byte(uint64_t& line) {
    size_t i = 0;
    line = 1;
    while (true) {
      for (; begin_ + i < end_; ++i) {
        const char c = buffer_[begin_ + i];
        if (c == '\n') {
          ++line;
        } else if (!is_space(c)) {
          return static_cast<unsigned char>(c);
        }
      }
      if (eof_) return -1;
      fill();
    }
  }

  uint64_t line_number() const { return line_; }  // of the line last returned
  const std::string& path() const { return source_->path(); }

 private:
  bool finish_line(std::string_view& line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_;
    return true;
  }

  // Reads more bytes after the unconsumed ones, moving them to the front and growing the buffer when full.
  void fill() {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) {
      STRAND_CHECK(buffer_.size() <= max_line_bytes_, "{}:{}: line longer than {} bytes (not a text file?)",
                   path(), line_ + 1, max_line_bytes_);
      buffer_.resize(std::min<uint64_t>(buffer_.size() * 2, max_line_bytes_ + 1));
    }
    size_t got = 0;
    try {
      got = source_->read(buffer_.data() + end_, buffer_.size() - end_);
    } catch (const Error& e) {
      // "<file>: <what>" becomes "<file>:<line>: <what>", the line being the one the stream breaks in.
      std::string_view what = e.what();
      const std::string prefix = path() + ": ";
      if (what.substr(0, prefix.size()) == prefix) what.remove_prefix(prefix.size());
      const uint64_t ahead = static_cast<uint64_t>(std::count(buffer_.begin(), buffer_.begin() + end_, '\n'));
      throw Error(fmt::format("{}:{}: {}", path(), line_ + 1 + ahead, what));
    }
    if (got == 0) eof_ = true;
    end_ += got;
  }

  std::unique_ptr<ByteSource> source_;
  uint64_t max_line_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;  // unconsumed bytes
  size_t scanned_ = 0;          // bytes after begin_ known to hold no '\n'
  bool eof_ = false;
  uint64_t line_ = 0;
};

class ReaderBase : public RecordReader {
 public:
  ReaderBase(std::unique_ptr<LineReader> lines, const ReaderOptions& options, RecordFormat format)
      : lines_(std::move(lines)), options_(options), format_(format) {}
  uint64_t skipped() const override { return skipped_; }
  const std::string& path() const override { return lines_->path(); }
  RecordFormat format() const override { return format_; }

 protected:
  // A malformed record at `line`: an error unless skipping, in which case the caller skips and counts it.
  template <typename... Args>
  void malformed(uint64_t line, fmt::format_string<Args...> what, Args&&... args) {
    if (!options_.skip_malformed) {
      throw Error(fmt::format("{}:{}: {}", path(), line, fmt::format(what, std::forward<Args>(args)...)));
    }
  }

  std::unique_ptr<LineReader> lines_;
  ReaderOptions options_;
  RecordFormat format_;
  uint64_t skipped_ = 0;
};

class FastaReader final : public ReaderBase {
 public:
  using ReaderBase::ReaderBase;

  bool next(SequenceRecord& record) override {
    while (true) {
      if (!have_header_ && !find_header()) return false;
      have_header_ = false;
      split_header(std::string_view(header_).substr(1), record);
      record.line = header_line_;
      record.sequence.clear();
      const bool ok = read_sequence(record);
      if (ok) return true;
      ++skipped_;  // malformed and skipping: read_sequence consumed the whole record
    }
  }

 private:
  // Finds the next header line, skipping blank and comment lines; false at the end of the input.
  bool find_header() {
    std::string_view line;
    while (lines_->next(line)) {
      const std::string_view t = trim(line);
      if (t.empty() || t.front() == ';') continue;
      if (t.front() == '>') return take_header(t);
      malformed(lines_->line_number(), "expected '>' at the start of a FASTA record, got {}",
                describe_byte(t.front()));
      // Skipping: everything up to the next header is one malformed record.
      ++skipped_;
      while (lines_->next(line)) {
        const std::string_view u = trim(line);
        if (!u.empty() && u.front() == '>') return take_header(u);
      }
      return false;
    }
    return false;
  }

  bool take_header(std::string_view line) {
    header_.assign(line);
    header_line_ = lines_->line_number();
    have_header_ = true;
    return true;
  }

  // Appends the sequence lines up to the next header (kept for the next record) or the end. False when the
  // record is malformed and skipped.
  bool read_sequence(SequenceRecord& record) {
    bool ok = true;
    const size_t control = find_control(header_);
    if (control != std::string::npos) {
      malformed(header_line_, "control byte {} in the header of record '{}'", describe_byte(header_[control]),
                printable(record.id));
      ok = false;
    }
    std::string_view line;
    while (lines_->next(line)) {
      const std::string_view t = trim(line);
      if (t.empty() || t.front() == ';') continue;
      if (t.front() == '>') {
        take_header(t);
        break;
      }
      if (!ok) continue;
      const size_t bad = find_invalid(t, kFastaAlphabet);
      if (bad != std::string_view::npos) {
        malformed(lines_->line_number(), "invalid character {} in the sequence of record '{}'",
                  describe_byte(t[bad]), printable(record.id));
        ok = false;
        continue;
      }
      record.sequence.append(t);
    }
    return ok;
  }

  std::string header_;  // the pending header line, '>' included
  uint64_t header_line_ = 0;
  bool have_header_ = false;
};

class FastqReader final : public ReaderBase {
 public:
  using ReaderBase::ReaderBase;

  bool next(SequenceRecord& record) override {
    while (true) {
      std::string_view line;
      if (!next_nonblank(line)) return false;
      if (line.front() != '@') {
        malformed(lines_->line_number(), "expected '@' at the start of a FASTQ record, got {}",
                  describe_byte(line.front()));
        ++skipped_;
        do {
          if (!lines_->next(line)) return false;
          line = trim(line);
        } while (line.empty() || line.front() != '@');
      }
      if (read_record(line, record)) return true;
      ++skipped_;
    }
  }

 private:
  bool next_nonblank(std::string_view& line) {
    while (lines_->next(line)) {
      line = trim(line);
      if (!line.empty()) return true;
    }
    return false;
  }

  // Reads the rest of the record whose header is `header_line`; false when it is malformed and skipped.
  bool read_record(std::string_view header_line, SequenceRecord& record) {
    title_.assign(header_line.substr(1));
    split_header(title_, record);
    record.line = lines_->line_number();
    const size_t control = find_control(title_);
    if (control != std::string::npos) {
      malformed(record.line, "control byte {} in the header of record '{}'", describe_byte(title_[control]),
                printable(record.id));
      return false;
    }
    std::string_view line;
    if (!lines_->next(line)) return truncated(record, "sequence");
    line = trim(line);
    const size_t bad = find_invalid(line, kFastqAlphabet);
    if (bad != std::string_view::npos) {
      malformed(lines_->line_number(), "invalid character {} in the sequence of record '{}'",
                describe_byte(line[bad]), printable(record.id));
      skip_lines(2);
      return false;
    }
    record.sequence.assign(line);

    if (!lines_->next(line)) return truncated(record, "'+' separator");
    line = trim(line);
    if (line.empty() || line.front() != '+') {
      malformed(lines_->line_number(), "expected the '+' separator line of record '{}', got {}",
                printable(record.id),
                line.empty() ? std::string("an empty line") : describe_byte(line.front()));
      skip_lines(1);
      return false;
    }
    const std::string_view repeated = trim(line.substr(1));
    if (!repeated.empty() && repeated != trim(title_) && repeated != record.id) {
      malformed(lines_->line_number(), "the '+' line of record '{}' names another record ('{}')",
                printable(record.id), printable(repeated));
      skip_lines(1);
      return false;
    }

    if (!lines_->next(line)) return truncated(record, "quality");
    line = trim(line);
    if (line.size() != record.sequence.size()) {
      malformed(lines_->line_number(), "record '{}' has {} quality values for {} residues",
                printable(record.id), line.size(), record.sequence.size());
      return false;
    }
    for (const char c : line) {
      if (c < '!' || c > '~') {
        malformed(lines_->line_number(), "invalid quality character {} in record '{}'", describe_byte(c),
                  printable(record.id));
        return false;
      }
    }
    return true;
  }

  bool truncated(const SequenceRecord& record, std::string_view missing) {
    malformed(lines_->line_number(), "truncated FASTQ record '{}': the file ends before its {} line",
              printable(record.id), missing);
    return false;
  }

  void skip_lines(int n) {
    std::string_view line;
    for (int i = 0; i < n && lines_->next(line); ++i) {
    }
  }

  std::string title_;
};

std::string_view json_type_name(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "a number";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "not a JSON value";
  }
}

class JsonlReader final : public ReaderBase {
 public:
  using ReaderBase::ReaderBase;

  bool next(SequenceRecord& record) override {
    std::string_view line;
    while (lines_->next(line)) {
      line = trim(line);
      if (line.empty()) continue;
      if (parse(line, record)) return true;
      ++skipped_;
    }
    return false;
  }

 private:
  bool parse(std::string_view line, SequenceRecord& record) {
    const uint64_t number = lines_->line_number();
    nlohmann::json j;
    try {
      j = parse_json_strict(line);
    } catch (const Error& e) {
      std::string what = printable(e.what());
      if (what.size() > kMaxJsonErrorChars) what = what.substr(0, kMaxJsonErrorChars) + "...";
      malformed(number, "{}", what);
      return false;
    }
    if (!j.is_object()) {
      malformed(number, "expected a JSON object, got {}", json_type_name(j));
      return false;
    }
    const auto field = j.find(options_.jsonl_field);
    if (field == j.end()) {
      malformed(number, "field '{}' is missing", printable(options_.jsonl_field));
      return false;
    }
    if (!field->is_string()) {
      malformed(number, "field '{}' is {}, not a string", printable(options_.jsonl_field),
                json_type_name(*field));
      return false;
    }
    record.sequence = field->get<std::string>();
    record.description.clear();
    record.line = number;
    const auto id = options_.jsonl_id_field.empty() ? j.end() : j.find(options_.jsonl_id_field);
    if (id == j.end()) {
      record.id = std::to_string(number);
    } else if (id->is_string()) {
      record.id = id->get<std::string>();
    } else {
      record.id = id->dump();
    }
    return true;
  }
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The format an extension names, after any compression suffix; Auto when it names none.
RecordFormat format_from_name(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* suffix : {".gz", ".bgz", ".zst", ".zstd", ".xz"}) {
    if (ends_with(name, suffix)) {
      name.resize(name.size() - std::strlen(suffix));
      break;
    }
  }
  for (const char* ext : {".fa", ".fasta", ".fna", ".ffn", ".faa", ".frn", ".fas"}) {
    if (ends_with(name, ext)) return RecordFormat::Fasta;
  }
  for (const char* ext : {".fq", ".fastq"}) {
    if (ends_with(name, ext)) return RecordFormat::Fastq;
  }
  for (const char* ext : {".jsonl", ".json", ".ndjson"}) {
    if (ends_with(name, ext)) return RecordFormat::Jsonl;
  }
  return RecordFormat::Auto;
}

}  // namespace

const char* record_format_name(RecordFormat format) {
  switch (format) {
    case RecordFormat::Auto:
      return "auto";
    case RecordFormat::Fasta:
      return "fasta";
    case RecordFormat::Fastq:
      return "fastq";
    case RecordFormat::Jsonl:
      return "jsonl";
  }
  return "unknown";
}

RecordFormat record_format_from_name(const std::string& name) {
  for (const RecordFormat f :
       {RecordFormat::Auto, RecordFormat::Fasta, RecordFormat::Fastq, RecordFormat::Jsonl}) {
    if (name == record_format_name(f)) return f;
  }
  STRAND_CHECK(false, "unknown record format '{}' (expected auto, fasta, fastq or jsonl)", printable(name));
}

std::unique_ptr<RecordReader> RecordReader::open(const std::string& path, const ReaderOptions& options) {
  STRAND_CHECK(options.max_line_bytes > 0, "{}: max_line_bytes must be positive", path);
  auto lines = std::make_unique<LineReader>(open_byte_source(path), options.max_line_bytes);
  RecordFormat format = options.format;
  if (format == RecordFormat::Auto) format = format_from_name(path);
  if (format == RecordFormat::Auto) {
    uint64_t line = 0;
    const int c = lines->first_visible_byte(line);
    if (c == '>' || c == ';' || c == -1) {
      format = RecordFormat::Fasta;  // a blank file reads as an empty FASTA file
    } else if (c == '@') {
      format = RecordFormat::Fastq;
    } else if (c == '{') {
      format = RecordFormat::Jsonl;
    } else {
      STRAND_CHECK(false,
                   "{}:{}: cannot tell the format from the file name or the first character {} (expected '>' "
                   "for FASTA, '@' for FASTQ, '{{' for JSONL)",
                   path, line, describe_byte(static_cast<char>(c)));
    }
  }
  switch (format) {
    case RecordFormat::Fasta:
      return std::make_unique<FastaReader>(std::move(lines), options, format);
    case RecordFormat::Fastq:
      return std::make_unique<FastqReader>(std::move(lines), options, format);
    case RecordFormat::Jsonl:
      return std::make_unique<JsonlReader>(std::move(lines), options, format);
    case RecordFormat::Auto:
      break;
  }
  STRAND_ASSERT(false);
}

}  // namespace strand::data
