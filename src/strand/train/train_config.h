// Everything `strand train` reads from a recipe, with defaults (the embedded demo's values) and descriptions.
// Field names follow transformers' config.json inside `model`, and the bionemo/savanna recipes elsewhere.
#pragma once

#include "strand/models/esm2/config.h"
#include "strand/models/llama/config.h"
#include "strand/train/config.h"
#include "strand/train/schedule.h"

#include <string>
#include <vector>

namespace strand {

struct TrainConfig {
  struct Model {
    std::string arch;
    int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
        num_key_value_heads;
    int64_t head_dim, max_position_embeddings;
    double rms_norm_eps, rope_theta, initializer_range;
    std::string rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_original_max_position_embeddings;
    bool tie_word_embeddings;
    double layer_norm_eps;
    bool token_dropout;
    int64_t mask_token_id;
    std::string init_from;
  } model;
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
    int64_t recompute_layers;
    std::string device, precision;
    double peak_tflops;
    bool profile;
  } train;
  struct Run {
    std::string dir;
    bool jsonl, tensorboard;
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

  // Binds every field to `schema` with its default and description.
  void bind(ConfigSchema& schema);

  LlamaConfig llama_config() const;
  Esm2Config esm2_config() const;
  // data.objective resolved: masked-token prediction (masked, or auto with model.arch esm2), else next-token.
  bool masked_lm() const;
  ScheduleOptions schedule_options() const;
  std::string checkpoint_dir() const;  // checkpoint.dir, or <run.dir>/checkpoints
  std::string export_dir() const;      // export.dir, or <run.dir>/hf
};

}  // namespace strand
