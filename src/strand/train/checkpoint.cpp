#include "strand/train/checkpoint.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/io/atomic_file.h"
#include "strand/io/stale_temporaries.h"
#include "strand/train/metrics.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

// Note [Checkpoint publication]
// save() writes every file of step_<N> into a fresh <root>/.tmp.step_<N>.<pid>.<n>/ (<n> a process-wide
// counter, so concurrent saves never share one): the safetensors files and trainer_state.json each atomically
// and fsynced, then MANIFEST.json with the size and CRC-32C of each, computed by reading the written files
// back (so the MANIFEST describes what is on disk, not what was meant to be). The directory is fsynced and
// renamed to step_<N>, and <root> is fsynced to make the rename durable. A crash at any point before the
// rename leaves only a .tmp directory, which resume ignores and a later save removes.
//
// When step_<N> already exists, the new directory is swapped with it in one renameat2(RENAME_EXCHANGE), so
// step_<N> always names a complete checkpoint; the old one, now under the .tmp name, is removed after <root>
// is fsynced. Filesystems without the exchange (NFS, some FUSE) get two renames: the old directory aside to
// .old.step_<N>.<pid>.<n>, the new one in. A crash between the two leaves no step_<N>, and resume falls back
// to the previous step.
//
// Pruning removes a complete checkpoint by first renaming it to .old.step_<N>.<pid>.<n>, so a crash in the
// middle of the deletion leaves a leftover that the next save removes, never a half-deleted step_<N> that
// would be reported as incomplete forever. Leftover .tmp/.old directories are recognised by the pid in their
// name: one is stale if that process is not running, or if the pid is this process's but this process is not
// writing it (a registry of the names this process has in flight answers that). Pids are only meaningful on
// one host: a leftover from another host whose pid happens to be running here is kept.

namespace strand {
namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

constexpr std::string_view kStepPrefix = "step_";
constexpr std::string_view kTempPrefix = ".tmp.step_";
constexpr std::string_view kAsidePrefix = ".old.step_";
constexpr size_t kReadChunkBytes = size_t{1} << 20;
constexpr uint64_t kMaxManifestBytes = uint64_t{16} << 20;

std::string errno_text(int err) {
  return std::strerror(err);
}

void warn(const std::string& message) {
  fmt::print(stderr, "strand: warning: {}\n", message);
}

// ---- CRC-32C of a file, read in chunks

// Note [CRC-32C of a stream]
// crc32c() takes one buffer, and a checkpoint file is read in chunks, so the chunk CRCs are combined. The
// standard CRC (register preset to all ones, result inverted) is affine in its input, which gives
//   crc(A || B) = crc(A) * x^(8 |B|)  xor  crc(B)
// with the product taken modulo the CRC polynomial, in the bit-reflected representation the register uses
// (bit 31 holds the coefficient of x^0, bit 0 that of x^31).
constexpr uint32_t kCastagnoliReflected = 0x82F63B78u;

// a * b modulo the polynomial, both reflected.
uint32_t gf2_multiply(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t term = 1u << 31; term != 0; term >>= 1) {  // term walks x^0, x^1, ..., x^31 of a
    if (a & term) product ^= b;
    b = (b & 1u) ? (b >> 1) ^ kCastagnoliReflected : b >> 1;  // b *= x
  }
  return product;
}

// x^(8 * bytes) modulo the polynomial, by repeated squaring.
uint32_t x_pow_bytes(uint64_t bytes) {
  uint32_t result = 1u << 31;  // x^0
  uint32_t square = 1u << 23;  // x^8, then x^16, x^32, ...
  for (; bytes != 0; bytes >>= 1) {
    if (bytes & 1u) result = gf2_multiply(result, square);
    square = gf2_multiply(square, square);
  }
  return result;
}

uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t bytes_b) {
  static const uint32_t kChunkShift = x_pow_bytes(kReadChunkBytes);
  const uint32_t shift = bytes_b == kReadChunkBytes ? kChunkShift : x_pow_bytes(bytes_b);
  return gf2_multiply(crc_a, shift) ^ crc_b;
}

struct FileDigest {
  uint64_t size = 0;
  uint32_t crc = 0;
};

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Size and CRC-32C of a file, holding one chunk in memory at a time. Errors do not name the file (callers
// do).
FileDigest digest_file(const std::string& path) {
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  STRAND_CHECK(fd.get() >= 0, "cannot open: {}", errno_text(errno));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  const auto buffer = std::make_unique<char[]>(kReadChunkBytes);
  FileDigest digest;
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.get(), kReadChunkBytes);
    if (n < 0 && errno == EINTR) continue;
    STRAND_CHECK(n >= 0, "read failed: {}", errno_text(errno));
    if (n == 0) break;
    const auto bytes = static_cast<size_t>(n);
    digest.crc = crc32c_combine(digest.crc, crc32c(buffer.get(), bytes), bytes);  // crc of "" is 0
    digest.size += bytes;
  }
  return digest;
}

// ---- names

// Parses a decimal integer >= 0 without sign or leading zeros (so that each step has exactly one name).
std::optional<int64_t> parse_decimal(std::string_view digits) {
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// N of "step_<N>".
std::optional<int64_t> parse_step_name(std::string_view name) {
  if (!name.starts_with(kStepPrefix)) return std::nullopt;
  return parse_decimal(name.substr(kStepPrefix.size()));
}

// The pid of ".tmp.step_<N>.<pid>.<n>" or ".old.step_<N>.<pid>.<n>".
std::optional<pid_t> parse_leftover_pid(std::string_view name) {
  std::string_view rest;
  if (name.starts_with(kTempPrefix)) {
    rest = name.substr(kTempPrefix.size());
  } else if (name.starts_with(kAsidePrefix)) {
    rest = name.substr(kAsidePrefix.size());
  } else {
    return std::nullopt;
  }
  std::vector<std::string_view> fields;
  for (size_t dot; (dot = rest.find('.')) != std::string_view::npos; rest.remove_prefix(dot + 1))
    fields.push_back(rest.substr(0, dot));
  fields.push_back(rest);
  if (fields.size() != 3) return std::nullopt;
  for (const std::string_view f : fields)
    if (!parse_decimal(f)) return std::nullopt;
  const int64_t pid = *parse_decimal(fields[1]);
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// A name a MANIFEST or a caller may use for a file inside the checkpoint directory.
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// ---- temporary directories this process is writing (Note [Checkpoint publication])

std::atomic<uint64_t> g_next_id{0};

std::mutex& in_flight_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::set<std::string>& in_flight_names() {
  static std::set<std::string> names;
  return names;
}

bool is_in_flight(const std::string& name) {
  const std::lock_guard<std::mutex> lock(in_flight_mutex());
  return in_flight_names().count(name) != 0;
}

// Registers a leftover-style name as being written by this process for the guard's lifetime. Register before
// the directory exists, unregister after it is gone.
class InFlight {
 public:
  explicit InFlight(std::string name) : name_(std::move(name)) {
    const std::lock_guard<std::mutex> lock(in_flight_mutex());
    in_flight_names().insert(name_);
  }
  ~InFlight() {
    const std::lock_guard<std::mutex> lock(in_flight_mutex());
    in_flight_names().erase(name_);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::string name_;
};

// Removes a directory tree unless released; never throws.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) warn(fmt::format("cannot remove {}: {}", path_.string(), ec.message()));
  }
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Removes a directory tree, reporting a failure as a warning; one already gone is not a failure.
void remove_tree_or_warn(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    warn(fmt::format("cannot remove {}: {}", path.string(), ec.message()));
}

// Makes renames and creations inside `dir` durable. As in atomic_file.cpp, EINVAL (a filesystem that cannot
// sync directories) and EROFS are not failures.
void fsync_dir(const fs::path& dir) {
  const FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  STRAND_CHECK(fd.get() >= 0, "{}: cannot open directory to sync it: {}", dir.string(), errno_text(errno));
  if (::fsync(fd.get()) != 0) {
    const int err = errno;
    STRAND_CHECK(err == EINVAL || err == EROFS, "{}: fsync of directory failed: {}", dir.string(),
                 errno_text(err));
  }
}

// ---- MANIFEST

struct ManifestEntry {
  std::string name;
  uint64_t size = 0;
  uint32_t crc = 0;
};

struct Manifest {
  int64_t step = 0;
  std::vector<ManifestEntry> files;  // by name

  bool lists(std::string_view name) const {
    return std::any_of(files.begin(), files.end(), [&](const ManifestEntry& e) { return e.name == name; });
  }
};

std::optional<uint64_t> as_unsigned(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  return std::nullopt;
}

std::string describe(const nlohmann::json& j) {
  return printable(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Checks the MANIFEST's structure; errors say what is wrong without naming the file.
Manifest parse_manifest(const nlohmann::json& j) {
  STRAND_CHECK(j.is_object(), "not a JSON object");
  const auto field = [&j](const char* key) -> const nlohmann::json& {
    const auto it = j.find(key);
    STRAND_CHECK(it != j.end(), "no \"{}\"", key);
    return *it;
  };
  const nlohmann::json& format = field("format");
  STRAND_CHECK(format.is_string() && format.get<std::string>() == kCheckpointFormat,
               "format {} is not \"{}\"", describe(format), kCheckpointFormat);
  const nlohmann::json& version = field("version");
  STRAND_CHECK(version.is_number_integer() && version.get<int64_t>() == kCheckpointVersion,
               "version {} is not supported (this build reads version {})", describe(version),
               kCheckpointVersion);
  Manifest manifest;
  const std::optional<uint64_t> step = as_unsigned(field("step"));
  STRAND_CHECK(step && *step <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
               "step {} is not an integer >= 0", describe(field("step")));
  manifest.step = static_cast<int64_t>(*step);
  const nlohmann::json& files = field("files");
  STRAND_CHECK(files.is_object(), "\"files\" is not an object");
  for (const auto& [name, entry] : files.items()) {
    const std::string shown = printable(name);
    STRAND_CHECK(is_plain_file_name(name) && name != kCheckpointManifest,
                 "\"files\" lists '{}', which is not a file name it may list", shown);
    STRAND_CHECK(entry.is_object(), "entry of {} is not an object", shown);
    ManifestEntry e;
    e.name = name;
    const auto size = entry.find("size");
    const std::optional<uint64_t> size_value = size == entry.end() ? std::nullopt : as_unsigned(*size);
    STRAND_CHECK(size_value, "entry of {} has no \"size\" that is an integer >= 0", shown);
    e.size = *size_value;
    const auto crc = entry.find("crc32c");
    const std::string crc_text = crc != entry.end() && crc->is_string() ? crc->get<std::string>() : "";
    const auto [end, ec] = std::from_chars(crc_text.data(), crc_text.data() + crc_text.size(), e.crc, 16);
    // from_chars takes no sign or "0x" for an unsigned type, so 8 characters consumed are 8 hex digits.
    STRAND_CHECK(crc_text.size() == 8 && ec == std::errc() && end == crc_text.data() + crc_text.size(),
                 "entry of {} has no \"crc32c\" of 8 hex digits", shown);
    manifest.files.push_back(std::move(e));
  }
  for (const char* required : {kCheckpointModel, kCheckpointTrainerState})
    STRAND_CHECK(manifest.lists(required), "does not list {}", required);
  return manifest;
}

// Why a checkpoint directory is incomplete: the file at fault (relative to the directory; empty for the
// directory itself) and the reason.
struct Fault {
  std::string file;
  std::string why;
};

std::string fault_message(const std::string& dir, const Fault& fault) {
  if (fault.file.empty()) return fmt::format("{}: {}", dir, fault.why);
  return fmt::format("{}: {}", (fs::path(dir) / fault.file).string(), fault.why);
}

std::string skipped_line(const std::string& dir, const Fault& fault) {
  if (fault.file.empty()) return fmt::format("{}: {}", dir, fault.why);
  return fmt::format("{}: {}: {}", dir, fault.file, fault.why);
}

// Checks `dir` against its MANIFEST: structure, the step if the directory is named step_<N>, and each listed
// file's presence and size, and with check_crc its CRC-32C (which reads every file). Returns the first fault,
// or nothing with `manifest` filled in.
std::optional<Fault> inspect(const fs::path& dir, bool check_crc, Manifest* manifest) {
  std::error_code ec;
  const fs::file_status dir_status = fs::status(dir, ec);
  if (ec || !fs::is_directory(dir_status)) {
    return Fault{"", ec && ec != std::errc::no_such_file_or_directory ? "cannot access: " + ec.message()
                                                                      : "not a directory"};
  }

  const fs::path manifest_path = dir / kCheckpointManifest;
  const fs::file_status manifest_status = fs::status(manifest_path, ec);
  if (ec == std::errc::no_such_file_or_directory)
    return Fault{kCheckpointManifest, "missing (checkpoint incomplete)"};
  if (ec) return Fault{kCheckpointManifest, "cannot access: " + ec.message()};
  if (!fs::is_regular_file(manifest_status)) return Fault{kCheckpointManifest, "not a regular file"};
  const uint64_t manifest_size = fs::file_size(manifest_path, ec);
  if (ec) return Fault{kCheckpointManifest, "cannot access: " + ec.message()};
  if (manifest_size > kMaxManifestBytes)
    return Fault{kCheckpointManifest, fmt::format("{} bytes, more than a MANIFEST can be", manifest_size)};
  std::string text;
  {
    std::ifstream in(manifest_path, std::ios::binary);
    if (!in) return Fault{kCheckpointManifest, "cannot open: " + errno_text(errno)};
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) return Fault{kCheckpointManifest, "read failed"};
    text = s.str();
  }
  try {
    *manifest = parse_manifest(parse_json_strict(text));
  } catch (const Error& e) {
    return Fault{kCheckpointManifest, e.what()};
  }
  if (const std::optional<int64_t> named = parse_step_name(dir.filename().string());
      named && *named != manifest->step) {
    return Fault{kCheckpointManifest, fmt::format("step {} differs from the directory name", manifest->step)};
  }

  // Sizes first: cheap, and what a torn write shows.
  for (const ManifestEntry& e : manifest->files) {
    const fs::path path = dir / e.name;
    const fs::file_status status = fs::status(path, ec);
    if (ec == std::errc::no_such_file_or_directory) return Fault{e.name, "missing (listed in MANIFEST)"};
    if (ec) return Fault{e.name, "cannot access: " + ec.message()};
    if (!fs::is_regular_file(status)) return Fault{e.name, "not a regular file"};
    const uint64_t size = fs::file_size(path, ec);
    if (ec) return Fault{e.name, "cannot access: " + ec.message()};
    if (size != e.size) return Fault{e.name, fmt::format("size {} differs from MANIFEST ({})", size, e.size)};
  }
  if (!check_crc) return std::nullopt;
  for (const ManifestEntry& e : manifest->files) {
    FileDigest digest;
    try {
      digest = digest_file((dir / e.name).string());
    } catch (const Error& err) {
      return Fault{e.name, err.what()};
    }
    if (digest.size != e.size)
      return Fault{e.name, fmt::format("size {} differs from MANIFEST ({})", digest.size, e.size)};
    if (digest.crc != e.crc)
      return Fault{e.name, fmt::format("CRC-32C 0x{:08x} differs from MANIFEST 0x{:08x}", digest.crc, e.crc)};
  }
  return std::nullopt;
}

// The step_<N> directories in `root`, by step; none if `root` does not exist.
std::vector<std::pair<int64_t, std::string>> step_directories(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> dirs;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec == std::errc::no_such_file_or_directory) return dirs;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::optional<int64_t> step = parse_step_name(it->path().filename().string());
    std::error_code dir_ec;
    if (step && it->is_directory(dir_ec)) dirs.emplace_back(*step, it->path().string());
  }
  STRAND_CHECK(!ec, "{}: cannot list checkpoints: {}", root, ec.message());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// ---- writing

void check_extra_file_names(const CheckpointContents& contents) {
  for (const auto& [name, bytes] : contents.extra_files) {
    const std::string shown = printable(name);
    STRAND_CHECK(is_plain_file_name(name) && name[0] != '.', "extra file '{}': not a plain file name", shown);
    STRAND_CHECK(name != kCheckpointManifest && name != kCheckpointModel && name != kCheckpointOptimizer &&
                     name != kCheckpointTrainerState,
                 "extra file '{}': the name is reserved for the checkpoint's own files", shown);
  }
}

// Writes every file of `contents` and then the MANIFEST into `dir`.
void write_files(const fs::path& dir, int64_t step, const CheckpointContents& contents) {
  io::save_safetensors((dir / kCheckpointModel).string(), contents.model);
  io::save_safetensors((dir / kCheckpointOptimizer).string(), contents.optimizer);
  const std::string state_path = (dir / kCheckpointTrainerState).string();
  std::string state;
  try {
    state = contents.trainer_state.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the trainer state cannot be written as JSON: {}", state_path, e.what()));
  }
  io::write_file_atomic(state_path, state);
  for (const auto& [name, bytes] : contents.extra_files) io::write_file_atomic((dir / name).string(), bytes);

  std::vector<std::string> names = {kCheckpointModel, kCheckpointOptimizer, kCheckpointTrainerState};
  for (const auto& [name, bytes] : contents.extra_files) names.push_back(name);
  ordered_json files = ordered_json::object();
  for (const std::string& name : names) {
    const std::string path = (dir / name).string();
    FileDigest digest;
    try {
      digest = digest_file(path);
    } catch (const Error& e) {
      rethrow_with_context(e, path);
    }
    ordered_json entry = ordered_json::object();
    entry["size"] = digest.size;
    entry["crc32c"] = fmt::format("{:08x}", digest.crc);
    files[name] = std::move(entry);
  }
  ordered_json manifest = ordered_json::object();
  manifest["format"] = kCheckpointFormat;
  manifest["version"] = kCheckpointVersion;
  manifest["step"] = step;
  manifest["files"] = std::move(files);
  io::write_file_atomic((dir / kCheckpointManifest).string(), manifest.dump(2) + "\n");
}

std::string aside_name(int64_t step) {
  return fmt::format("{}{}.{}.{}", kAsidePrefix, step, ::getpid(), g_next_id.fetch_add(1));
}

// Renames the complete directory `temp` to `final_dir` (Note [Checkpoint publication]). Returns the directory
// now holding a replaced checkpoint, for the caller to remove once the rename is durable, or an empty path.
fs::path publish(const fs::path& temp, const fs::path& final_dir, int64_t step,
                 std::unique_ptr<InFlight>* aside_guard) {
  if (::rename(temp.c_str(), final_dir.c_str()) == 0) return {};
  int err = errno;
  STRAND_CHECK(err == EEXIST || err == ENOTEMPTY || err == ENOTDIR || err == EISDIR,
               "{}: cannot rename {} to it: {}", final_dir.string(), temp.string(), errno_text(err));
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) return temp;
  err = errno;
  STRAND_CHECK(err == EINVAL || err == ENOSYS || err == EOPNOTSUPP, "{}: cannot exchange {} with it: {}",
               final_dir.string(), temp.string(), errno_text(err));

  const std::string name = aside_name(step);
  *aside_guard = std::make_unique<InFlight>(name);
  const fs::path aside = final_dir.parent_path() / name;
  STRAND_CHECK(::rename(final_dir.c_str(), aside.c_str()) == 0, "{}: cannot rename it aside to {}: {}",
               final_dir.string(), aside.string(), errno_text(errno));
  if (::rename(temp.c_str(), final_dir.c_str()) != 0) {
    err = errno;
    if (::rename(aside.c_str(), final_dir.c_str()) != 0)
      warn(fmt::format("{}: the previous checkpoint is left at {}", final_dir.string(), aside.string()));
    STRAND_CHECK(false, "{}: cannot rename {} to it: {}", final_dir.string(), temp.string(), errno_text(err));
  }
  return aside;
}

}  // namespace

CheckpointManager::CheckpointManager(std::string root, int64_t keep_last)
    : root_(std::move(root)), keep_last_(keep_last) {
  STRAND_CHECK(!root_.empty(), "checkpoint directory: empty path");
  STRAND_CHECK(keep_last_ >= 0, "{}: keep_last {} is negative (0 keeps every checkpoint)", root_, keep_last_);
}

std::string CheckpointManager::save(int64_t step, const CheckpointContents& contents) {
  const fs::path root(root_);
  const fs::path final_dir = root / fmt::format("{}{}", kStepPrefix, step);
  try {
    STRAND_CHECK(step >= 0, "the step is negative");
    check_extra_file_names(contents);

    std::error_code ec;
    fs::create_directories(root, ec);
    STRAND_CHECK(!ec, "{}: cannot create the checkpoint directory: {}", root_, ec.message());
    STRAND_CHECK(fs::is_directory(root, ec), "{}: not a directory", root_);

    // The name is registered before the directory exists, so no concurrent prune can take it for a
    // leftover. An EEXIST comes from a crashed process that had our pid: try the next number.
    std::unique_ptr<InFlight> temp_guard;
    fs::path temp;
    for (int attempt = 0;; ++attempt) {
      const std::string name =
          fmt::format("{}{}.{}.{}", kTempPrefix, step, ::getpid(), g_next_id.fetch_add(1));
      temp_guard = std::make_unique<InFlight>(name);
      temp = root / name;
      if (::mkdir(temp.c_str(), 0777) == 0) break;
      const int err = errno;
      STRAND_CHECK(err == EEXIST && attempt < 100, "{}: cannot create: {}", temp.string(), errno_text(err));
    }
    RemoveOnExit remove_temp(temp);

    write_files(temp, step, contents);
    fsync_dir(temp);
    std::unique_ptr<InFlight> aside_guard;
    const fs::path replaced = publish(temp, final_dir, step, &aside_guard);
    remove_temp.release();
    RemoveOnExit remove_replaced(replaced);  // after the fsync below, or as the exception leaves
    fsync_dir(root);
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("cannot save checkpoint step {} to {}", step, final_dir.string()));
  } catch (const fs::filesystem_error& e) {
    throw Error(fmt::format("cannot save checkpoint step {} to {}: {}", step, final_dir.string(), e.what()));
  }
  prune(final_dir.filename().string());
  return final_dir.string();
}

void CheckpointManager::remove_stale_directories() const {
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<pid_t> pid = parse_leftover_pid(name);
    if (pid && (*pid == ::getpid() ? !is_in_flight(name) : !io::process_running(*pid)))
      leftovers.push_back(it->path());
  }
  for (const fs::path& path : leftovers) remove_tree_or_warn(path);
}

void CheckpointManager::prune(const std::string& just_saved) const {
  const fs::path root(root_);
  remove_stale_directories();
  std::vector<std::pair<int64_t, std::string>> complete;  // (step, name)
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<int64_t> step = parse_step_name(name);
    std::error_code dir_ec;
    if (!step || !it->is_directory(dir_ec)) continue;
    Manifest manifest;
    if (!inspect(it->path(), /*check_crc=*/false, &manifest)) complete.emplace_back(*step, name);
  }
  if (ec) {
    warn(fmt::format("{}: cannot list old checkpoints to prune them: {}", root_, ec.message()));
    return;
  }

  if (keep_last_ == 0 || complete.size() <= static_cast<size_t>(keep_last_)) return;
  std::sort(complete.begin(), complete.end(), std::greater<>());
  for (size_t i = static_cast<size_t>(keep_last_); i < complete.size(); ++i) {
    const auto& [step, name] = complete[i];
    if (name == just_saved) continue;
    // Renamed first, so that an interrupted deletion leaves a leftover rather than a torn step_<N>.
    const std::string doomed_name = aside_name(step);
    const InFlight guard(doomed_name);
    const fs::path doomed = root / doomed_name;
    if (::rename((root / name).c_str(), doomed.c_str()) != 0) {
      if (errno != ENOENT)
        warn(fmt::format("cannot remove old checkpoint {}: {}", (root / name).string(), errno_text(errno)));
      continue;
    }
    remove_tree_or_warn(doomed);
  }
}

std::vector<std::pair<int64_t, std::string>> CheckpointManager::list_complete(
    std::vector<std::string>* skipped) const {
  std::vector<std::pair<int64_t, std::string>> complete;
  for (const auto& [step, dir] : step_directories(root_)) {
    Manifest manifest;
    if (const std::optional<Fault> fault = inspect(dir, /*check_crc=*/true, &manifest)) {
      if (skipped) skipped->push_back(skipped_line(dir, *fault));
    } else {
      complete.emplace_back(step, dir);
    }
  }
  return complete;
}

std::optional<std::string> CheckpointManager::newest_complete() const {
  const std::vector<std::pair<int64_t, std::string>> dirs = step_directories(root_);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    Manifest manifest;
    const std::optional<Fault> fault = inspect(it->second, /*check_crc=*/true, &manifest);
    if (!fault) return it->second;
    fmt::print(stderr, "strand: skipping incomplete checkpoint {}\n", skipped_line(it->second, *fault));
  }
  return std::nullopt;
}

void verify_checkpoint(const std::string& dir) {
  Manifest manifest;
  if (const std::optional<Fault> fault = inspect(dir, /*check_crc=*/true, &manifest))
    throw Error(fault_message(dir, *fault));
}

CheckpointContents load_checkpoint(const std::string& dir) {
  Manifest manifest;
  if (const std::optional<Fault> fault = inspect(dir, /*check_crc=*/true, &manifest))
    throw Error(fault_message(dir, *fault));
  const fs::path root(dir);
  const auto read_tensors = [&root](const char* name) {
    const io::SafetensorsFile file = io::SafetensorsFile::open((root / name).string());
    std::vector<io::NamedTensor> tensors;
    tensors.reserve(file.tensors().size());
    for (const io::TensorInfo& info : file.tensors()) tensors.push_back({info.name, file.read(info.name)});
    return tensors;
  };
  CheckpointContents contents;
  contents.model = read_tensors(kCheckpointModel);
  if (manifest.lists(kCheckpointOptimizer)) contents.optimizer = read_tensors(kCheckpointOptimizer);
  contents.trainer_state = read_json_file((root / kCheckpointTrainerState).string());
  for (const ManifestEntry& e : manifest.files) {
    if (e.name == kCheckpointModel || e.name == kCheckpointOptimizer || e.name == kCheckpointTrainerState)
      continue;
    const std::string path = (root / e.name).string();
    std::ifstream in(path, std::ios::binary);
    STRAND_CHECK(in.good(), "{}: cannot open: {}", path, errno_text(errno));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    STRAND_CHECK(!in.bad(), "{}: read failed", path);
    contents.extra_files[e.name] = bytes.str();
  }
  return contents;
}

}  // namespace strand
