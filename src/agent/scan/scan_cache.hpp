// The unchanged-file cache: remembers files whose last scan with a given rule-set version was
// clean (no finding, no error, no timeout), keyed by (device, inode, size, mtime, ctime), so a
// rescan skips them. Bounded (least recently used entries go first), persisted to one file under
// the agent's state directory (written atomically), safe to use from several threads.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "common/error.hpp"

namespace vigil::agent::scan {

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

class ScanCache {
 public:
  explicit ScanCache(std::size_t capacity = 1'000'000);
  ScanCache(const ScanCache&) = delete;
  ScanCache& operator=(const ScanCache&) = delete;

  // A 64-bit key for a rule-set version string (RuleSet::version()).
  static std::uint64_t RulesKey(std::string_view rules_version);

  bool IsClean(const FileIdentity& id, std::uint64_t rules_key);
  void MarkClean(const FileIdentity& id, std::uint64_t rules_key);
  void Forget(const FileIdentity& id);
  std::size_t size() const;

  // Loads entries saved by Save (a missing file is an empty cache; a damaged one is an error
  // and leaves the cache empty). Save writes path.tmp, fsyncs and renames it over path.
  Result<void> Load(const std::filesystem::path& path);
  Result<void> Save(const std::filesystem::path& path) const;

 private:
  struct Entry {
    FileIdentity id;
    std::uint64_t rules_key;
  };
  struct IdHash {
    std::size_t operator()(const FileIdentity& k) const noexcept;
  };
  using Lru = std::list<Entry>;

  void InsertLocked(const FileIdentity& id, std::uint64_t rules_key);

  mutable std::mutex mu_;
  std::size_t capacity_;
  Lru lru_;  // most recently used first
  std::unordered_map<FileIdentity, Lru::iterator, IdHash> index_;
};

}  // namespace vigil::agent::scan
