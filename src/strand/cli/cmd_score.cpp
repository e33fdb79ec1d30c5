// strand score: log-likelihood of every record of a FASTA/FASTQ/JSONL file under a model, as TSV
// (id, length, sum_logprob, mean_logprob), records packed into batches for throughput.
#include "strand/cli/commands.h"
#include "strand/infer/generate.h"
#include "strand/infer/score.h"
#include "strand/io/atomic_file.h"
#include "strand/io/hf_checkpoint.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

namespace strand::cli {
namespace {

struct ScoreCliOptions {
  std::string model;
  std::string input;
  std::string output = "-";
  std::string tokenizer;  // empty: the model directory's tokenizer.json, else nucleotide
  std::string format = "auto";
  data::ReaderOptions reader;
  infer::ScoreOptions options;
};

// TSV text to stdout, or to a file that appears complete or not at all.
class TsvSink {
 public:
  explicit TsvSink(const std::string& path) {
    if (path != "-") file_.emplace(path);
  }
  void add(const std::string& text) {
    buffer_ += text;
    if (buffer_.size() >= (size_t{1} << 20)) flush();
  }
  void finish() {
    flush();
    if (file_) {
      file_->commit();
    } else {
      STRAND_CHECK(std::fflush(stdout) == 0, "writing the scores to stdout failed");
    }
  }

 private:
  void flush() {
    if (file_) {
      file_->write(buffer_);
    } else {
      STRAND_CHECK(std::fwrite(buffer_.data(), 1, buffer_.size(), stdout) == buffer_.size(),
                   "writing the scores to stdout failed");
    }
    buffer_.clear();
  }

  std::optional<io::AtomicFile> file_;
  std::string buffer_;
};

void run_score(ScoreCliOptions& o) {
  o.reader.format = data::record_format_from_name(o.format);
  const data::Tokenizer tokenizer = infer::model_tokenizer(o.model, o.tokenizer);
  auto model = io::load_hf_llama(o.model);
  auto reader = data::RecordReader::open(o.input, o.reader);
  TsvSink sink(o.output);
  sink.add(infer::score_tsv_header());
  const auto start = std::chrono::steady_clock::now();
  const infer::ScoreSummary s =
      infer::score_records(*model, tokenizer, *reader, o.options,
                           [&sink](const infer::SequenceScore& r) { sink.add(infer::score_tsv_row(r)); });
  sink.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "strand score: {} records, {} tokens in {} batches, {:.1f} s ({:.0f} tokens/s) -> {}\n",
             s.records, s.tokens, s.batches, seconds,
             seconds > 0 ? static_cast<double>(s.tokens) / seconds : 0.0,
             o.output == "-" ? "stdout" : o.output);
  if (s.unknown > 0)
    fmt::print(
        stderr,
        "strand score: warning: {} characters outside the vocabulary of tokenizer '{}' were scored as UNK\n",
        s.unknown, tokenizer.name());
  if (reader->skipped() > 0)
    fmt::print(stderr, "strand score: warning: {} malformed records skipped\n", reader->skipped());
}

}  // namespace

void register_score(CLI::App& app) {
  auto opts = std::make_shared<ScoreCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "score", "log-likelihood of every record of a FASTA/FASTQ/JSONL file under a model (TSV)");
  cmd->add_option("--model", opts->model, "HF model directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--input", opts->input, "FASTA, FASTQ or JSONL file (plain, gzip, zstd or xz)")->required();
  cmd->add_option("--output", opts->output, "TSV output file, or - for stdout")->capture_default_str();
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "nucleotide, char, or a tokenizer.json path (default: DIR/tokenizer.json if present, else "
                  "nucleotide)");
  cmd->add_option("--batch-tokens", opts->options.batch_tokens, "tokens per packed forward batch")
      ->capture_default_str();
  cmd->add_option("--format", opts->format,
                  "auto, fasta, fastq or jsonl (auto: from the name, else the content)")
      ->capture_default_str();
  cmd->add_option("--jsonl-field", opts->reader.jsonl_field, "JSONL: the string field holding the sequence")
      ->capture_default_str();
  cmd->callback([opts] { run_score(*opts); });
}

}  // namespace strand::cli
