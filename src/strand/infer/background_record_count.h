// The number of records of a sequence file, counted on a thread of its own while the work on them runs, so
// that a progress line (core/progress.h) can show an ETA without delaying the first result: the count
// reaches the Progress through set_total() when it is done. Only regular files are counted (a pipe or
// /dev/stdin cannot be read twice); a file that fails to read is left uncounted, since the work's own
// reader reports the error.
#pragma once

#include "strand/core/progress.h"
#include "strand/data/record_reader.h"

#include <atomic>
#include <string>
#include <thread>

namespace strand::infer {

class BackgroundRecordCount {
 public:
  // Starts counting when `progress` is shown (enabled()); does nothing otherwise. `progress` must outlive
  // this object.
  BackgroundRecordCount(const std::string& path, const data::ReaderOptions& options, Progress& progress);
  // Stops the count (at the next record) and waits for its thread.
  ~BackgroundRecordCount();
  BackgroundRecordCount(const BackgroundRecordCount&) = delete;
  BackgroundRecordCount& operator=(const BackgroundRecordCount&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace strand::infer
