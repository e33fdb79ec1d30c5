// strand preprocess: FASTA/FASTQ/JSONL files (plain, gzip, zstd or xz) to a Megatron indexed dataset.
#include "strand/cli/commands.h"
#include "strand/core/error.h"
#include "strand/data/preprocess.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>

namespace strand::cli {
namespace {

struct PreprocessCliOptions {
  data::PreprocessOptions options;
  std::string tokenizer = "nucleotide";
  std::string format = "auto";
  std::string dtype = "auto";
  bool uppercase = false;
  bool lowercase = false;
};

std::optional<DType> token_dtype(const std::string& name) {
  if (name == "auto") return std::nullopt;
  if (name == "u8") return DType::U8;
  if (name == "u16") return DType::U16;
  if (name == "i32") return DType::I32;
  STRAND_CHECK(false, "--dtype must be auto, u8, u16 or i32, got '{}'", name);
}

void run_preprocess(PreprocessCliOptions& cli) {
  data::PreprocessOptions& o = cli.options;
  o.reader.format = data::record_format_from_name(cli.format);
  o.dtype = token_dtype(cli.dtype);
  STRAND_CHECK(!(cli.uppercase && cli.lowercase), "--uppercase and --lowercase exclude each other");
  o.case_change = cli.uppercase   ? data::CaseChange::Upper
                  : cli.lowercase ? data::CaseChange::Lower
                                  : data::CaseChange::None;
  const data::Tokenizer tokenizer = data::Tokenizer::by_name(cli.tokenizer);
  const data::PreprocessSummary s = data::preprocess(o, tokenizer);

  fmt::print("strand preprocess: {} files, {} records -> {} documents, {} tokens ({}) written to {} and {}\n",
             s.files, s.records, s.documents, s.tokens, dtype_name(s.dtype), s.bin_path, s.idx_path);
  if (o.add_bos || o.append_eod)
    fmt::print("  {} records that documents hold {}; training on this dataset adds none again\n",
               s.sidecar_path,
               o.add_bos && o.append_eod ? "BOS and EOD"
               : o.add_bos               ? "BOS"
                                         : "EOD");
  fmt::print(
      "  unknown characters: {}, malformed records skipped: {}, empty records skipped: {}, long documents "
      "dropped: {}\n",
      s.unknown, s.skipped, s.empty, s.dropped);
  if (s.unknown > 0) {
    std::fflush(stdout);
    fmt::print(
        stderr,
        "strand preprocess: warning: {} characters outside the vocabulary of tokenizer '{}' were encoded as "
        "UNK (id {})\n",
        s.unknown, tokenizer.name(), tokenizer.unk());
  }
}

}  // namespace

void register_preprocess(CLI::App& app) {
  auto cli = std::make_shared<PreprocessCliOptions>();
  data::PreprocessOptions& o = cli->options;
  CLI::App* cmd = app.add_subcommand(
      "preprocess",
      "tokenise FASTA/FASTQ/JSONL files (plain, gzip, zstd, xz) into a Megatron indexed dataset");
  cmd->add_option("inputs", o.inputs, "input files, read in order")->required();
  cmd->add_option("--output-prefix", o.output_prefix,
                  "writes <prefix>_<key>_document.bin/.idx (key: --jsonl-field)")
      ->required();
  cmd->add_option("--tokenizer", cli->tokenizer, "nucleotide, char, or the path of a HF tokenizer.json")
      ->capture_default_str();
  cmd->add_option("--format", cli->format,
                  "auto, fasta, fastq or jsonl (auto: from the name, else the content)")
      ->capture_default_str();
  cmd->add_option("--jsonl-field", o.reader.jsonl_field, "JSONL: the string field holding the sequence")
      ->capture_default_str();
  cmd->add_option("--jsonl-id-field", o.reader.jsonl_id_field, "JSONL: the optional id field (for messages)")
      ->capture_default_str();
  cmd->add_flag("--append-eod", o.append_eod, "append the tokenizer's EOS/EOD id to every document");
  cmd->add_flag("--add-bos", o.add_bos, "prepend the tokenizer's BOS id to every document");
  cmd->add_option(
      "--enforce-sample-length", o.enforce_sample_length,
      "right-pad every document (after EOD) with PAD to exactly this many tokens; longer ones fail");
  cmd->add_flag("--drop-long", o.drop_long, "with --enforce-sample-length: drop and count longer documents");
  cmd->add_flag("--reverse-complement", o.reverse_complement,
                "also write each record's reverse complement as its own document");
  cmd->add_option("--tag-prefix", o.tag_prefix, "text put before every sequence (e.g. a lineage tag)");
  cmd->add_flag("--uppercase", cli->uppercase, "upper-case every sequence (not the tag)");
  cmd->add_flag("--lowercase", cli->lowercase, "lower-case every sequence (not the tag)");
  cmd->add_option("--dtype", cli->dtype, "token dtype: auto (u16 below 65500 ids, else i32), u8, u16 or i32")
      ->capture_default_str();
  cmd->add_option("--workers", o.workers, "tokenising threads; the output is the same for any number")
      ->capture_default_str();
  cmd->add_flag("--skip-malformed", o.reader.skip_malformed,
                "skip and count malformed records instead of failing");
  cmd->callback([cli] { run_preprocess(*cli); });
}

}  // namespace strand::cli
