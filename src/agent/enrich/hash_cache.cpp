// HashCache: LRU of file identity -> SHA-256; the hash itself is computed outside the lock.
#include "agent/enrich/hash_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "common/fd.hpp"
#include "common/sha256.hpp"

namespace vigil::agent {

std::size_t HashCache::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h = std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(k.ino));
  auto mix = [&h](std::uint64_t v) {
    h ^= std::hash<std::uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  };
  mix(static_cast<std::uint64_t>(k.dev));
  mix(static_cast<std::uint64_t>(k.size));
  mix(static_cast<std::uint64_t>(k.mtime_ns));
  mix(static_cast<std::uint64_t>(k.ctime_ns));
  return h;
}

HashCache::HashCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  stats_.capacity = capacity_;
}

Result<std::string> HashCache::Sha256(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    return Fail(std::string("fstat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    return Fail("not a regular file");
  }
  Key key{st.st_dev, st.st_ino, st.st_size,
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.hits;
      return it->second->second;
    }
  }
  auto digest = Sha256Fd(fd);
  std::lock_guard lock(mu_);
  if (!digest) {
    ++stats_.errors;
    return digest;
  }
  ++stats_.misses;
  if (auto it = index_.find(key); it != index_.end()) return it->second->second;  // raced
  lru_.emplace_front(key, *digest);
  index_.emplace(key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
    ++stats_.evictions;
  }
  stats_.entries = lru_.size();
  return digest;
}

Result<std::string> HashCache::Sha256Path(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    return Fail(path.string() + ": " + std::strerror(errno));
  }
  auto digest = Sha256(fd.get());
  if (!digest) return Fail(path.string() + ": " + digest.error().message);
  return digest;
}

std::optional<std::string> HashCache::Find(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->second;
}

HashCacheStats HashCache::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace vigil::agent
