// Everything `strand train` reads from a recipe, with defaults (the embedded demo's values) and descriptions.
// Field names follow transformers' config.json inside `model`, and the bionemo/savanna recipes elsewhere.
#pragma once

#include "strand/core/config_schema.h"
#include "strand/models/model_family.h"
#include "strand/train/schedule.h"

#include <memory>
#include <string>
#include <vector>

namespace strand {

struct TrainConfig {
  struct Model {
    std::string arch;
    std::string init_from;
  } model;
  // The model.* fields of model.arch's family (ModelFamily::bind_recipe), bound by bind().
  std::shared_ptr<ModelRecipe> model_recipe;
  struct Data {
    std::vector<std::string> train, val;
    double val_fraction;
    std::string format, jsonl_field, tokenizer;
    int64_t max_length, overlap;
    bool truncate, add_bos_eos, skip_malformed, mock;
    int64_t mock_documents, mock_length, seed;
    std::string objective;
    double mlm_probability, mask_replace_prob, random_replace_prob;
  } data;
  struct Batch {
    std::string mode;
    int64_t tokens, sequences, grad_accum;
  } batch;
  struct Loss {
    bool mask_eod, mask_non_acgt, mask_control_tags, uppercase_labels;
    double lowercase_weight;
  } loss;
  struct Optimizer {
    double lr, min_lr, beta1, beta2, eps, weight_decay, clip_grad;
    bool decay_embeddings;
  } optimizer;
  struct Schedule {
    std::string type;
    int64_t warmup_steps, decay_steps;
    double wsd_decay_fraction;
  } schedule;
  struct Train {
    int64_t max_steps, stop_at_step, seed, log_every, eval_every, eval_batches, threads;
    int64_t recompute_layers, max_skipped_steps;
    int64_t markov_order;
    std::string device, precision;
    double peak_tflops;
    bool profile;
  } train;
  struct Run {
    std::string dir;
    bool jsonl, tensorboard, overwrite, plot;
  } run;
  struct Checkpoint {
    std::string dir;
    int64_t save_every, keep_last;
    bool resume, at_end;
  } checkpoint;
  struct Export {
    bool hf;
    std::string dir, dtype;
  } export_;

  // Binds every field to `schema` with its default and description: the trainer's sections, model.arch
  // (default `arch`) and the model.* fields of `arch`'s family. model.arch must name that family when the
  // model is built: load_train_config peeks it before binding.
  void bind(ConfigSchema& schema, const std::string& arch = "llama");

  // The configured model, uninitialised. REQUIRES: bind() for the family model.arch names.
  std::unique_ptr<LanguageModel> build_model(const nn::Placement& placement) const;
  // data.objective resolved: masked-token prediction (masked, or auto with a family whose objective is
  // masked), else next-token.
  bool masked_lm() const;
  ScheduleOptions schedule_options() const;
  std::string checkpoint_dir() const;  // checkpoint.dir, or <run.dir>/checkpoints
  std::string export_dir() const;      // export.dir, or <run.dir>/hf
  // Everything a run writes: the run directory's files and folders, the checkpoint and export directories.
  // A fresh run refuses to start where any of them holds something (run.overwrite removes them).
  std::vector<std::string> run_outputs() const;
  // <run.dir>/config.yaml: the resolved recipe, as --print-config shows it.
  std::string saved_config_path() const;
};

// Fills `config` from a recipe file (none when empty) and then overrides (ConfigSchema's forms): model.arch
// is read from both first, so that `schema` holds exactly the fields of that family's model section, and a
// key of another family's is an unknown key.
//
// With model.init_from and no model.* field given, the architecture is the init_from model's: model.arch from
// its config.json's model_type (a HF directory) or its stored recipe (a strand checkpoint), and every model.*
// field set to describe it, so that the resolved config (and config.yaml) says what is trained.
void load_train_config(TrainConfig& config, ConfigSchema& schema, const std::string& recipe_path,
                       const std::vector<std::string>& overrides);

}  // namespace strand
