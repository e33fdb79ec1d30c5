// strand generate: continue a prompt with a model (sampling with a decode state: KV caches) and print
// prompt + continuation, one line per sample.
#include "strand/cli/commands.h"
#include "strand/cli/model_options.h"
#include "strand/infer/generate.h"
#include "strand/infer/model_tokenizer.h"
#include "strand/interop/hf_checkpoint.h"

#include <fmt/format.h>

#include <cstdio>

namespace strand::cli {
namespace {

struct GenerateCliOptions {
  std::string model;
  std::string prompt;
  std::string tokenizer;  // empty: the model directory's tokenizer.json, else nucleotide
  infer::GenerateOptions options;
  DeviceOptions device;
};

void run_generate(const GenerateCliOptions& o) {
  const data::Tokenizer tokenizer = infer::model_tokenizer(o.model, o.tokenizer);
  const auto model = interop::load_hf_model(o.model, o.device.placement());
  auto* causal = dynamic_cast<CausalLM*>(model.get());
  STRAND_CHECK(causal != nullptr, "{}: a model of arch '{}' cannot generate (it has no incremental decoding)",
               o.model, model->arch());
  const std::vector<infer::GenerateResult> samples = infer::generate(*causal, tokenizer, o.prompt, o.options);
  for (const infer::GenerateResult& r : samples) fmt::print("{}{}\n", o.prompt, r.text);
  std::fflush(stdout);
}

}  // namespace

void register_generate(CLI::App& app) {
  auto opts = std::make_shared<GenerateCliOptions>();
  infer::GenerateOptions& g = opts->options;
  CLI::App* cmd =
      app.add_subcommand("generate", "continue a prompt with a model; prints prompt + continuation");
  cmd->add_option("--model", opts->model, "HF model directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--prompt", opts->prompt, "text to continue (after BOS; no EOS is added)")->required();
  cmd->add_option("--max-new-tokens", g.max_new_tokens, "tokens to generate at most (stops early at EOS)")
      ->capture_default_str();
  cmd->add_option("--temperature", g.sampling.temperature, "softmax temperature; 0 is greedy (argmax)")
      ->capture_default_str();
  cmd->add_option("--top-k", g.sampling.top_k, "sample among the k most likely tokens; 0 keeps all")
      ->capture_default_str();
  cmd->add_option("--top-p", g.sampling.top_p,
                  "nucleus sampling: the most likely tokens up to this mass; 1 keeps all")
      ->capture_default_str();
  cmd->add_option("--seed", g.sampling.seed, "sampling seed (the same seed gives the same output)")
      ->capture_default_str();
  cmd->add_option("--num-samples", g.num_samples,
                  "continuations of the prompt, decoded together and printed one per line; sample i draws "
                  "from Philox stream i of the seed, so sample 0 is what --num-samples 1 prints")
      ->capture_default_str();
  cmd->add_flag("--any-token", g.any_token,
                "sample every token that decodes to text, and allow any character of the vocabulary in the "
                "prompt (default: the tokenizer's sequence alphabet, e.g. ACGTNacgtn for DNA, and EOS)");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "nucleotide, char, or a tokenizer.json path (default: DIR/tokenizer.json if present, else "
                  "nucleotide)");
  opts->device.add_to(*cmd);
  cmd->callback([opts] { run_generate(*opts); });
}

}  // namespace strand::cli
