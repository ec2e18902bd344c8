// /proc/PID/maps: the memory regions of a process, and which of them a memory scan reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::agent::scan {

struct MapRegion {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::string permissions;  // "r-xp"
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::string path;  // "", "[heap]", "/usr/lib/x.so", "/tmp/x (deleted)", "/memfd:y (deleted)"

  std::uint64_t size() const { return end - start; }
  bool readable() const { return !permissions.empty() && permissions[0] == 'r'; }
  bool executable() const { return permissions.size() > 2 && permissions[2] == 'x'; }
  // Maps a file (a deleted one and memfd included); shared anonymous memory (/dev/zero,
  // SYSV shm) and [heap]/[stack]/anonymous regions are not file-backed.
  bool file_backed() const;
};

std::vector<MapRegion> ParseMaps(std::string_view text);
std::optional<std::vector<MapRegion>> ReadMaps(pid_t pid);

// Whether a memory scan reads the region: readable, not [vvar]/[vsyscall]/[vvar_vclock], not a
// device mapping (/dev/..., anon_inode:... such as GPU or perf buffers), not above max_size.
bool ShouldScanRegion(const MapRegion& region, std::uint64_t max_size);

}  // namespace vigil::agent::scan
