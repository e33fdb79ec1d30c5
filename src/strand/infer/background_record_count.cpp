#include "strand/infer/background_record_count.h"

#include <exception>
#include <filesystem>

namespace strand::infer {

BackgroundRecordCount::BackgroundRecordCount(const std::string& path, const data::ReaderOptions& options,
                                             Progress& progress) {
  if (!progress.enabled() || !std::filesystem::is_regular_file(path)) return;
  thread_ = std::thread([this, path, options, &progress] {
    try {
      const auto reader = data::RecordReader::open(path, options);
      data::SequenceRecord record;
      int64_t records = 0;
      while (!stop_.load(std::memory_order_relaxed) && reader->next(record)) ++records;
      if (!stop_.load(std::memory_order_relaxed)) progress.set_total(records);
    } catch (const std::exception&) {
      // The work's own reader meets the same error and reports it; the line goes on without an ETA.
    }
  });
}

BackgroundRecordCount::~BackgroundRecordCount() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

}  // namespace strand::infer
