// Training checkpoints: step directories written atomically, the newest K kept, the newest complete one found
// on resume, torn or corrupt ones skipped with a message.
//
// Layout: <root>/step_<N>/ holding
//   model.safetensors       weights by canonical name (F32 master copy)
//   optimizer.safetensors   optimizer states by "<param name>.exp_avg" / ".exp_avg_sq"
//   trainer_state.json      step, consumed tokens, RNG and data-loader position, resolved config
//   (any further files the caller adds)
//   MANIFEST.json           written last: every other file with its size and CRC-32C
// Writing goes to <root>/.tmp.step_<N>.<pid>/, each file fsynced, MANIFEST last, then the directory is renamed to
// step_<N> and <root> fsynced. A directory without a valid MANIFEST, or whose files disagree with it, is incomplete.
#pragma once

#include "strand/core/tensor.h"
#include "strand/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strand {

struct CheckpointContents {
  std::vector<io::NamedTensor> model;
  std::vector<io::NamedTensor> optimizer;
  nlohmann::json trainer_state;
};

class CheckpointManager {
 public:
  // keep_last: how many complete checkpoints to keep (older ones are deleted after a successful save); 0 keeps all.
  CheckpointManager(std::string root, int64_t keep_last);

  // Writes step_<step> atomically (see above) and prunes old ones. Returns the final directory.
  // An existing step_<step> is replaced only after the new one is complete.
  std::string save(int64_t step, const CheckpointContents& contents);

  // Complete checkpoints, oldest first, as (step, directory). Incomplete ones are reported through `skipped`
  // ("<dir>: <why>") and never returned.
  std::vector<std::pair<int64_t, std::string>> list_complete(std::vector<std::string>* skipped = nullptr) const;

  // The newest complete checkpoint directory, if any; each skipped one is printed to stderr as one line.
  std::optional<std::string> newest_complete() const;

  const std::string& root() const { return root_; }

 private:
  std::string root_;
  int64_t keep_last_;
};

// Verifies a checkpoint directory against its MANIFEST (sizes and CRC-32C); throws strand::Error naming the file.
void verify_checkpoint(const std::string& dir);
// Reads a verified checkpoint.
CheckpointContents load_checkpoint(const std::string& dir);

}  // namespace strand
