#include "strand/train/train_config.h"

#include "strand/core/json.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/models/registry.h"

#include <fmt/format.h>

#include <filesystem>

namespace strand {

void TrainConfig::bind(ConfigSchema& s, const std::string& arch) {
  // model.init_from and the choice of family are the trainer's; the family binds the rest of model.*.
  std::vector<std::string> families;
  for (const ModelFamily* f : model_families()) families.push_back(f->arch() + ": " + f->description());
  s.add_choice("model.arch", &model.arch, arch, model_archs(),
               fmt::format("model family, each with its own model.* fields ({}); --help-config with "
                           "model.arch=NAME lists that family's",
                           fmt::join(families, "; ")));
  s.add("model.init_from", &model.init_from, "",
        "fine-tune: load weights from a HF model directory or a strand checkpoint (step_N) directory");
  model_recipe = model_family(arch).bind_recipe(s);

  s.add("data.train", &data.train, {"data/ecoli_k12_train.fa.gz"},
        "training inputs: FASTA/FASTQ/JSONL files (any compression) or Megatron .bin/.idx prefixes");
  s.add("data.val", &data.val, {"data/vcholerae_o395_val.fa.gz"},
        "validation inputs (empty: use data.val_fraction); NAME=PATH entries form named sets, each logged as "
        "val/NAME/loss, the others one set logged as val/loss");
  s.add("data.val_fraction", &data.val_fraction, 0.0, NumericRange::from_below(0, 1),
        "fraction of training windows held out when data.val is empty");
  s.add_choice("data.format", &data.format, "auto", {"auto", "fasta", "fastq", "jsonl", "megatron"},
               "input format");
  s.add("data.jsonl_field", &data.jsonl_field, "text", "JSONL field holding the sequence");
  s.add("data.tokenizer", &data.tokenizer, "nucleotide",
        "nucleotide, char, esm (ESM-2 proteins, as transformers' EsmTokenizer), or a tokenizer.json path");
  s.add("data.max_length", &data.max_length, 256, NumericRange::at_least(2),
        "tokens per training window, BOS and EOS included");
  s.add("data.overlap", &data.overlap, 16, NumericRange::at_least(0),
        "content tokens shared by consecutive windows of a sequence");
  s.add("data.truncate", &data.truncate, false,
        "one example per sequence, its first data.max_length tokens (BOS and EOS included: a cut sequence "
        "still ends with EOS) and the rest dropped, as the ESM-2 recipe truncates proteins; false: windows "
        "over the whole sequence, data.overlap apart");
  s.add("data.add_bos_eos", &data.add_bos_eos, true,
        "wrap each window in BOS ... EOS (<cls> ... <eos> for esm)");
  s.add("data.skip_malformed", &data.skip_malformed, false,
        "skip (and count) malformed records instead of failing");
  s.add("data.mock", &data.mock, false, "random ACGT documents instead of files (benchmarks)");
  s.add("data.mock_documents", &data.mock_documents, 64, NumericRange::at_least(1), "mock data: documents");
  s.add("data.mock_length", &data.mock_length, 10000, NumericRange::at_least(1),
        "mock data: tokens per document");
  s.add("data.seed", &data.seed, 1234, "seed of the data order (and of the masked-LM masks)");
  s.add_choice(
      "data.objective", &data.objective, "auto", {"auto", "causal", "masked"},
      "what the model learns: causal (next token) or masked (masked tokens, BERT/ESM-2 style); auto: "
      "masked for model.arch esm2, causal otherwise");
  s.add("data.mlm_probability", &data.mlm_probability, 0.15, NumericRange::between(0, 1),
        "masked: chance that a non-special token is selected for prediction");
  s.add("data.mask_replace_prob", &data.mask_replace_prob, 0.8, NumericRange::between(0, 1),
        "masked: chance that a selected token is replaced by <mask>");
  s.add("data.random_replace_prob", &data.random_replace_prob, 0.1, NumericRange::between(0, 1),
        "masked: chance that a selected token is replaced by a random token (the rest stay unchanged)");

  s.add_choice("batch.mode", &batch.mode, "packed", {"packed", "padded"},
               "packed (THD, no padding) or padded (right padding to data.max_length)");
  s.add("batch.tokens", &batch.tokens, 2048, NumericRange::at_least(1), "packed: tokens per micro-batch");
  s.add("batch.sequences", &batch.sequences, 8, NumericRange::at_least(1),
        "padded: sequences per micro-batch");
  s.add("batch.grad_accum", &batch.grad_accum, 1, NumericRange::at_least(1),
        "micro-batches per optimizer step");

  s.add("loss.mask_eod", &loss.mask_eod, false, "exclude EOS/EOD targets from the loss");
  s.add("loss.lowercase_weight", &loss.lowercase_weight, 1.0, NumericRange::at_least(0),
        "weight of lowercase (repeat-masked) targets");
  s.add("loss.mask_non_acgt", &loss.mask_non_acgt, false, "exclude residue targets other than ACGTacgt");
  s.add("loss.mask_control_tags", &loss.mask_control_tags, false, "exclude |...| control-tag tokens");
  s.add("loss.uppercase_labels", &loss.uppercase_labels, false, "predict lowercase targets as uppercase");

  s.add("optimizer.lr", &optimizer.lr, 3e-3, NumericRange::at_least(0), "peak learning rate");
  s.add("optimizer.min_lr", &optimizer.min_lr, 3e-4, NumericRange::at_least(0),
        "learning rate at the end of the decay");
  s.add("optimizer.beta1", &optimizer.beta1, 0.9, NumericRange::from_below(0, 1), "AdamW beta1");
  s.add("optimizer.beta2", &optimizer.beta2, 0.98, NumericRange::from_below(0, 1), "AdamW beta2");
  s.add("optimizer.eps", &optimizer.eps, 1e-8, NumericRange::at_least(0), "AdamW epsilon");
  s.add("optimizer.weight_decay", &optimizer.weight_decay, 0.01, NumericRange::at_least(0),
        "decoupled weight decay (not on norms or biases)");
  s.add("optimizer.decay_embeddings", &optimizer.decay_embeddings, true, "apply weight decay to embeddings");
  s.add("optimizer.clip_grad", &optimizer.clip_grad, 1.0, NumericRange::at_least(0),
        "global gradient-norm clip (0: off)");

  s.add_choice("schedule.type", &schedule.type, "cosine", {"cosine", "linear", "wsd", "constant"},
               "decay after warmup");
  s.add("schedule.warmup_steps", &schedule.warmup_steps, 20, NumericRange::at_least(0),
        "linear warmup steps");
  s.add("schedule.decay_steps", &schedule.decay_steps, 0, NumericRange::at_least(0),
        "decay steps after warmup (0: to train.max_steps)");
  s.add("schedule.wsd_decay_fraction", &schedule.wsd_decay_fraction, 0.2, NumericRange::between(0, 1),
        "wsd: final fraction that decays");

  s.add("train.max_steps", &train.max_steps, 300, NumericRange::at_least(1), "optimizer steps");
  s.add("train.stop_at_step", &train.stop_at_step, 0, NumericRange::at_least(0),
        "end this run after that step with a checkpoint, as a preemption would (0: run to max_steps); the "
        "schedule still spans max_steps, so a resumed run continues exactly");
  s.add("train.seed", &train.seed, 42, "seed of the initialisation");
  s.add("train.log_every", &train.log_every, 10, NumericRange::at_least(1), "steps between metric records");
  s.add("train.eval_every", &train.eval_every, 50, NumericRange::at_least(0),
        "steps between validation passes (0: only at the end)");
  s.add("train.eval_batches", &train.eval_batches, 8, NumericRange::at_least(0),
        "validation micro-batches per pass (0: all)");
  s.add("train.threads", &train.threads, 0, NumericRange::at_least(0), "CPU threads (0: all cores)");
  s.add("train.device", &train.device, "cpu",
        "where to train: cpu (F32 reference), or cuda / cuda:N (the first GPU / GPU N, from 0: F32 master "
        "weights, compute in train.precision); checked when training starts");
  s.add_choice(
      "train.precision", &train.precision, "bf16", {"bf16", "fp32"},
      "compute precision of activations and weight copies on cuda (the CPU always computes in fp32)");
  s.add(
      "train.max_skipped_steps", &train.max_skipped_steps, 3, NumericRange::at_least(0),
      "consecutive steps whose gradient norm is not finite (NaN or inf) that are skipped, the weights left "
      "as they were, before training stops with an error naming the last checkpoint (0: stop at the first)");
  s.add(
      "train.recompute_layers", &train.recompute_layers, 0, NumericRange::at_least(0),
      "activation recompute: blocks (from the first) that keep only their input and run their forward again "
      "in the backward, trading about a third more compute for memory (0: none; >= layers: all)");
  s.add("train.markov_order", &train.markov_order, 5, NumericRange::at_least(0),
        "causal objective: order of the Markov-chain baseline fitted on the training windows and logged as "
        "val/markov_loss beside the unigram entropy (0: none)");
  s.add("train.peak_tflops", &train.peak_tflops, 989.0, NumericRange::above(0),
        "the GPU's dense peak for the compute precision, for the logged MFU (989: H100 SXM bf16)");
  s.add(
      "train.profile", &train.profile, false,
      "log where step time goes (time/{gemm,attention,elementwise,optimizer,other}_ms per step) and end with "
      "a "
      "table of the ops by shape (<run.dir>/profile.tsv): each op is timed by CUDA events on a GPU, the host "
      "clock on the CPU; costs a few microseconds per op");

  s.add("run.dir", &run.dir, "runs/demo", "run directory: metrics, TensorBoard events, checkpoints, export");
  s.add("run.jsonl", &run.jsonl, true, "write <run.dir>/metrics.jsonl");
  s.add("run.tensorboard", &run.tensorboard, true, "write TensorBoard events to <run.dir>/tensorboard");
  s.add("run.overwrite", &run.overwrite, false,
        "start afresh where an earlier run left outputs (metrics, checkpoints, export), deleting them; "
        "without it such a run refuses to start (checkpoint.resume=true continues the earlier run instead)");
  s.add("run.plot", &run.plot, true,
        "draw the training and validation loss curves with their baselines as <run.dir>/loss.png (at every "
        "evaluation and at the end)");

  s.add("checkpoint.dir", &checkpoint.dir, "", "checkpoint directory (empty: <run.dir>/checkpoints)");
  s.add("checkpoint.save_every", &checkpoint.save_every, 100, NumericRange::at_least(0),
        "steps between checkpoints (0: only at the end)");
  s.add("checkpoint.keep_last", &checkpoint.keep_last, 2, NumericRange::at_least(0),
        "checkpoints kept (0: all)");
  s.add("checkpoint.resume", &checkpoint.resume, false, "continue from the newest complete checkpoint");
  s.add("checkpoint.at_end", &checkpoint.at_end, true,
        "write a checkpoint when training ends (benchmarks turn it off)");

  s.add("export.hf", &export_.hf, true, "write a HF model directory at the end of training");
  s.add("export.dir", &export_.dir, "", "HF export directory (empty: <run.dir>/hf)");
  s.add_choice("export.dtype", &export_.dtype, "f32", {"f32", "bf16"}, "weights dtype of the export");
}

std::unique_ptr<LanguageModel> TrainConfig::build_model(const nn::Placement& placement) const {
  STRAND_CHECK(model_recipe != nullptr, "train config: build_model before bind");
  std::unique_ptr<LanguageModel> m = model_recipe->build(placement);
  STRAND_CHECK(m->arch() == model.arch,
               "model.arch is '{}' but the model.* fields bound are those of '{}' (load_train_config reads "
               "model.arch before binding)",
               model.arch, m->arch());
  return m;
}

bool TrainConfig::masked_lm() const {
  return data.objective == "masked" ||
         (data.objective == "auto" && model_family(model.arch).objective() == Objective::masked);
}

ScheduleOptions TrainConfig::schedule_options() const {
  ScheduleOptions o;
  o.type = schedule.type;
  o.lr = optimizer.lr;
  o.min_lr = optimizer.min_lr;
  o.warmup_steps = schedule.warmup_steps;
  o.decay_steps = schedule.decay_steps;
  o.total_steps = train.max_steps;
  o.wsd_decay_fraction = schedule.wsd_decay_fraction;
  return o;
}

std::string TrainConfig::checkpoint_dir() const {
  return checkpoint.dir.empty() ? (std::filesystem::path(run.dir) / "checkpoints").string() : checkpoint.dir;
}

std::string TrainConfig::export_dir() const {
  return export_.dir.empty() ? (std::filesystem::path(run.dir) / "hf").string() : export_.dir;
}

std::vector<std::string> TrainConfig::run_outputs() const {
  const std::filesystem::path dir(run.dir);
  return {(dir / "metrics.jsonl").string(),
          (dir / "tensorboard").string(),
          (dir / "profile.tsv").string(),
          (dir / "loss.png").string(),
          saved_config_path(),
          checkpoint_dir(),
          export_dir()};
}

std::string TrainConfig::saved_config_path() const {
  return (std::filesystem::path(run.dir) / "config.yaml").string();
}

namespace {

namespace fs = std::filesystem;

// The recipe a strand checkpoint directory was trained with (its trainer_state.json).
nlohmann::json checkpoint_recipe(const std::string& dir) {
  const std::string path = (fs::path(dir) / "trainer_state.json").string();
  STRAND_CHECK(fs::exists(path),
               "model.init_from={}: neither a HF model directory (no config.json) nor a strand "
               "checkpoint (no trainer_state.json)",
               dir);
  const nlohmann::json state = read_json_file(path);
  STRAND_CHECK(
      state.contains("config") && state["config"].contains("model") && state["config"]["model"].is_object(),
      "{}: holds no recipe with a model section", path);
  return state["config"];
}

// model.arch of the model in `init_from`.
std::string init_from_arch(const std::string& init_from) {
  if (interop::is_hf_model_directory(init_from)) {
    const std::string source = interop::hf_config_path(init_from);
    const nlohmann::json config = interop::read_hf_config(init_from);
    STRAND_CHECK(config.contains("model_type") && config["model_type"].is_string(), "{}: no model_type",
                 source);
    return model_family_for_hf_type(config["model_type"].get<std::string>(), source).arch();
  }
  const nlohmann::json model = checkpoint_recipe(init_from)["model"];
  STRAND_CHECK(model.contains("arch") && model["arch"].is_string(), "{}/trainer_state.json: no model.arch",
               init_from);
  return model["arch"].get<std::string>();
}

bool any_model_field_set(const ConfigSchema& schema) {
  for (const std::string& key : schema.keys())
    if (key.starts_with("model.") && key != "model.arch" && key != "model.init_from" && schema.is_set(key))
      return true;
  return false;
}

// The model.* fields set to describe the model in `init_from` (a HF directory or a strand checkpoint).
void take_model_from(const std::string& init_from, TrainConfig& config, ConfigSchema& schema) {
  if (interop::is_hf_model_directory(init_from)) {
    config.model_recipe->assign_hf_config(interop::read_hf_config(init_from),
                                          interop::hf_config_path(init_from));
    return;
  }
  nlohmann::json model = checkpoint_recipe(init_from)["model"];
  model.erase("init_from");  // the checkpoint's own starting point is not this run's
  schema.load_json({{"model", model}}, (fs::path(init_from) / "trainer_state.json").string());
}

}  // namespace

void load_train_config(TrainConfig& config, ConfigSchema& schema, const std::string& recipe_path,
                       const std::vector<std::string>& overrides) {
  std::string arch = "llama", init_from;
  ConfigSchema peek;
  peek.add("model.arch", &arch, arch, "");
  peek.add("model.init_from", &init_from, "", "");
  peek.skip_unknown_keys();
  if (!recipe_path.empty()) peek.load_yaml_file(recipe_path);
  peek.apply_overrides(overrides);
  if (!init_from.empty() && !peek.is_set("model.arch")) arch = init_from_arch(init_from);
  config.bind(schema, model_family(arch).arch());
  if (!recipe_path.empty()) schema.load_yaml_file(recipe_path);
  schema.apply_overrides(overrides);
  if (!config.model.init_from.empty() && !any_model_field_set(schema))
    take_model_from(config.model.init_from, config, schema);
}

}  // namespace strand
