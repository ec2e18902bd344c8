// /proc/PID/maps parsing and region selection; see proc_maps.hpp.
#include "agent/scan/proc_maps.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace vigil::agent::scan {
namespace {

std::string_view NextField(std::string_view& line) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  const auto end = line.find(' ');
  auto field = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return field;
}

bool Hex(std::string_view s, std::uint64_t& out) {
  return !s.empty() &&
         std::from_chars(s.data(), s.data() + s.size(), out, 16).ptr == s.data() + s.size();
}

}  // namespace

bool MapRegion::file_backed() const {
  if (inode == 0 || path.empty() || path.front() != '/') return false;
  if (path.starts_with("/dev/zero") || path.starts_with("/SYSV")) return false;
  return true;
}

std::vector<MapRegion> ParseMaps(std::string_view text) {
  std::vector<MapRegion> regions;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    MapRegion r;
    const auto range = NextField(line);
    const auto dash = range.find('-');
    if (dash == std::string_view::npos || !Hex(range.substr(0, dash), r.start) ||
        !Hex(range.substr(dash + 1), r.end) || r.end < r.start)
      continue;
    r.permissions = std::string(NextField(line));
    if (!Hex(NextField(line), r.offset)) continue;
    NextField(line);  // device
    const auto inode = NextField(line);
    std::from_chars(inode.data(), inode.data() + inode.size(), r.inode);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    r.path = std::string(line);
    regions.push_back(std::move(r));
  }
  return regions;
}

std::optional<std::vector<MapRegion>> ReadMaps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseMaps(ss.str());
}

bool ShouldScanRegion(const MapRegion& r, std::uint64_t max_size) {
  if (!r.readable() || r.size() == 0) return false;
  if (max_size && r.size() > max_size) return false;
  if (r.path == "[vvar]" || r.path == "[vsyscall]" || r.path == "[vvar_vclock]") return false;
  if (r.path.starts_with("anon_inode:")) return false;
  if (r.path.starts_with("/dev/") && !r.path.starts_with("/dev/shm/") &&
      !r.path.starts_with("/dev/zero"))
    return false;
  return true;
}

}  // namespace vigil::agent::scan
