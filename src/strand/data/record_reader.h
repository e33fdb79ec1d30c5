// Streaming readers of sequence files: FASTA, FASTQ and JSONL, plain or gzip/zstd/xz compressed (detected
// from the first bytes, not the name; see byte_source.h). Memory stays bounded by the longest line and
// record, whatever the file size.
//
// Malformed input is an error "<file>:<line>: <what>", or, with skip_malformed, a skipped and counted record.
// Errors of the compressed stream itself (truncated, corrupt) are always errors, naming the file and the line
// being read.
//
//   FASTA  records start with a '>' header line ("id description"); sequence lines follow until the next
//   header.
//          Blank lines and ';' comment lines are ignored. Sequence characters must be ASCII letters, '-' or
//          '*': anything else (digits, punctuation, control or non-ASCII bytes, i.e. binary garbage) is
//          malformed. A header with no sequence yields a record with an empty sequence.
//   FASTQ  four lines per record: '@' header, sequence (letters, '-', '*', '.'), '+' separator (optionally
//          repeating the title or the id), quality ('!'..'~', as long as the sequence). Blank lines between
//          records are ignored.
//   JSONL  one JSON object per non-blank line; `jsonl_field` must be a string (it becomes the sequence, as
//   is);
//          `jsonl_id_field` is optional (a string, or any other JSON value written out as JSON).
// Lines may end in "\n" or "\r\n"; the last line needs no line break.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace strand::data {

enum class RecordFormat { Auto, Fasta, Fastq, Jsonl };

struct SequenceRecord {
  std::string id;  // FASTA/FASTQ: header up to the first whitespace; JSONL: the id field or the line number
  std::string description;  // rest of the header line (JSONL: empty)
  std::string sequence;     // residues, line breaks and surrounding whitespace removed; may be empty
  uint64_t line = 0;        // line where the record starts (1-based)
};

struct ReaderOptions {
  RecordFormat format =
      RecordFormat::Auto;             // Auto: from the extension (.fa .fasta .fna .ffn .faa .frn .fas,
                                      // .fq .fastq, .jsonl .json .ndjson, under .gz/.bgz/.zst/.xz), else
                                      // the first character ('>' or ';' FASTA, '@' FASTQ, '{' JSONL)
  std::string jsonl_field = "text";   // JSONL: the string field holding the sequence
  std::string jsonl_id_field = "id";  // JSONL: optional id field
  bool skip_malformed = false;        // skip and count malformed records instead of failing
  uint64_t max_line_bytes = uint64_t{1} << 31;  // a longer line is an error (binary data without line breaks)
};

// "fasta", "fastq", "jsonl" or "auto".
const char* record_format_name(RecordFormat format);
// Parses a format name as above; throws strand::Error for anything else.
RecordFormat record_format_from_name(const std::string& name);

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // Opens the file and settles the format. Throws strand::Error naming the file.
  static std::unique_ptr<RecordReader> open(const std::string& path, const ReaderOptions& options = {});
  // The next record; false at the end of the input. Throws strand::Error "<file>:<line>: <what>".
  virtual bool next(SequenceRecord& record) = 0;
  virtual uint64_t skipped() const = 0;  // malformed records skipped so far
  virtual const std::string& path() const = 0;
  virtual RecordFormat format() const = 0;  // never Auto
};

}  // namespace strand::data
