// Unchanged-file cache: LRU in memory, fixed-size binary records on disk; see scan_cache.hpp.
#include "agent/scan/scan_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/fd.hpp"

namespace vigil::agent::scan {
namespace {

constexpr char kMagic[8] = {'V', 'G', 'S', 'C', 'A', 'N', '0', '1'};

struct DiskRecord {  // little-endian host layout; the file is local to this machine
  std::uint64_t dev, ino, size;
  std::int64_t mtime_ns, ctime_ns;
  std::uint64_t rules_key;
};
static_assert(sizeof(DiskRecord) == 48);

std::uint64_t Mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

Result<void> WriteAll(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail(std::string("write: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

}  // namespace

ScanCache::ScanCache(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

std::uint64_t ScanCache::RulesKey(std::string_view version) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : version) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::size_t ScanCache::IdHash::operator()(const FileIdentity& k) const noexcept {
  std::uint64_t h = 0;
  h = Mix(h, k.dev);
  h = Mix(h, k.ino);
  h = Mix(h, k.size);
  h = Mix(h, static_cast<std::uint64_t>(k.mtime_ns));
  h = Mix(h, static_cast<std::uint64_t>(k.ctime_ns));
  return static_cast<std::size_t>(h);
}

bool ScanCache::IsClean(const FileIdentity& id, std::uint64_t rules_key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end() || it->second->rules_key != rules_key) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

void ScanCache::MarkClean(const FileIdentity& id, std::uint64_t rules_key) {
  std::lock_guard lock(mu_);
  InsertLocked(id, rules_key);
}

void ScanCache::InsertLocked(const FileIdentity& id, std::uint64_t rules_key) {
  if (auto it = index_.find(id); it != index_.end()) {
    it->second->rules_key = rules_key;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Entry{id, rules_key});
  index_.emplace(id, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().id);
    lru_.pop_back();
  }
}

void ScanCache::Forget(const FileIdentity& id) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(id); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
}

std::size_t ScanCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

Result<void> ScanCache::Load(const std::filesystem::path& path) {
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
    return Fail(path.string() + ": not a scan cache file (bad header or truncated)");
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  const std::size_t n = (bytes.size() - sizeof kMagic) / sizeof(DiskRecord);
  // Stored most recent first: insert oldest first so the order survives.
  for (std::size_t i = n; i-- > 0;) {
    DiskRecord r;
    std::memcpy(&r, bytes.data() + sizeof kMagic + i * sizeof r, sizeof r);
    InsertLocked(FileIdentity{static_cast<dev_t>(r.dev), static_cast<ino_t>(r.ino), r.size,
                              r.mtime_ns, r.ctime_ns},
                 r.rules_key);
  }
  return {};
}

Result<void> ScanCache::Save(const std::filesystem::path& path) const {
  std::vector<DiskRecord> records;
  {
    std::lock_guard lock(mu_);
    records.reserve(lru_.size());
    for (const auto& e : lru_)
      records.push_back(
          DiskRecord{e.id.dev, e.id.ino, e.id.size, e.id.mtime_ns, e.id.ctime_ns, e.rules_key});
  }
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Fail(tmp + ": " + std::strerror(errno));
  if (auto r = WriteAll(fd.get(), kMagic, sizeof kMagic); !r)
    return Fail(tmp + ": " + r.error().message);
  if (auto r = WriteAll(fd.get(), records.data(), records.size() * sizeof(DiskRecord)); !r)
    return Fail(tmp + ": " + r.error().message);
  if (::fsync(fd.get()) != 0) return Fail(tmp + ": fsync: " + std::strerror(errno));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(path.string() + ": rename: " + std::strerror(errno));
  return {};
}

}  // namespace vigil::agent::scan
