// HashCache: LRU of file identity -> SHA-256; the hash itself is computed outside the lock.
#include "agent/enrich/hash_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "common/fd.hpp"
#include "common/file_io.hpp"
#include "common/sha256.hpp"

namespace vigil::agent {
namespace {

constexpr char kMagic[16] = "vigil-hashes-v1";

// One entry on disk: the file identity and the raw 32-byte digest.
struct DiskRecord {
  std::uint64_t dev, ino;
  std::int64_t size, mtime_ns, ctime_ns;
  unsigned char digest[32];
};

bool FromHex(const std::string& hex, unsigned char* out, std::size_t n) {
  if (hex.size() != 2 * n) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

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

HashCache::Key HashCache::KeyOf(const struct stat& st) {
  return Key{st.st_dev, st.st_ino, st.st_size,
             static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
             static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

std::optional<std::string> HashCache::Find(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->second;
}

void HashCache::InsertLocked(const Key& key, const std::string& digest) {
  if (index_.contains(key)) return;
  lru_.emplace_front(key, digest);
  index_.emplace(key, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
    ++stats_.evictions;
  }
  stats_.entries = lru_.size();
}

Result<std::string> HashCache::Sha256(int fd, const ReadGate& gate) {
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
  const Key key = KeyOf(st);
  if (auto hit = Find(key)) return *hit;
  auto digest = Sha256Fd(fd, gate);
  std::lock_guard lock(mu_);
  if (!digest) {
    ++stats_.errors;
    return digest;
  }
  ++stats_.misses;
  if (auto it = index_.find(key); it != index_.end()) return it->second->second;  // raced
  InsertLocked(key, *digest);
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

HashCacheStats HashCache::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Result<void> HashCache::Load(const std::filesystem::path& path) {
  auto records =
      ReadRecordFile<DiskRecord>(path, std::string_view(kMagic, sizeof kMagic), "hash cache");
  if (!records) return std::unexpected(records.error());
  if (!*records) return {};  // no cache yet
  std::lock_guard lock(mu_);
  // Stored most recent first: inserted oldest first so the order survives.
  for (auto it = (*records)->rbegin(); it != (*records)->rend(); ++it) {
    const DiskRecord& r = *it;
    InsertLocked(Key{static_cast<dev_t>(r.dev), static_cast<ino_t>(r.ino),
                     static_cast<off_t>(r.size), r.mtime_ns, r.ctime_ns},
                 ToHex(r.digest, sizeof r.digest));
  }
  return {};
}

Result<void> HashCache::Save(const std::filesystem::path& path) const {
  std::string bytes(kMagic, sizeof kMagic);
  {
    std::lock_guard lock(mu_);
    bytes.reserve(sizeof kMagic + lru_.size() * sizeof(DiskRecord));
    for (const auto& [k, hex] : lru_) {
      DiskRecord r{k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns, {}};
      if (FromHex(hex, r.digest, sizeof r.digest))
        bytes.append(reinterpret_cast<const char*>(&r), sizeof r);
    }
  }
  return WriteFileAtomic(path, bytes);
}

}  // namespace vigil::agent
