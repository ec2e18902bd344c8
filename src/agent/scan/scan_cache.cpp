// Unchanged-file cache: LRU in memory, fixed-size binary records on disk; see scan_cache.hpp.
#include "agent/scan/scan_cache.hpp"

#include <cstring>

#include "common/file_io.hpp"

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
  auto records =
      ReadRecordFile<DiskRecord>(path, std::string_view(kMagic, sizeof kMagic), "scan cache");
  if (!records) return std::unexpected(records.error());
  if (!*records) return {};  // no cache yet
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  // Stored most recent first: insert oldest first so the order survives.
  for (auto it = (*records)->rbegin(); it != (*records)->rend(); ++it) {
    const DiskRecord& r = *it;
    InsertLocked(FileIdentity{static_cast<dev_t>(r.dev), static_cast<ino_t>(r.ino), r.size,
                              r.mtime_ns, r.ctime_ns},
                 r.rules_key);
  }
  return {};
}

Result<void> ScanCache::Save(const std::filesystem::path& path) const {
  std::string bytes(kMagic, sizeof kMagic);
  {
    std::lock_guard lock(mu_);
    bytes.reserve(sizeof kMagic + lru_.size() * sizeof(DiskRecord));
    for (const auto& e : lru_) {
      const DiskRecord r{e.id.dev, e.id.ino, e.id.size, e.id.mtime_ns, e.id.ctime_ns, e.rules_key};
      bytes.append(reinterpret_cast<const char*>(&r), sizeof r);
    }
  }
  return WriteFileAtomic(path, bytes);
}

}  // namespace vigil::agent::scan
