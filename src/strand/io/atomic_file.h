// Replacing a file so that readers see either its old contents or the complete new ones, even across a crash
// or power loss: the data goes to a temporary file in the target's directory (same filesystem, so the rename
// is atomic), which is fsynced, renamed over the target, and the directory is fsynced so the rename itself is
// durable.
//
// Each file is atomic on its own; a set of files (a sharded checkpoint) is not. Write such a set into a fresh
// directory and rename the directory to publish it as a whole.
//
// What the path names decides how it is written (Note [Output targets] in atomic_file.cpp):
//   nothing, or a regular file    replaced atomically, as above;
//   a symbolic link               the file it resolves to is replaced atomically; the link stays a link;
//   a character device or a FIFO  written straight through (/dev/null, /dev/stdout, a named pipe): there is
//                                 no file to replace, and replacing the device would destroy it;
//   /dev/stdout, /dev/fd/N, /proc/self/fd/N
//                                 written straight through to the open file they name, appending;
//   a directory, a block device or a socket: an error naming the path.
// Written straight through, bytes reach the target as they are written, and commit() only closes it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace strand::io {

class AtomicFile {
 public:
  // Creates the temporary file ".<name>.tmp.<pid>.<n>" next to `path` (next to the file a link resolves to),
  // or opens a device or FIFO for writing; throws strand::Error (starting with `path`) if it cannot, e.g.
  // when the directory does not exist or `path` is a directory.
  explicit AtomicFile(std::string path);
  // Without commit(), the temporary file is removed and the target is left as it was (what went straight
  // through to a device or FIFO has gone).
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Makes the written bytes the contents of the target. Call once; no writes after it.
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;  // empty when writing straight through
  std::string target_;     // the file renamed over: path_, or what a link at path_ resolves to
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace strand::io
