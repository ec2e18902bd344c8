// Whole-file reads and crash-safe replacement of small state files (caches, checkpoints): write
// PATH.tmp, fsync, rename over PATH, so a reader sees the old or the new content, never a mix.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil {

// The file's bytes; nullopt when it does not exist; errors name the path.
Result<std::optional<std::string>> ReadWholeFile(const std::filesystem::path& path);
// Creates the parent directories as needed.
Result<void> WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace vigil
