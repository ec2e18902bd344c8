// HashCache: LRU of file identity -> SHA-256; the hash itself is computed outside the lock.
#include "agent/enrich/hash_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <vector>

#include "common/fd.hpp"
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
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    return Fail(path.string() + ": " + std::strerror(errno));
  }
  std::vector<char> bytes;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Fail(path.string() + ": " + std::strerror(errno));
    if (r == 0) break;
    bytes.insert(bytes.end(), buf, buf + r);
  }
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0 ||
      (bytes.size() - sizeof kMagic) % sizeof(DiskRecord) != 0)
    return Fail(path.string() + ": not a hash cache file (bad header or truncated)");
  const std::size_t n = (bytes.size() - sizeof kMagic) / sizeof(DiskRecord);
  std::lock_guard lock(mu_);
  // Stored most recent first: inserted oldest first so the order survives.
  for (std::size_t i = n; i-- > 0;) {
    DiskRecord r;
    std::memcpy(&r, bytes.data() + sizeof kMagic + i * sizeof r, sizeof r);
    InsertLocked(Key{static_cast<dev_t>(r.dev), static_cast<ino_t>(r.ino),
                     static_cast<off_t>(r.size), r.mtime_ns, r.ctime_ns},
                 ToHex(r.digest, sizeof r.digest));
  }
  return {};
}

Result<void> HashCache::Save(const std::filesystem::path& path) const {
  std::vector<DiskRecord> records;
  {
    std::lock_guard lock(mu_);
    records.reserve(lru_.size());
    for (const auto& [k, hex] : lru_) {
      DiskRecord r{k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns, {}};
      if (FromHex(hex, r.digest, sizeof r.digest)) records.push_back(r);
    }
  }
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Fail(tmp + ": " + std::strerror(errno));
  std::string bytes(kMagic, sizeof kMagic);
  bytes.append(reinterpret_cast<const char*>(records.data()), records.size() * sizeof(DiskRecord));
  for (std::size_t off = 0; off < bytes.size();) {
    const ssize_t w = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Fail(tmp + ": " + std::strerror(errno));
    off += static_cast<std::size_t>(w);
  }
  if (::fsync(fd.get()) != 0) return Fail(tmp + ": fsync: " + std::strerror(errno));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(path.string() + ": rename: " + std::strerror(errno));
  return {};
}

}  // namespace vigil::agent
