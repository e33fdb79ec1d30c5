// strand forward: logits and loss of a model on packed token sequences, written as safetensors.
// Inputs: "input_ids" [T] and "cu_seqlens" [n+1] (any integer dtype), and optionally "labels" [T] (-100 where
// nothing is predicted; a masked LM's targets). Output: "logits" F32 [T, V], "loss" F64 [] (mean
// cross-entropy over the labels; without labels, next-token inside each sequence for a causal model and NaN
// for a masked one), and the inputs and labels as I32.
#include "strand/cli/commands.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"
#include "strand/models/registry.h"

#include <cmath>

#include <fmt/format.h>

namespace strand::cli {
namespace {

struct ForwardOptions {
  std::string model;
  std::string inputs;
  std::string out;
};

Tensor read_input(const io::SafetensorsFile& file, const char* name) {
  STRAND_CHECK(file.contains(name), "{}: missing tensor '{}'", file.path(), name);
  const io::TensorInfo& info = file.info(name);
  STRAND_CHECK(!dtype_is_float(info.dtype) && info.dtype != DType::Bool && info.shape.rank() == 1,
               "{}: '{}' must be a one-dimensional integer tensor, got {}{}", file.path(), name,
               dtype_name(info.dtype), info.shape.str());
  return file.read(name).to(DType::I32);
}

void run_forward(const ForwardOptions& o) {
  const auto model = interop::load_hf_model(o.model);
  const bool causal = model_family_of(*model).objective() == Objective::causal;
  const io::SafetensorsFile inputs = io::SafetensorsFile::open(o.inputs);
  LMBatch batch;
  try {
    batch = LMBatch::from_packed(read_input(inputs, "input_ids"), read_input(inputs, "cu_seqlens"));
    if (inputs.contains("labels")) {
      batch.labels = read_input(inputs, "labels");
      STRAND_CHECK(batch.labels.numel() == batch.tokens.numel(), "'labels' has {} entries for {} tokens",
                   batch.labels.numel(), batch.tokens.numel());
    } else if (!causal) {
      batch.labels.fill(kIgnoreIndex);
    }
    // The model was built for at most max_positions: a longer sequence is refused, as score and generate
    // refuse it.
    const int32_t* cu = batch.layout.cu_seqlens.data<int32_t>();
    for (int64_t i = 0; model->max_positions() > 0 && i < batch.layout.num_seqs(); ++i)
      STRAND_CHECK(cu[i + 1] - cu[i] <= model->max_positions(),
                   "sequence {} has {} tokens, more than the model's {} positions (max_position_embeddings)",
                   i, cu[i + 1] - cu[i], model->max_positions());
  } catch (const Error& e) {
    rethrow_with_context(e, o.inputs);
  }
  Arena arena;
  const LossResult r = lm_loss(*model, arena, batch.to(Device::cpu(), model->dtype(), model->vocab_size()));
  Tensor loss = Tensor::empty({}, DType::F64);
  *loss.data<double>() = r.sums.weight_sum > 0 ? r.mean_loss() : NAN;
  io::save_safetensors(o.out, {{"input_ids", batch.tokens},
                               {"cu_seqlens", batch.layout.cu_seqlens},
                               {"labels", batch.labels},
                               {"logits", r.logits.to(DType::F32)},
                               {"loss", loss}});
  fmt::print("strand forward: {} sequences, {} tokens, loss {:.6f} over {} predicted tokens -> {}\n",
             batch.layout.num_seqs(), batch.tokens.numel(), r.mean_loss(), r.sums.tokens, o.out);
}

}  // namespace

void register_forward(CLI::App& app) {
  auto opts = std::make_shared<ForwardOptions>();
  CLI::App* cmd = app.add_subcommand(
      "forward", "logits and loss of a model on packed sequences (safetensors in and out)");
  cmd->add_option("--model", opts->model, "HF model directory")->required();
  cmd->add_option("--inputs", opts->inputs, "safetensors with input_ids [T] and cu_seqlens [n+1]")
      ->required();
  cmd->add_option("--out", opts->out, "output safetensors")->required();
  cmd->callback([opts] { run_forward(*opts); });
}

}  // namespace strand::cli
