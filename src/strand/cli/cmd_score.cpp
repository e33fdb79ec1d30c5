// strand score: how likely a model finds sequences, as TSV.
//   causal models (Llama): log-likelihood of every record (id, length, sum_logprob, mean_logprob), records
//     packed into batches for throughput;
//   masked models (ESM-2): pseudo-log-likelihood of every record (id, length, pll, mean_pll), or with
//     --mutations the masked-marginal log-odds of each listed mutation set (id, mutant, score).
#include "strand/cli/commands.h"
#include "strand/cli/model_options.h"
#include "strand/core/progress.h"
#include "strand/infer/background_record_count.h"
#include "strand/infer/masked_record_scoring.h"
#include "strand/infer/model_tokenizer.h"
#include "strand/infer/score.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/atomic_file.h"
#include "strand/models/registry.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

namespace strand::cli {
namespace {

struct ScoreCliOptions {
  std::string model;
  std::string input;
  std::string mutations;
  std::string output = "-";
  std::string tokenizer;  // empty: the model directory's tokenizer.json, else nucleotide
  std::string format = "auto";
  data::ReaderOptions reader;
  infer::ScoreOptions options;
  DeviceOptions device;
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
  const auto model = interop::load_hf_model(o.model, o.device.placement());
  const bool causal = model_family_of(*model).objective() == Objective::causal;
  STRAND_CHECK(o.mutations.empty() || !causal,
               "--mutations needs a masked language model (ESM-2); {} is a causal one", o.model);
  auto reader = data::RecordReader::open(o.input, o.reader);
  TsvSink sink(o.output);
  const auto start = std::chrono::steady_clock::now();
  infer::ScoreSummary s;
  // Records as they are scored. Mutation sets come out together at the end, so they have no progress line,
  // and neither have rows written to the terminal the line would be drawn on.
  const bool shown = o.mutations.empty() && !(o.output == "-" && ::isatty(STDOUT_FILENO) == 1);
  Progress progress =
      shown ? Progress("strand score", "records") : Progress("strand score", "records", stderr, false);
  const infer::BackgroundRecordCount count(o.input, o.reader, progress);
  if (causal) {
    sink.add(infer::score_tsv_header());
    s = infer::score_records(*model, tokenizer, *reader, o.options, [&](const infer::SequenceScore& r) {
      sink.add(infer::score_tsv_row(r));
      progress.advance();
    });
  } else if (!o.mutations.empty()) {
    sink.add(infer::mutation_tsv_header());
    s = infer::score_mutation_file(
        *model, tokenizer, *reader, o.mutations, o.options,
        [&sink](const infer::MutationScore& r) { sink.add(infer::mutation_tsv_row(r)); });
  } else {
    sink.add(infer::pseudo_likelihood_tsv_header());
    s = infer::score_pseudo_likelihoods(*model, tokenizer, *reader, o.options,
                                        [&](const infer::PseudoLikelihood& r) {
                                          sink.add(infer::pseudo_likelihood_tsv_row(r));
                                          progress.advance();
                                        });
  }
  progress.finish();
  sink.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A masked model runs a masked copy of a sequence per scored position: its tokens are those of the copies.
  const std::string work = causal ? fmt::format("{} tokens in {} batches", s.tokens, s.batches)
                                  : fmt::format("{} tokens through the model", s.tokens);
  fmt::print(stderr, "strand score: {} records, {}, {:.1f} s ({:.0f} tokens/s) -> {}\n", s.records, work,
             seconds, seconds > 0 ? static_cast<double>(s.tokens) / seconds : 0.0,
             o.output == "-" ? "stdout" : o.output);
  if (s.unknown > 0)
    fmt::print(
        stderr,
        "strand score: warning: {} characters outside the vocabulary of tokenizer '{}' were scored as UNK\n",
        s.unknown, tokenizer.name());
  if (reader->skipped() > 0)
    fmt::print(stderr, "strand score: warning: {} malformed records skipped\n", reader->skipped());
  if (const auto w = infer::input_kind_warning(infer::sequence_alphabet(tokenizer), s.composition, o.input))
    fmt::print(stderr, "strand score: warning: {}\n", *w);
}

}  // namespace

void register_score(CLI::App& app) {
  auto opts = std::make_shared<ScoreCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "score", "log-likelihood of every record of a FASTA/FASTQ/JSONL file under a model (TSV)");
  cmd->add_option("--model", opts->model, "HF model directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--input", opts->input, "FASTA, FASTQ or JSONL file (plain, gzip, zstd or xz)")->required();
  cmd->add_option(
         "--mutations", opts->mutations,
         "masked models: a file of mutation sets to score against the input's records, one per line: "
         "'A23G' or 'A23G:C40F' (input of one record), or '<record id> <mutations>'; tab, comma or "
         "space separated, '#' comments and a 'mutant' header skipped")
      ->check(CLI::ExistingFile);
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
  opts->device.add_to(*cmd);
  cmd->callback([opts] { run_score(*opts); });
}

}  // namespace strand::cli
