#include "strand/io/atomic_file.h"

#include "strand/core/error.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace strand::io {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_dir(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// Makes a completed rename durable. Some filesystems cannot sync a directory and say so with EINVAL (or EROFS
// for a read-only mount, where nothing was renamed to begin with); the rename has happened there all the
// same.
void sync_dir(const std::string& path, const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  STRAND_CHECK(fd >= 0, "{}: cannot open directory {} to sync it: {}", path, dir, errno_text());
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  STRAND_CHECK(rc == 0 || saved == EINVAL || saved == EROFS, "{}: fsync of directory {} failed: {}", path,
               dir, std::strerror(saved));
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  STRAND_CHECK(!path_.empty(), "cannot write a file with an empty path");
  // The pid and a process-wide counter keep concurrent writers (threads or processes) of one target apart;
  // O_EXCL makes a leftover from a crashed writer a retry rather than a clobber.
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path target(path_);
  const std::string dir = parent_dir(path_);
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path_ = (std::filesystem::path(dir) /
                  fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), counter.fetch_add(1)))
                     .string();
    // Mode 0666 lets the umask decide the final permissions, as for any newly created file.
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    STRAND_CHECK(errno == EEXIST, "{}: cannot create temporary file {}: {}", path_, temp_path_, errno_text());
  }
  STRAND_CHECK(false, "{}: cannot create a temporary file in {}: every candidate name exists", path_, dir);
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  STRAND_ASSERT(!committed_);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    STRAND_CHECK(n > 0, "{}: write to {} failed: {}", path_, temp_path_,
                 n < 0 ? errno_text() : "no progress");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  STRAND_ASSERT(!committed_);
  STRAND_CHECK(::fsync(fd_) == 0, "{}: fsync of {} failed: {}", path_, temp_path_, errno_text());
  const int rc = ::close(fd_);
  fd_ = -1;
  STRAND_CHECK(rc == 0, "{}: close of {} failed: {}", path_, temp_path_, errno_text());
  STRAND_CHECK(::rename(temp_path_.c_str(), path_.c_str()) == 0, "{}: rename from {} failed: {}", path_,
               temp_path_, errno_text());
  committed_ = true;
  sync_dir(path_, parent_dir(path_));
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace strand::io
