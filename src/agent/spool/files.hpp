// Small file helpers for the spool: atomic replace (temp + rename), reading small state files,
// directory fsync, and errno-based error messages.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil::agent::spool_internal {

// "spool: <what> <path>: <strerror(err)>".
std::string ErrnoMessage(std::string_view what, const std::filesystem::path& path, int err);

// Replaces dir/name with `content` via dir/name.tmp and rename(2). With `sync`, the temp file is
// fdatasync'ed before the rename and the directory fsync'ed after it.
Result<void> WriteFileAtomic(const std::filesystem::path& dir, std::string_view name,
                             std::string_view content, bool sync);

// Contents of a small file (at most max_size bytes are read); nullopt when it does not exist.
Result<std::optional<std::string>> ReadSmallFile(const std::filesystem::path& path,
                                                 std::size_t max_size = 4096);

Result<void> SyncDir(const std::filesystem::path& dir);

}  // namespace vigil::agent::spool_internal
