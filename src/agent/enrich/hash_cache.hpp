// SHA-256 of executables, hashed once per file version: a bounded LRU keyed by the file's identity
// (device, inode, size, mtime, ctime) taken from fstat of the opened file. Shared by the enricher
// and the response module; hash sweeps keep one on disk (Save/Load) so an unchanged file is not
// read again by the next sweep. Safe to call from several threads.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/error.hpp"
#include "common/sha256.hpp"

namespace vigil::agent {

struct HashCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // hashes computed
  std::uint64_t errors = 0;     // files that could not be read
  std::uint64_t evictions = 0;  // entries dropped to stay within capacity
  std::size_t entries = 0;
  std::size_t capacity = 0;
};

class HashCache {
 public:
  explicit HashCache(std::size_t capacity = 8192);
  HashCache(const HashCache&) = delete;
  HashCache& operator=(const HashCache&) = delete;

  // Hash of the regular file open at fd (read with pread; the fd's offset is left alone). The
  // gate, when given, is asked before each read (I/O caps, cancellation).
  Result<std::string> Sha256(int fd, const ReadGate& gate = {});
  // Opens path (O_RDONLY, no controlling tty) and hashes it through Sha256(fd).
  Result<std::string> Sha256Path(const std::filesystem::path& path);
  HashCacheStats Stats() const;

  struct Key {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;  // catches a rewrite that restored the mtime (touch -r)
    bool operator==(const Key&) const = default;
  };
  static Key KeyOf(const struct stat& st);
  // The cached hash of the file version `key` names (counted as a hit), or nullopt. No syscall:
  // for callers that know a file's identity already (the eBPF exec record, a sweep's walk).
  std::optional<std::string> Find(const Key& key);

  // Loads entries written by Save (a missing file is an empty cache; a damaged one is an error
  // and leaves the cache as it was). Save writes path.tmp, fsyncs it and renames it over path.
  Result<void> Load(const std::filesystem::path& path);
  Result<void> Save(const std::filesystem::path& path) const;

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  using Lru = std::list<std::pair<Key, std::string>>;
  void InsertLocked(const Key& key, const std::string& digest);

  mutable std::mutex mu_;
  std::size_t capacity_;
  Lru lru_;  // most recently used first
  std::unordered_map<Key, Lru::iterator, KeyHash> index_;
  HashCacheStats stats_;
};

}  // namespace vigil::agent
