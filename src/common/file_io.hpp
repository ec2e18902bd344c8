// Whole-file reads and crash-safe replacement of small state files (caches, checkpoints): write
// PATH.tmp, fsync, rename over PATH, so a reader sees the old or the new content, never a mix.
#pragma once

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.hpp"

namespace vigil {

// The file's bytes; nullopt when it does not exist; errors name the path.
Result<std::optional<std::string>> ReadWholeFile(const std::filesystem::path& path);
// Creates the parent directories as needed.
Result<void> WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes);

// A state file of fixed-size records after a magic header (the agent's hash and scan caches): its
// records in file order; nullopt when the file does not exist; an error "PATH: not a WHAT file"
// when the header differs or the length is not a whole number of records.
template <class Record>
Result<std::optional<std::vector<Record>>> ReadRecordFile(const std::filesystem::path& path,
                                                          std::string_view magic,
                                                          std::string_view what) {
  static_assert(std::is_trivially_copyable_v<Record>);
  auto bytes = ReadWholeFile(path);
  if (!bytes) return std::unexpected(bytes.error());
  if (!*bytes) return std::optional<std::vector<Record>>();
  const std::string& b = **bytes;
  if (b.size() < magic.size() || std::string_view(b).substr(0, magic.size()) != magic ||
      (b.size() - magic.size()) % sizeof(Record) != 0)
    return Fail(path.string() + ": not a " + std::string(what) + " file (bad header or truncated)");
  std::vector<Record> records((b.size() - magic.size()) / sizeof(Record));
  if (!records.empty())
    std::memcpy(records.data(), b.data() + magic.size(), records.size() * sizeof(Record));
  return std::optional<std::vector<Record>>(std::move(records));
}

}  // namespace vigil
