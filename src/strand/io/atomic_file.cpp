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

// Note [Output targets]
// A rename replaces a directory entry, whatever it was: renamed over /dev/null (as root), a named pipe or a
// symbolic link, it would destroy the device, leave the pipe's reader waiting, or turn the link into a
// copy. So the path is looked at first (lstat, following links one by one):
//   - a regular file, or nothing: the temporary file and the rename, at the file the links lead to, so a
//     link stays a link and the file it names gets the new contents;
//   - a character device or a FIFO: opened and written straight through;
//   - a link inside /proc (/proc/self/fd/N, which /dev/stdout and /dev/fd/N lead to): the kernel resolves
//     it to an open file, which may be a pipe or a terminal with no name to read back, or the file a shell
//     redirected stdout to, whose earlier contents are the process's own output: written straight through
//     the original path, appending;
//   - anything else (a directory, a block device, a socket): an error.
struct OutputTarget {
  bool stream = false;  // write straight through `path`, instead of replacing it
  std::string path;
};

bool inside_proc(const std::filesystem::path& dir) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(dir.empty() ? "." : dir, ec);
  return !ec && real.string().starts_with("/proc/");
}

OutputTarget output_target(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  // 40 links, as the kernel's own limit (ELOOP).
  for (int hops = 0; hops <= 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      // A missing file is created; a missing directory is reported when the temporary file cannot be.
      STRAND_CHECK(errno == ENOENT, "{}: {}", path, errno_text());
      return {false, p.string()};
    }
    const std::string via = p.string() == path ? std::string() : fmt::format(" (a link to {})", p.string());
    if (S_ISLNK(st.st_mode)) {
      if (inside_proc(p.parent_path())) return {true, path};
      std::error_code ec;
      const fs::path target = fs::read_symlink(p, ec);
      STRAND_CHECK(!ec, "{}: cannot read the link {}: {}", path, p.string(), ec.message());
      p = target.is_absolute() ? target : p.parent_path() / target;
      continue;
    }
    if (S_ISREG(st.st_mode)) return {false, p.string()};
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return {true, p.string()};
    STRAND_CHECK(!S_ISDIR(st.st_mode), "{}{}: is a directory, not a file to write", path, via);
    STRAND_CHECK(false, "{}{}: is a {}; strand writes regular files, character devices (/dev/null) and FIFOs",
                 path, via, S_ISBLK(st.st_mode) ? "block device" : "socket");
  }
  STRAND_CHECK(false, "{}: too many levels of symbolic links", path);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  STRAND_CHECK(!path_.empty(), "cannot write a file with an empty path");
  const OutputTarget out = output_target(path_);
  target_ = out.path;
  if (out.stream) {
    // No O_CREAT: the device or FIFO was there a moment ago. A FIFO's open waits for its reader.
    fd_ = ::open(target_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    STRAND_CHECK(fd_ >= 0, "{}: cannot open for writing: {}", path_, errno_text());
    return;
  }
  // The pid and a process-wide counter keep concurrent writers (threads or processes) of one target apart;
  // O_EXCL makes a leftover from a crashed writer a retry rather than a clobber.
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path target(target_);
  const std::string dir = parent_dir(target_);
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
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  STRAND_ASSERT(!committed_);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    STRAND_CHECK(n > 0, "{}: write to {} failed: {}", path_, temp_path_.empty() ? target_ : temp_path_,
                 n < 0 ? errno_text() : "no progress");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  STRAND_ASSERT(!committed_);
  if (temp_path_.empty()) {
    // Devices and pipes have nothing to sync (fsync fails on them with EINVAL); the bytes have gone.
    const int rc = ::close(fd_);
    fd_ = -1;
    committed_ = true;
    STRAND_CHECK(rc == 0, "{}: close failed: {}", path_, errno_text());
    return;
  }
  STRAND_CHECK(::fsync(fd_) == 0, "{}: fsync of {} failed: {}", path_, temp_path_, errno_text());
  const int rc = ::close(fd_);
  fd_ = -1;
  STRAND_CHECK(rc == 0, "{}: close of {} failed: {}", path_, temp_path_, errno_text());
  STRAND_CHECK(::rename(temp_path_.c_str(), target_.c_str()) == 0, "{}: rename from {} failed: {}", path_,
               temp_path_, errno_text());
  committed_ = true;
  sync_dir(path_, parent_dir(target_));
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace strand::io
