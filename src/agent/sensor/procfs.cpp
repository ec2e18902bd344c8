// Readers for /proc/PID files; see procfs.hpp.
#include "agent/sensor/procfs.hpp"

#include <ctime>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "common/fd.hpp"
#include "common/number.hpp"

namespace vigil::agent::procfs {
namespace {

std::string PidPath(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

// Reads a whole (small) file; nullopt when it cannot be opened or read.
std::optional<std::string> ReadSmallFile(const std::string& path, std::size_t limit = 1 << 20) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return std::nullopt;
  std::string out;
  std::array<char, 4096> buf;
  while (out.size() < limit) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::string> ReadLink(const std::string& path) {
  std::array<char, 4096> buf;
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n <= 0) return std::nullopt;
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// First and second numbers of a status line value ("1000\t1000\t1000\t1000": real, effective...).
void ParseIdPair(std::string_view value, std::optional<std::uint32_t>& real,
                 std::optional<std::uint32_t>& effective) {
  value = Trim(value);
  auto sep = value.find_first_of(" \t");
  real = ToNumber<std::uint32_t>(value.substr(0, sep));
  if (sep == std::string_view::npos) return;
  value = Trim(value.substr(sep));
  effective = ToNumber<std::uint32_t>(value.substr(0, value.find_first_of(" \t")));
}

}  // namespace

std::string Cmdline::Joined() const {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out.push_back(' ');
    out.append(a);
  }
  return out;
}

std::optional<Stat> ParseStat(std::string_view text) {
  // "pid (comm) S ppid ..." — comm may contain spaces and parentheses: it ends at the last ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  Stat st;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  // Fields from 3 on, separated by single spaces.
  std::array<std::string_view, 20> fields;  // fields 3..22
  std::size_t n = 0;
  while (n < fields.size()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = rest.find(' ');
    fields[n++] = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  if (n < fields.size()) return std::nullopt;
  st.state = fields[0].empty() ? '?' : fields[0][0];
  auto ppid = ToNumber<pid_t>(fields[1]);
  auto flags = ToNumber<std::uint32_t>(fields[6]);
  auto start = ToNumber<std::uint64_t>(fields[19]);
  if (!ppid || !flags || !start) return std::nullopt;
  st.ppid = *ppid;
  st.flags = *flags;
  st.start_ticks = *start;
  return st;
}

Cmdline ParseCmdline(std::string_view kept, std::size_t total_bytes, std::size_t total_nuls) {
  Cmdline out;
  out.truncated = total_bytes > kept.size();
  std::string_view rest = kept;
  while (!rest.empty()) {
    auto nul = rest.find('\0');
    if (nul == std::string_view::npos) {
      out.args.emplace_back(rest);
      break;
    }
    out.args.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  // Normally every argument ends with a NUL; a process that rewrote its argv may not end with one.
  bool ends_with_nul = !out.truncated ? (!kept.empty() && kept.back() == '\0') : true;
  out.count = total_nuls + ((total_bytes > 0 && !ends_with_nul) ? 1 : 0);
  out.count = std::max(out.count, out.args.size());
  return out;
}

std::optional<Stat> ReadStat(pid_t pid) {
  auto text = ReadSmallFile(PidPath(pid, "stat"));
  if (!text) return std::nullopt;
  return ParseStat(*text);
}

std::optional<Status> ReadStatus(pid_t pid) {
  auto text = ReadSmallFile(PidPath(pid, "status"));
  if (!text) return std::nullopt;
  Status st;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (key == "Uid")
      ParseIdPair(value, st.uid, st.euid);
    else if (key == "Gid")
      ParseIdPair(value, st.gid, st.egid);
    else if (key == "PPid")
      st.ppid = ToNumber<pid_t>(Trim(value));
    else if (key == "Tgid")
      st.tgid = ToNumber<pid_t>(Trim(value));
  }
  return st;
}

std::optional<std::string> ReadExe(pid_t pid) { return ReadLink(PidPath(pid, "exe")); }
std::optional<std::string> ReadCwd(pid_t pid) { return ReadLink(PidPath(pid, "cwd")); }

std::optional<Cmdline> ReadCmdline(pid_t pid, std::size_t cap) {
  UniqueFd fd(::open(PidPath(pid, "cmdline").c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return std::nullopt;
  // Keep `cap` bytes; keep reading (up to a hard bound) only to count the arguments.
  constexpr std::size_t kCountLimit = 16u << 20;
  std::string kept;
  std::size_t total = 0, nuls = 0;
  auto buf = std::make_unique<char[]>(1 << 16);
  while (total < kCountLimit) {
    ssize_t n = ::read(fd.get(), buf.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (total == 0) return std::nullopt;
      break;
    }
    if (n == 0) break;
    auto size = static_cast<std::size_t>(n);
    if (kept.size() < cap) kept.append(buf.get(), std::min(size, cap - kept.size()));
    nuls += static_cast<std::size_t>(std::count(buf.get(), buf.get() + size, '\0'));
    total += size;
  }
  if (total == 0) return std::nullopt;  // kernel thread or zombie
  return ParseCmdline(kept, total, nuls);
}

std::optional<std::string> ReadCgroup(pid_t pid) {
  auto text = ReadSmallFile(PidPath(pid, "cgroup"));
  if (!text) return std::nullopt;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (line.starts_with("0::")) return std::string(line.substr(3));
  }
  return std::nullopt;
}

std::string ContainerIdFromCgroup(std::string_view cgroup) {
  // The last run of exactly 64 hex digits, e.g. .../docker-<id>.scope or /kubepods/.../<id>.
  auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  std::string found;
  std::size_t i = 0;
  while (i < cgroup.size()) {
    if (!is_hex(cgroup[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < cgroup.size() && is_hex(cgroup[j])) ++j;
    if (j - i == 64) found = std::string(cgroup.substr(i, 64));
    i = j;
  }
  return found;
}

std::vector<pid_t> ListPids() {
  std::vector<pid_t> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), &::closedir);
  if (!dir) return pids;
  while (dirent* ent = ::readdir(dir.get())) {
    if (auto pid = ToNumber<pid_t>(ent->d_name); pid && *pid > 0) {
      if (std::strlen(ent->d_name) == std::to_string(*pid).size()) pids.push_back(*pid);
    }
  }
  return pids;
}

std::int64_t BootTimeNs() {
  // /proc/stat's btime has whole seconds only; realtime minus boottime, read back to back, is
  // precise to microseconds, so process.start lands within the same tick as the exec.
  static const std::int64_t boot = [] {
    timespec real{}, boottime{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boottime);
    return (static_cast<std::int64_t>(real.tv_sec) - boottime.tv_sec) * 1'000'000'000 +
           (real.tv_nsec - boottime.tv_nsec);
  }();
  return boot;
}

long ClockTicksPerSecond() {
  static const long ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100L;
  }();
  return ticks;
}

std::int64_t StartTicksToNs(std::uint64_t ticks) {
  auto hz = static_cast<std::uint64_t>(ClockTicksPerSecond());
  auto secs = ticks / hz;
  auto rem = ticks % hz;
  return BootTimeNs() +
         static_cast<std::int64_t>(secs * 1'000'000'000ull + rem * 1'000'000'000ull / hz);
}

std::string_view BaseName(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace vigil::agent::procfs
