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
  int64_t steps_run = 0;           // optimizer steps this run took (0 when a resumed run had none left)
  int64_t skipped_steps = 0;       // of those, updates skipped for a non-finite gradient norm
  bool interrupted = false;        // stopped early (a checkpoint was written): by a signal or stop_at_step
  int stop_signal = 0;             // SIGTERM or SIGINT when a signal stopped it
  std::string checkpoint;          // the last checkpoint written, if any
  std::string export_dir;          // the HF export, if written
};

// Runs training as configured. `schema` is the one `config` is bound to: its values (the recipe with
// overrides) are stored in checkpoints and in <run.dir>/config.yaml. `sync` joins this process to the
// others of a data-parallel run (gradient_sync.h); the first form runs alone.
//
// The run directory is locked for the run (a second run on it refuses). A fresh run refuses to start where
// an earlier run left outputs, unless run.overwrite removes them; a resumed one continues only a checkpoint
// of its own recipe (resume_check.h) and step range, and trims metrics.jsonl to the checkpoint's step.
TrainResult train(const TrainConfig& config, const ConfigSchema& schema);
TrainResult train(const TrainConfig& config, const ConfigSchema& schema, GradientSync& sync);

// After this is called, SIGTERM and SIGINT make train() finish its current step, checkpoint and return.
void install_stop_handlers();

}  // namespace strand
