// strand score: how likely a model finds sequences, as TSV.
//   causal models (Llama): log-likelihood of every record (id, length, sum_logprob, mean_logprob), records
//     packed into batches for throughput;
//   masked models (ESM-2): pseudo-log-likelihood of every record (id, length, pll, mean_pll), or with
//     --mutations the masked-marginal log-odds of each listed mutation set (id, mutant, score).
#include "strand/cli/commands.h"
#include "strand/cli/model_options.h"
#include "strand/infer/generate.h"
#include "strand/infer/masked_scoring.h"
#include "strand/infer/record_batches.h"
#include "strand/infer/score.h"
#include "strand/io/atomic_file.h"
#include "strand/io/hf_checkpoint.h"
#include "strand/io/json.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>

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

// The token id of a one-letter residue; -1 when the tokenizer does not know it.
std::function<int32_t(char)> residue_ids(const data::Tokenizer& tokenizer) {
  return [&tokenizer](char c) {
    std::vector<int32_t> ids;
    return tokenizer.encode(std::string_view(&c, 1), ids) == 0 && ids.size() == 1 ? ids[0] : -1;
  };
}

// Masked-marginal scores of the mutation sets in o.mutations against the records of the input.
infer::ScoreSummary score_mutations(LanguageModel& model, const data::Tokenizer& tokenizer,
                                    data::RecordReader& reader, const ScoreCliOptions& o, TsvSink& sink) {
  std::map<std::string, std::vector<int32_t>> wild_types;
  std::string only;
  infer::RecordBatchOptions batching;
  batching.max_positions = model.max_positions();
  const infer::RecordBatchSummary read = infer::for_each_record_batch(
      tokenizer, reader, batching, [&](std::vector<infer::TokenizedRecord>& batch) {
        for (infer::TokenizedRecord& r : batch) {
          STRAND_CHECK(!wild_types.count(r.id), "{}:{}: record id '{}' appears twice", reader.path(), r.line,
                       io::printable(r.id));
          only = r.id;
          wild_types[r.id] = std::move(r.tokens);
        }
      });
  const std::vector<infer::MutationLine> lines = infer::read_mutation_file(o.mutations);
  std::map<std::string, std::vector<size_t>> by_record;  // record id -> lines, in file order
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string id = lines[i].record;
    if (id.empty()) {
      STRAND_CHECK(wild_types.size() == 1,
                   "{}:{}: a line without a record id needs an input of exactly one record; {} has {}",
                   o.mutations, lines[i].line, o.input, wild_types.size());
      id = only;
    }
    STRAND_CHECK(wild_types.count(id), "{}:{}: no record '{}' in {}", o.mutations, lines[i].line,
                 io::printable(id), o.input);
    by_record[id].push_back(i);
  }
  infer::MaskedScoringOptions scoring;
  scoring.mask_id = tokenizer.mask();
  scoring.batch_tokens = o.options.batch_tokens;
  STRAND_CHECK(scoring.mask_id >= 0, "tokenizer '{}' has no mask token: masked-marginal scoring needs one",
               tokenizer.name());
  Arena arena(size_t{1} << 20, model.device());
  std::vector<double> scores(lines.size());
  int64_t tokens = 0;
  for (const auto& [id, rows] : by_record) {
    std::vector<std::vector<infer::Mutation>> sets;
    std::set<int64_t> positions;  // each distinct position is one masked copy of the sequence
    for (const size_t i : rows) {
      sets.push_back(lines[i].mutations);
      for (const infer::Mutation& m : lines[i].mutations) positions.insert(m.position);
    }
    std::vector<double> got;
    try {
      got = infer::masked_marginal_scores(model, arena, wild_types.at(id), sets, residue_ids(tokenizer),
                                          scoring);
    } catch (const Error& e) {
      rethrow_with_context(e, fmt::format("{}: record '{}'", o.mutations, io::printable(id)));
    }
    for (size_t k = 0; k < rows.size(); ++k) scores[rows[k]] = got[k];
    tokens += static_cast<int64_t>(wild_types.at(id).size() * positions.size());
  }
  sink.add("id\tmutant\tscore\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string id = lines[i].record.empty() ? only : lines[i].record;
    sink.add(fmt::format("{}\t{}\t{:.6f}\n", infer::escape_tsv_field(id), lines[i].text, scores[i]));
  }
  infer::ScoreSummary s;
  s.records = read.records;
  s.tokens = tokens;
  s.unknown = read.unknown;
  return s;
}

// Pseudo-log-likelihood of every record.
infer::ScoreSummary score_pll(LanguageModel& model, const data::Tokenizer& tokenizer,
                              data::RecordReader& reader, const ScoreCliOptions& o, TsvSink& sink) {
  infer::MaskedScoringOptions scoring;
  scoring.mask_id = tokenizer.mask();
  scoring.batch_tokens = o.options.batch_tokens;
  STRAND_CHECK(scoring.mask_id >= 0, "tokenizer '{}' has no mask token: pseudo-log-likelihoods need one",
               tokenizer.name());
  infer::RecordBatchOptions batching;
  batching.max_positions = model.max_positions();
  Arena arena(size_t{1} << 20, model.device());
  const int64_t lead = tokenizer.bos() >= 0 ? 1 : 0;
  sink.add("id\tlength\tpll\tmean_pll\n");
  infer::ScoreSummary s;
  const infer::RecordBatchSummary read = infer::for_each_record_batch(
      tokenizer, reader, batching, [&](std::vector<infer::TokenizedRecord>& batch) {
        for (const infer::TokenizedRecord& r : batch) {
          const double pll =
              infer::pseudo_log_likelihood(model, arena, r.tokens, lead, lead + r.residues, scoring);
          sink.add(fmt::format("{}\t{}\t{:.6f}\t{:.6f}\n", infer::escape_tsv_field(r.id), r.residues, pll,
                               r.residues > 0 ? pll / static_cast<double>(r.residues) : NAN));
          s.tokens += static_cast<int64_t>(r.tokens.size()) * r.residues;  // one masked copy per residue
        }
      });
  s.records = read.records;
  s.unknown = read.unknown;
  return s;
}

void run_score(ScoreCliOptions& o) {
  o.reader.format = data::record_format_from_name(o.format);
  const data::Tokenizer tokenizer = infer::model_tokenizer(o.model, o.tokenizer);
  const auto model = io::load_hf_model(o.model, o.device.placement());
  auto* causal = dynamic_cast<CausalLM*>(model.get());
  STRAND_CHECK(o.mutations.empty() || causal == nullptr,
               "--mutations needs a masked language model (ESM-2); {} is a causal one", o.model);
  auto reader = data::RecordReader::open(o.input, o.reader);
  TsvSink sink(o.output);
  const auto start = std::chrono::steady_clock::now();
  infer::ScoreSummary s;
  if (causal != nullptr) {
    sink.add(infer::score_tsv_header());
    s = infer::score_records(*causal, tokenizer, *reader, o.options,
                             [&sink](const infer::SequenceScore& r) { sink.add(infer::score_tsv_row(r)); });
  } else if (!o.mutations.empty()) {
    s = score_mutations(*model, tokenizer, *reader, o, sink);
  } else {
    s = score_pll(*model, tokenizer, *reader, o, sink);
  }
  sink.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A masked model runs a masked copy of a sequence per scored position: its tokens are those of the copies.
  const std::string work = causal != nullptr ? fmt::format("{} tokens in {} batches", s.tokens, s.batches)
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
