#include "strand/data/preprocess.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/data/dataset_sidecar.h"
#include "strand/data/indexed_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace strand::data {
namespace {

constexpr int kMaxWorkers = 1024;

std::array<char, 256> make_complement() {
  std::array<char, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = static_cast<char>(c);
  const char* pairs[] = {"AT", "TA", "UA", "CG", "GC", "RY", "YR", "KM",
                         "MK", "BV", "VB", "DH", "HD", "SS", "WW", "NN"};
  for (const char* p : pairs) {
    table[static_cast<unsigned char>(p[0])] = p[1];
    table[static_cast<unsigned char>(p[0] - 'A' + 'a')] = static_cast<char>(p[1] - 'A' + 'a');
  }
  return table;
}
const std::array<char, 256> kComplement = make_complement();

// A batch of records in input order, with where each came from.
struct Batch {
  std::vector<SequenceRecord> records;
  std::vector<uint32_t> file;  // [records]: index into the inputs
  std::string error;           // a read error met after these records
};

// The documents of a batch, ready to be written.
struct Encoded {
  std::vector<int32_t> tokens;
  std::vector<uint32_t> lengths;
  uint64_t records = 0, unknown = 0, empty = 0, dropped = 0;
  std::string error;  // the first error of the batch, in input order
};

class Preprocessor {
 public:
  Preprocessor(const PreprocessOptions& options, const Tokenizer& tokenizer)
      : o_(options), tokenizer_(tokenizer) {
    if (!o_.tag_prefix.empty()) tag_unknown_ = tokenizer_.encode(o_.tag_prefix, tag_ids_);
  }

  PreprocessSummary run() {
    PreprocessSummary summary;
    summary.files = o_.inputs.size();
    summary.dtype = o_.dtype.value_or(indexed_dtype_for_vocab(tokenizer_.vocab_size()));
    const std::string prefix = preprocess_dataset_prefix(o_);
    IndexedDatasetWriter writer(prefix, summary.dtype);
    summary.bin_path = writer.bin_path();
    summary.idx_path = writer.idx_path();
    if (o_.workers <= 1) {
      run_inline(writer, summary);
    } else {
      run_threaded(writer, summary);
    }
    writer.finish();
    DatasetSidecar sidecar;
    sidecar.tokenizer = tokenizer_.name();
    sidecar.add_bos = o_.add_bos;
    sidecar.append_eod = o_.append_eod;
    sidecar.bos = o_.add_bos ? tokenizer_.bos() : -1;
    sidecar.eod = o_.append_eod ? tokenizer_.eos() : -1;
    sidecar.enforce_sample_length = o_.enforce_sample_length;
    sidecar.reverse_complement = o_.reverse_complement;
    sidecar.tag_prefix = o_.tag_prefix;
    write_dataset_sidecar(prefix, sidecar);
    summary.sidecar_path = dataset_sidecar_path(prefix);
    summary.documents = writer.documents();
    summary.tokens = writer.tokens();
    summary.skipped = skipped_;
    return summary;
  }

 private:
  // Reads the next batch; false once the inputs are exhausted. Read errors land in batch.error, after the
  // records read before them, so that errors surface in input order.
  bool read_batch(Batch& batch) {
    batch.records.clear();
    batch.file.clear();
    batch.error.clear();
    size_t bytes = 0;
    try {
      while (batch.records.size() < o_.batch_records && bytes < o_.batch_bytes) {
        if (!reader_) {
          if (next_file_ >= o_.inputs.size()) break;
          reader_ = RecordReader::open(o_.inputs[next_file_], o_.reader);
          ++next_file_;
        }
        SequenceRecord& record = batch.records.emplace_back();
        if (!reader_->next(record)) {
          batch.records.pop_back();
          skipped_ += reader_->skipped();
          reader_.reset();
          continue;
        }
        batch.file.push_back(static_cast<uint32_t>(next_file_ - 1));
        bytes += record.sequence.size();
      }
    } catch (const Error& e) {
      if (batch.records.size() > batch.file.size()) batch.records.pop_back();
      batch.error = e.what();
      next_file_ = o_.inputs.size();
      reader_.reset();
    }
    return !batch.records.empty() || !batch.error.empty();
  }

  void encode_batch(const Batch& batch, Encoded& out) const {
    out = Encoded{};
    std::string text;
    try {
      for (size_t r = 0; r < batch.records.size(); ++r) {
        if (!encode_record(batch.records[r], batch.file[r], text, out)) return;
      }
    } catch (const Error& e) {
      out.error = e.what();
      return;
    }
    out.error = batch.error;
  }

  // Appends the documents of one record; false (with out.error set) when the record is an error.
  bool encode_record(const SequenceRecord& record, uint32_t file, std::string& text, Encoded& out) const {
    ++out.records;
    if (record.sequence.empty()) {
      ++out.empty;
      return true;
    }
    text = record.sequence;
    if (o_.case_change == CaseChange::Upper) {
      for (char& c : text) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    } else if (o_.case_change == CaseChange::Lower) {
      for (char& c : text) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    for (int pass = 0; pass < (o_.reverse_complement ? 2 : 1); ++pass) {
      if (pass == 1) text = reverse_complement(text);
      const size_t start = out.tokens.size();
      if (o_.add_bos) out.tokens.push_back(tokenizer_.bos());
      out.tokens.insert(out.tokens.end(), tag_ids_.begin(), tag_ids_.end());
      const uint64_t unknown = tag_unknown_ + tokenizer_.encode(text, out.tokens);
      if (o_.append_eod) out.tokens.push_back(tokenizer_.eos());
      const size_t length = out.tokens.size() - start;
      if (o_.enforce_sample_length > 0) {
        const auto limit = static_cast<size_t>(o_.enforce_sample_length);
        if (length > limit) {
          out.tokens.resize(start);
          if (o_.drop_long) {
            ++out.dropped;
            continue;
          }
          out.error = fmt::format(
              "{}:{}: record '{}'{} has {} tokens, more than the enforced sample length {} (--drop-long "
              "drops such "
              "documents)",
              o_.inputs[file], record.line, printable(record.id), pass == 1 ? " (reverse complement)" : "",
              length, limit);
          return false;
        }
        out.tokens.resize(start + limit, tokenizer_.pad());
      }
      out.lengths.push_back(static_cast<uint32_t>(out.tokens.size() - start));
      out.unknown += unknown;
    }
    return true;
  }

  // Writes an encoded batch, or throws its error.
  static void write(const Encoded& encoded, IndexedDatasetWriter& writer, PreprocessSummary& summary) {
    if (!encoded.error.empty()) throw Error(encoded.error);
    const int32_t* p = encoded.tokens.data();
    for (const uint32_t length : encoded.lengths) {
      writer.add_document(std::span<const int32_t>(p, length));
      p += length;
    }
    summary.records += encoded.records;
    summary.unknown += encoded.unknown;
    summary.empty += encoded.empty;
    summary.dropped += encoded.dropped;
  }

  void run_inline(IndexedDatasetWriter& writer, PreprocessSummary& summary) {
    Batch batch;
    Encoded encoded;
    while (read_batch(batch)) {
      encode_batch(batch, encoded);
      write(encoded, writer, summary);
    }
  }

  // One reader thread, `workers` encoding threads, and this thread writing batches in input order. At most
  // 2 * workers + 2 batches are in flight, which bounds the memory.
  void run_threaded(IndexedDatasetWriter& writer, PreprocessSummary& summary) {
    const size_t max_in_flight = 2 * static_cast<size_t>(o_.workers) + 2;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<uint64_t, std::unique_ptr<Batch>>> queue;  // read, not yet encoded
    std::map<uint64_t, std::unique_ptr<Encoded>> done;              // encoded, not yet written
    uint64_t read_count = 0;                                        // batches read
    uint64_t written = 0;                                           // batches written
    bool reading_done = false, stop = false;

    std::thread reader([&] {
      while (true) {
        auto batch = std::make_unique<Batch>();
        bool more = false;
        try {
          more = read_batch(*batch);
        } catch (const std::exception& e) {  // bad_alloc and the like
          batch->error = e.what();
          more = true;
        }
        std::unique_lock lock(mu);
        if (!more || stop) break;
        const bool last = !batch->error.empty();
        cv.wait(lock, [&] { return stop || read_count - written < max_in_flight; });
        if (stop) break;
        queue.emplace_back(read_count++, std::move(batch));
        cv.notify_all();
        if (last) break;
      }
      std::lock_guard lock(mu);
      reading_done = true;
      cv.notify_all();
    });

    std::vector<std::thread> workers;
    for (int w = 0; w < o_.workers; ++w) {
      workers.emplace_back([&] {
        while (true) {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return stop || !queue.empty() || reading_done; });
          if (stop || queue.empty()) return;
          auto [index, batch] = std::move(queue.front());
          queue.pop_front();
          lock.unlock();
          auto encoded = std::make_unique<Encoded>();
          try {
            encode_batch(*batch, *encoded);
          } catch (const std::exception& e) {
            encoded->error = e.what();
          }
          lock.lock();
          done.emplace(index, std::move(encoded));
          cv.notify_all();
        }
      });
    }

    const auto shut_down = [&] {
      {
        std::lock_guard lock(mu);
        stop = true;
        cv.notify_all();
      }
      reader.join();
      for (std::thread& t : workers) t.join();
    };
    try {
      while (true) {
        std::unique_ptr<Encoded> encoded;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return done.count(written) > 0 || (reading_done && written == read_count); });
          const auto it = done.find(written);
          if (it == done.end()) break;  // everything read has been written
          encoded = std::move(it->second);
          done.erase(it);
        }
        write(*encoded, writer, summary);
        std::lock_guard lock(mu);
        ++written;
        cv.notify_all();
      }
    } catch (...) {
      shut_down();
      throw;
    }
    shut_down();
  }

  const PreprocessOptions& o_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> tag_ids_;
  uint64_t tag_unknown_ = 0;
  // Reading state (the reader thread's alone while threads run).
  std::unique_ptr<RecordReader> reader_;
  size_t next_file_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace

std::string preprocess_dataset_prefix(const PreprocessOptions& options) {
  return fmt::format("{}_{}_document", options.output_prefix, options.reader.jsonl_field);
}

std::string reverse_complement(std::string_view sequence) {
  std::string out;
  out.reserve(sequence.size());
  size_t i = sequence.size();
  while (i > 0) {
    --i;
    const auto c = static_cast<unsigned char>(sequence[i]);
    if (c < 0x80) {
      out += kComplement[c];
      continue;
    }
    // A multi-byte UTF-8 character moves as a whole, its bytes in order; stray bytes move alone.
    size_t start = i;
    while (start > 0 && i - start < 3 && (static_cast<unsigned char>(sequence[start]) & 0xC0) == 0x80)
      --start;
    const auto lead = static_cast<unsigned char>(sequence[start]);
    const size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (length == i - start + 1 && length > 1) {
      out.append(sequence.substr(start, length));
      i = start;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

PreprocessSummary preprocess(const PreprocessOptions& options, const Tokenizer& tokenizer) {
  STRAND_CHECK(!options.inputs.empty(), "preprocess: no input files");
  STRAND_CHECK(!options.output_prefix.empty(), "preprocess: the output prefix is empty");
  STRAND_CHECK(options.workers >= 1 && options.workers <= kMaxWorkers, "--workers must be in [1, {}], got {}",
               kMaxWorkers, options.workers);
  STRAND_CHECK(options.batch_records >= 1 && options.batch_bytes >= 1,
               "preprocess: batch sizes must be positive");
  STRAND_CHECK(options.enforce_sample_length >= 0 &&
                   options.enforce_sample_length <= std::numeric_limits<int32_t>::max(),
               "--enforce-sample-length must be in [1, 2^31), got {}", options.enforce_sample_length);
  STRAND_CHECK(!options.drop_long || options.enforce_sample_length > 0,
               "--drop-long needs --enforce-sample-length");
  STRAND_CHECK(!options.add_bos || tokenizer.bos() >= 0, "--add-bos: tokenizer '{}' has no BOS token",
               tokenizer.name());
  STRAND_CHECK(!options.append_eod || tokenizer.eos() >= 0,
               "--append-eod: tokenizer '{}' has no EOS/EOD token", tokenizer.name());
  STRAND_CHECK(options.enforce_sample_length == 0 || tokenizer.pad() >= 0,
               "--enforce-sample-length: tokenizer '{}' has no PAD token", tokenizer.name());
  for (const char c : options.reader.jsonl_field) {
    STRAND_CHECK(c != '/' && c != '\0', "the JSONL field '{}' cannot be part of a file name",
                 printable(options.reader.jsonl_field));
  }
  return Preprocessor(options, tokenizer).run();
}

}  // namespace strand::data
