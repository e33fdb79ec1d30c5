// The directory a training run owns (run.dir): locked for as long as the run lives, so that a second run on
// it refuses instead of interleaving metrics and replacing checkpoints, and checked before anything is
// written, so that a new run never mixes with an earlier one's outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strand {

class RunDirectoryLock {
 public:
  // Creates `dir` if missing and takes <dir>/.lock (flock: the kernel releases it when the process ends,
  // however it ends), writing this process's pid into it. Throws strand::Error naming the holder's pid when
  // another process holds it.
  explicit RunDirectoryLock(const std::string& dir);
  ~RunDirectoryLock();
  RunDirectoryLock(const RunDirectoryLock&) = delete;
  RunDirectoryLock& operator=(const RunDirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Those of `paths` that exist and hold something (a file, or a directory with an entry in it).
std::vector<std::string> existing_outputs(const std::vector<std::string>& paths);

// Deletes each path (a file or a directory tree); errors name the path.
void remove_outputs(const std::vector<std::string>& paths);

// Rewrites a metrics.jsonl (atomically) keeping its records up to `last_step`, in order, and dropping later
// ones and any line that is not a complete JSON record (cut by a full disk or a kill): a resumed run then
// continues the log from its checkpoint's step, without the steps it will train again. Returns the number
// of lines dropped. A missing file is left missing.
int64_t truncate_metrics_log(const std::string& path, int64_t last_step);

}  // namespace strand
