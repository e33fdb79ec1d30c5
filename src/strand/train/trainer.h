// The training loop: micro-batches with gradient accumulation, AdamW with a schedule and gradient clipping,
// periodic evaluation, metrics, atomic checkpoints with exact resume, and a clean stop on SIGTERM/SIGINT.
#pragma once

#include "strand/train/gradient_sync.h"
#include "strand/train/train_config.h"

#include <nlohmann/json.hpp>

namespace strand {

struct TrainResult {
  int64_t final_step = 0;
  double final_train_loss = 0;
  double final_val_loss = 0;       // NaN without validation data
  double val_unigram_entropy = 0;  // entropy of the validation targets' frequencies: what a model that
                                   // learned only base composition would score (NaN without validation data)
  bool interrupted = false;        // stopped by a signal (a checkpoint was written)
  std::string checkpoint;          // the last checkpoint written, if any
  std::string export_dir;          // the HF export, if written
};

// Runs training as configured. `resolved_config` (the recipe with overrides) is stored in checkpoints.
// `sync` joins this process to the others of a data-parallel run (gradient_sync.h); the first form runs
// alone.
TrainResult train(const TrainConfig& config, const nlohmann::json& resolved_config);
TrainResult train(const TrainConfig& config, const nlohmann::json& resolved_config, GradientSync& sync);

// After this is called, SIGTERM and SIGINT make train() finish its current step, checkpoint and return.
void install_stop_handlers();

}  // namespace strand
