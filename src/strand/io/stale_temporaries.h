// Temporary files that a killed writer leaves behind: an AtomicFile's ".<name>.tmp.<pid>.<n>" survives a
// kill -9 or a power loss between its creation and its rename. The next run removes those of processes that
// are gone, so they do not pile up beside the outputs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strand::io {

// Whether a process with this pid exists (one of another user counts).
bool process_running(pid_t pid);

// The pid of an AtomicFile temporary name ".<name>.tmp.<pid>.<n>", if `file_name` is one.
std::optional<pid_t> atomic_temporary_pid(std::string_view file_name);

// Removes the AtomicFile temporaries directly in `dir` whose writer is no longer running, or carries this
// process's pid (left by an earlier process with the same pid, as across container restarts: call before
// this process writes there). Returns how many were removed; a missing directory has none. Problems are
// printed to stderr, never thrown: the outputs themselves are intact.
int64_t remove_stale_temporaries(const std::string& dir);

}  // namespace strand::io
