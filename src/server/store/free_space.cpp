// See free_space.hpp.
#include "server/store/free_space.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <string>

#include "common/log.hpp"

namespace vigil::store {
namespace {

std::string Mib(std::uint64_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MiB"; }

}  // namespace

std::uint64_t DefaultMinFree(std::uint64_t filesystem_bytes) {
  // A floor of 128 MiB because one group commit can grow the WAL by tens of MiB (a dirty page per
  // row of each scattered index), and 5 % of a filesystem of a few hundred MiB is less than that;
  // on a filesystem under 256 MiB the floor is half of it, so ingest is possible at all.
  const std::uint64_t floor = std::min<std::uint64_t>(128ull << 20, filesystem_bytes / 2);
  return std::min<std::uint64_t>(1ull << 30, std::max(filesystem_bytes / 20, floor));
}

FreeSpaceGuard::FreeSpaceGuard(std::filesystem::path dir, std::optional<std::uint64_t> min_free)
    : dir_(std::move(dir)), min_free_(min_free) {}

DiskStatus FreeSpaceGuard::Status() const {
  DiskStatus s;
  s.dir = dir_.string();
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) != 0) return s;
  s.known = true;
  s.free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  s.min_free_bytes =
      min_free_.value_or(DefaultMinFree(static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize));
  s.ingest_paused = s.free_bytes < s.min_free_bytes;
  return s;
}

Result<void> FreeSpaceGuard::Check() {
  const DiskStatus s = Status();
  if (!s.known || !s.ingest_paused) {
    if (s.known && paused_.exchange(false))
      VLOG_INFO("ingest resumed: {} has {} free", s.dir, Mib(s.free_bytes));
    return {};
  }
  std::string why = "ingest paused: " + s.dir + " has " + Mib(s.free_bytes) +
                    " free, less than the minimum of " + Mib(s.min_free_bytes) +
                    " (vigil-server run --min-free); agents keep their events and resend them "
                    "once space is freed (--retention-size bounds the store)";
  if (!paused_.exchange(true)) VLOG_WARN("{}", why);
  return Fail(why);
}

}  // namespace vigil::store
