// Whether a checkpoint belongs to the run that resumes it: the recipe it was written with (stored in its
// trainer_state.json) against the resuming run's.
//
//   must match    model.*, data.*, batch.*, loss.*, train.seed: what decides the model and the data stream,
//                 so that the resumed steps continue the same run;
//   may change    optimizer.*, schedule.*, train.max_steps: a run continued longer or with another learning
//                 rate (each change is reported);
//   free          the rest: logging, evaluation, checkpointing, device and precision, threads, export.
// Keys one of the two recipes lacks (a field added or removed between versions) are not compared.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace strand {

// Throws strand::Error naming `checkpoint` and every must-match key that differs, with both values; returns
// the may-change keys that differ, as "key: old -> new".
std::vector<std::string> check_resume_config(const nlohmann::json& saved, const nlohmann::json& current,
                                             const std::string& checkpoint);

}  // namespace strand
