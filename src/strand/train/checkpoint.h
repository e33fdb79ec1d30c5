// Training checkpoints: step directories written atomically, the newest K kept, the newest complete one found
// on resume, torn or corrupt ones skipped with a message.
//
// Layout: <root>/step_<N>/ holding
//   model.safetensors       weights by canonical name (F32 master copy)
//   optimizer.safetensors   optimizer states by "<param name>.exp_avg" / ".exp_avg_sq"
//   trainer_state.json      step, consumed tokens, RNG and data-loader position, resolved config
//   <extra files>           CheckpointContents::extra_files, by name
//   MANIFEST.json           written last: every other file with its size and CRC-32C
//
// MANIFEST.json: {"format": "strand-checkpoint", "version": 1, "step": N,
//                 "files": {"model.safetensors": {"size": 4096, "crc32c": "89abcdef"}, ...}}
// (sizes in bytes; CRC-32C/Castagnoli as 8 lowercase hex digits). model.safetensors and trainer_state.json
// must be listed; optimizer.safetensors may be absent (a checkpoint of weights only).
//
// See Note [Checkpoint publication] in checkpoint.cpp for how a checkpoint becomes visible: in short, it is
// written into <root>/.tmp.step_<N>.<pid>.<n>/ (each file fsynced, MANIFEST computed by re-reading the files
// and written last), the directory is fsynced and renamed to step_<N>, and <root> is fsynced. A reader
// therefore sees either no step_<N> or a complete one, unless something outside strand damaged it later; a
// directory without a valid MANIFEST, or whose files disagree with it, is incomplete and is skipped on
// resume.
#pragma once

#include "strand/core/tensor.h"
#include "strand/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strand {

inline constexpr const char* kCheckpointFormat = "strand-checkpoint";
inline constexpr int kCheckpointVersion = 1;
inline constexpr const char* kCheckpointManifest = "MANIFEST.json";
inline constexpr const char* kCheckpointModel = "model.safetensors";
inline constexpr const char* kCheckpointOptimizer = "optimizer.safetensors";
inline constexpr const char* kCheckpointTrainerState = "trainer_state.json";

struct CheckpointContents {
  std::vector<io::NamedTensor> model;
  std::vector<io::NamedTensor> optimizer;  // saved even when empty; load returns it empty if not in MANIFEST
  nlohmann::json trainer_state;            // written pretty-printed (indent 2)
  // Further files by name (a copy of the run's config, a tokenizer, ...), written and verified like the rest.
  // Names must be plain file names that do not start with '.' and are none of the files above.
  std::map<std::string, std::string> extra_files;
};

// Thread-safety: every method may be called from several threads at once, and several processes may use one
// root, provided no two saves of the same step overlap. A temporary directory that this process is still
// writing is never removed by a concurrent save's cleanup.
class CheckpointManager {
 public:
  // keep_last: how many complete checkpoints to keep (older ones are deleted after a successful save); 0
  // keeps all. Throws strand::Error if keep_last is negative. Nothing is touched on disk until save().
  CheckpointManager(std::string root, int64_t keep_last);

  // Writes step_<step> atomically (see above), creating the root if missing, and returns the final directory.
  // An existing step_<step> is replaced only after the new one is complete. REQUIRES step >= 0; tensors on
  // the host.
  //
  // On failure (disk full, no permission, invalid tensors) throws strand::Error naming the checkpoint and the
  // path at fault; the temporary directory is removed and existing checkpoints are left as they were.
  //
  // After a successful save it prunes, and problems while pruning are printed to stderr rather than thrown
  // (the new checkpoint is safe at that point):
  //  - complete checkpoints beyond the newest keep_last by step are deleted, never the one just written.
  //    Completeness here is the cheap check (MANIFEST valid, every listed file present with its size); CRCs
  //    are checked on resume. Incomplete step_<N> directories are left for inspection.
  //  - stale .tmp.* / .old.* directories are deleted: those of processes that are no longer running, and
  //    those carrying this process's pid that this process is not writing (left by an earlier process with
  //    the same pid, as happens across container restarts). A directory of another live process is kept.
  std::string save(int64_t step, const CheckpointContents& contents);

  // Complete checkpoints, oldest first, as (step, directory), each fully verified (sizes and CRC-32C, which
  // reads every file). Only directories named step_<N>, N a decimal integer >= 0 without leading zeros, are
  // considered; other entries are ignored. Incomplete ones are reported through `skipped` as
  // "<dir>: <file>: <why>" and never returned. A missing root has no checkpoints; an unreadable one throws.
  std::vector<std::pair<int64_t, std::string>> list_complete(
      std::vector<std::string>* skipped = nullptr) const;

  // The newest complete checkpoint directory, if any: the last of list_complete(), found by checking from the
  // newest step down and stopping at the first complete one, so older checkpoints are not read. Each newer
  // one skipped is printed to stderr as "strand: skipping incomplete checkpoint <dir>: <file>: <why>".
  std::optional<std::string> newest_complete() const;

  // Removes the stale .tmp.* / .old.* directories (as save's pruning does, above): the next run calls it
  // when it starts, so that a kill -9 leaves nothing behind for long. Problems are printed, not thrown.
  void remove_stale_directories() const;

  const std::string& root() const { return root_; }
  int64_t keep_last() const { return keep_last_; }

 private:
  void prune(const std::string& just_saved) const;

  std::string root_;
  int64_t keep_last_;
};

// Verifies a checkpoint directory against its MANIFEST (format, version, the step if the directory is named
// step_<N>, and every listed file's size and CRC-32C); throws strand::Error naming the file at fault:
//   "<dir>/MANIFEST.json: missing (checkpoint incomplete)"
//   "<dir>/model.safetensors: size 100 differs from MANIFEST (4096)"
//   "<dir>/model.safetensors: CRC-32C 0x1234abcd differs from MANIFEST 0x89abcdef"
void verify_checkpoint(const std::string& dir);

// Verifies, then reads every tensor of model.safetensors and optimizer.safetensors (in file order), the
// trainer state and the extra files. Throws strand::Error naming the file at fault.
CheckpointContents load_checkpoint(const std::string& dir);

}  // namespace strand
