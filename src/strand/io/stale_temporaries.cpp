#include "strand/io/stale_temporaries.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <limits>

namespace strand::io {

bool process_running(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

std::optional<pid_t> atomic_temporary_pid(std::string_view name) {
  // ".<name>.tmp.<pid>.<n>": the last two dot-separated fields are decimal, the one before them "tmp".
  if (!name.starts_with('.')) return std::nullopt;
  const size_t last = name.rfind('.');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  const size_t middle = name.rfind('.', last - 1);
  if (middle == std::string_view::npos || middle < 5 || name.substr(middle - 4, 4) != ".tmp")
    return std::nullopt;
  auto decimal = [](std::string_view s) -> std::optional<int64_t> {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
  };
  const auto pid = decimal(name.substr(middle + 1, last - middle - 1));
  if (!pid || !decimal(name.substr(last + 1)) || *pid == 0 || *pid > std::numeric_limits<pid_t>::max())
    return std::nullopt;
  return static_cast<pid_t>(*pid);
}

int64_t remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  int64_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::optional<pid_t> pid = atomic_temporary_pid(it->path().filename().string());
    std::error_code file_ec;
    if (!pid || !it->is_regular_file(file_ec)) continue;
    if (*pid != ::getpid() && process_running(*pid)) continue;
    if (fs::remove(it->path(), file_ec)) {
      ++removed;
    } else if (file_ec) {
      std::fprintf(stderr, "strand: cannot remove the stale temporary file %s: %s\n", it->path().c_str(),
                   file_ec.message().c_str());
    }
  }
  return removed;
}

}  // namespace strand::io
