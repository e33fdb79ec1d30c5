// strand embed: per-sequence (mean over residues) or per-residue embeddings of every record of a FASTA/FASTQ/
// JSONL file at a chosen layer of a model, written as one safetensors file:
//   mean:        "embeddings" F32 [records, hidden]
//   per-residue: "residues.<i>" F32 [residues of record i, hidden], i in input order
// with metadata "ids" (a JSON array of the record ids, in order), "lengths" (residues per record), "layer",
// "pooling" and "model".
#include "strand/cli/commands.h"
#include "strand/cli/model_options.h"
#include "strand/core/progress.h"
#include "strand/infer/background_record_count.h"
#include "strand/infer/embed.h"
#include "strand/infer/model_tokenizer.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace strand::cli {
namespace {

struct EmbedCliOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string tokenizer;
  std::string format = "auto";
  std::string pooling = "mean";
  data::ReaderOptions reader;
  infer::EmbedOptions options;
  DeviceOptions device;
};

void run_embed(EmbedCliOptions& o) {
  o.reader.format = data::record_format_from_name(o.format);
  o.options.pooling = o.pooling == "mean" ? infer::Pooling::Mean : infer::Pooling::PerResidue;
  const data::Tokenizer tokenizer = infer::model_tokenizer(o.model, o.tokenizer);
  const auto model = interop::load_hf_model(o.model, o.device.placement());
  auto reader = data::RecordReader::open(o.input, o.reader);
  std::vector<io::NamedTensor> tensors;
  std::vector<Tensor> means;
  nlohmann::json ids = nlohmann::json::array(), lengths = nlohmann::json::array();
  const auto start = std::chrono::steady_clock::now();
  Progress progress("strand embed", "records");
  const infer::BackgroundRecordCount count(o.input, o.reader, progress);
  const infer::RecordBatchSummary s =
      infer::embed_records(*model, tokenizer, *reader, o.options, [&](infer::RecordEmbedding& e) {
        progress.advance();
        if (o.options.pooling == infer::Pooling::Mean) {
          means.push_back(e.values);
        } else {
          tensors.push_back({fmt::format("residues.{}", ids.size()), e.values});
        }
        ids.push_back(e.id);
        lengths.push_back(e.residues);
      });
  progress.finish();
  STRAND_CHECK(s.records > 0, "{}: no records to embed", o.input);
  if (o.options.pooling == infer::Pooling::Mean) {
    const int64_t hidden = model->hidden_size();
    Tensor all = Tensor::empty({static_cast<int64_t>(means.size()), hidden}, DType::F32);
    for (size_t i = 0; i < means.size(); ++i)
      std::copy(means[i].data<float>(), means[i].data<float>() + hidden,
                all.data<float>() + static_cast<int64_t>(i) * hidden);
    tensors.push_back({"embeddings", all});
  }
  const int64_t layer = o.options.layer < 0 ? model->num_layers() + 1 + o.options.layer : o.options.layer;
  io::save_safetensors(o.output, tensors,
                       {{"ids", ids.dump()},
                        {"lengths", lengths.dump()},
                        {"layer", std::to_string(layer)},
                        {"pooling", o.pooling},
                        {"model", o.model}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      stderr,
      "strand embed: {} records, {} tokens in {} batches, layer {} of {}, {:.1f} s ({:.0f} tokens/s) -> {}\n",
      s.records, s.tokens, s.batches, layer, model->num_layers(), seconds,
      seconds > 0 ? static_cast<double>(s.tokens) / seconds : 0.0, o.output);
  if (s.truncated > 0)
    fmt::print(stderr, "strand embed: {} records longer than the model's {} positions were truncated\n",
               s.truncated, model->max_positions());
  if (s.unknown > 0)
    fmt::print(stderr,
               "strand embed: warning: {} characters outside the vocabulary of tokenizer '{}' were embedded "
               "as UNK\n",
               s.unknown, tokenizer.name());
  if (reader->skipped() > 0)
    fmt::print(stderr, "strand embed: warning: {} malformed records skipped\n", reader->skipped());
  if (const auto w = infer::input_kind_warning(infer::sequence_alphabet(tokenizer), s.composition, o.input))
    fmt::print(stderr, "strand embed: warning: {}\n", *w);
}

}  // namespace

void register_embed(CLI::App& app) {
  auto opts = std::make_shared<EmbedCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "per-sequence or per-residue embeddings of every record of a FASTA/FASTQ/JSONL file (safetensors)");
  cmd->add_option("--model", opts->model, "HF model directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--input", opts->input, "FASTA, FASTQ or JSONL file (plain, gzip, zstd or xz)")->required();
  cmd->add_option("--output", opts->output, "safetensors file to write")->required();
  cmd->add_option(
         "--layer", opts->options.layer,
         "representation layer: 0 (embeddings) .. layers (after the final norm); negative counts from the "
         "end")
      ->capture_default_str();
  cmd->add_option("--pooling", opts->pooling, "mean (one vector per record) or per-residue")
      ->check(CLI::IsMember({"mean", "per-residue"}))
      ->capture_default_str();
  cmd->add_option("--batch-tokens", opts->options.batching.batch_tokens, "tokens per packed forward batch")
      ->capture_default_str();
  cmd->add_flag("--truncate", opts->options.batching.truncate,
                "cut records longer than the model's positions to their first residues (default: an error)");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "esm, nucleotide, char, or a tokenizer.json path (default: the model's)");
  cmd->add_option("--format", opts->format, "auto, fasta, fastq or jsonl")->capture_default_str();
  cmd->add_option("--jsonl-field", opts->reader.jsonl_field, "JSONL: the string field holding the sequence")
      ->capture_default_str();
  opts->device.add_to(*cmd);
  cmd->callback([opts] { run_embed(*opts); });
}

}  // namespace strand::cli
