// Readers for /proc/PID: stat, status, exe, cwd, cmdline and cgroup, plus the boot time and clock
// tick rate needed to turn a process's start ticks into a timestamp. Every reader tolerates a
// process that vanished mid-read: it returns what it got (nullopt or empty), never throws.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::agent::procfs {

// Fields of /proc/PID/stat that the sensor and the enricher use.
struct Stat {
  std::string comm;               // field 2, without the parentheses
  char state = '?';               // field 3
  pid_t ppid = 0;                 // field 4
  std::uint32_t flags = 0;        // field 9 (PF_* flags)
  std::uint64_t start_ticks = 0;  // field 22: clock ticks since boot
  bool IsKernelThread() const { return (flags & 0x00200000u) != 0; }  // PF_KTHREAD
};

// Fields of /proc/PID/status.
struct Status {
  std::optional<std::uint32_t> uid, euid, gid, egid;
  std::optional<pid_t> ppid, tgid;
};

struct Cmdline {
  std::vector<std::string> args;  // argv, the last one cut when truncated
  std::size_t count = 0;          // number of arguments in the full command line
  bool truncated = false;
  std::string Joined() const;  // args joined by single spaces
};

inline constexpr std::size_t kMaxCmdlineBytes = 64 * 1024;

// Parses the text of a /proc/PID/stat file (exposed for tests).
std::optional<Stat> ParseStat(std::string_view text);
// Parses the bytes of a /proc/PID/cmdline file that may have been cut at `cap` bytes while the
// whole file had `total_nuls` NUL separators (exposed for tests).
Cmdline ParseCmdline(std::string_view kept, std::size_t total_bytes, std::size_t total_nuls);

std::optional<Stat> ReadStat(pid_t pid);
std::optional<Status> ReadStatus(pid_t pid);
std::optional<std::string> ReadExe(pid_t pid);
std::optional<std::string> ReadCwd(pid_t pid);
// Keeps at most `cap` bytes of arguments but counts every argument.
std::optional<Cmdline> ReadCmdline(pid_t pid, std::size_t cap = kMaxCmdlineBytes);
// The cgroup v2 path ("0::/path" line) of the process.
std::optional<std::string> ReadCgroup(pid_t pid);
// A 64-hex-digit container id in a cgroup path (docker, containerd, cri-o, podman), or "".
std::string ContainerIdFromCgroup(std::string_view cgroup);

// Process ids of /proc, in directory order.
std::vector<pid_t> ListPids();

// When the machine booted, in ns since the epoch (realtime - boottime, read once, cached).
std::int64_t BootTimeNs();
// sysconf(_SC_CLK_TCK) (cached).
long ClockTicksPerSecond();
// Start time in ns since the epoch of a process that started `ticks` clock ticks after boot.
std::int64_t StartTicksToNs(std::uint64_t ticks);

std::string_view BaseName(std::string_view path);

}  // namespace vigil::agent::procfs
