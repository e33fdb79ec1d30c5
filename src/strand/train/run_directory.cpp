#include "strand/train/run_directory.h"

#include "strand/core/error.h"
#include "strand/io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace strand {
namespace fs = std::filesystem;

RunDirectoryLock::RunDirectoryLock(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  STRAND_CHECK(!ec, "run.dir {}: cannot create it: {}", dir, ec.message());
  const std::string path = (fs::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  STRAND_CHECK(fd_ >= 0, "{}: cannot open the run directory's lock: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof(holder) - 1, 0);
    ::close(fd_);
    fd_ = -1;
    STRAND_CHECK(err != EWOULDBLOCK,
                 "run.dir {} is in use by another strand run (pid {}, lock {}): wait for it, "
                 "or give this run another run.dir",
                 dir, n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string("unknown"), path);
    throw Error(fmt::format("{}: cannot lock: {}", path, std::strerror(err)));
  }
  // The pid only serves a refused run's message: the lock holds whether or not it is written.
  const std::string pid = std::to_string(::getpid());
  [[maybe_unused]] const bool wrote_pid =
      ::ftruncate(fd_, 0) == 0 &&
      ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

RunDirectoryLock::~RunDirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::vector<std::string> existing_outputs(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(p, ec);
    if (ec || !fs::exists(st)) continue;
    if (fs::is_directory(st) && fs::is_empty(p, ec)) continue;
    out.push_back(p);
  }
  return out;
}

void remove_outputs(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    std::error_code ec;
    fs::remove_all(p, ec);
    STRAND_CHECK(!ec, "run.overwrite: cannot remove {}: {}", p, ec.message());
  }
}

int64_t truncate_metrics_log(const std::string& path, int64_t last_step) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::string kept;
  int64_t dropped = 0;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool complete = record.is_object() && record.contains("step") && record["step"].is_number_integer();
    if (complete && record["step"].get<int64_t>() <= last_step) {
      kept += line;
      kept += '\n';
    } else {
      ++dropped;
    }
  }
  STRAND_CHECK(!in.bad(), "{}: read failed", path);
  if (dropped > 0) io::write_file_atomic(path, kept);
  return dropped;
}

}  // namespace strand
