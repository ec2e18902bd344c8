// Kill by entity id through pidfds. A tree is first frozen (SIGSTOP, top down, until a /proc scan
// finds no new child), so nothing forks away while it is being collected, then killed.
#include "agent/response/kill.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "agent/sensor/procfs.hpp"
#include "common/entity_id.hpp"
#include "common/fd.hpp"

namespace vigil::agent::response {
namespace {

using nlohmann::json;

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSignal(int fd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0));
}

struct Pinned {
  pid_t pid = 0;
  UniqueFd fd;
  std::string name;
  std::string entity_id;
};

// Opens a pidfd on pid and reads its stat after that, so the pidfd holds the process whose start
// time we read (if the pid was reused in between, the start time is the new process's and the
// caller's identity check fails).
std::optional<Pinned> Pin(pid_t pid, const HostInfo& host, procfs::Stat* stat_out) {
  UniqueFd fd(PidfdOpen(pid));
  if (!fd) return std::nullopt;
  auto stat = procfs::ReadStat(pid);
  if (!stat) return std::nullopt;
  if (stat_out) *stat_out = *stat;
  return Pinned{pid, std::move(fd), stat->comm,
                ProcessEntityId(host.host_id, host.boot_id, pid, stat->start_ticks)};
}

std::optional<ProcessRef> ScanProc(const std::string& entity_id, const HostInfo& host) {
  for (pid_t pid : procfs::ListPids()) {
    auto stat = procfs::ReadStat(pid);
    if (stat && ProcessEntityId(host.host_id, host.boot_id, pid, stat->start_ticks) == entity_id)
      return ProcessRef{pid, stat->start_ticks};
  }
  return std::nullopt;
}

}  // namespace

Result<json> Kill(const KillRequest& request, const HostInfo& host, const EntityLookup& lookup) {
  std::optional<ProcessRef> ref = lookup ? lookup(request.entity_id) : std::nullopt;
  if (!ref) ref = ScanProc(request.entity_id, host);
  if (!ref)
    return Fail("process " + request.entity_id +
                " is not running on this host (it exited, or it never ran here)");
  if (ref->pid <= 1 || ref->pid == ::getpid())
    return Fail("refusing to kill pid " + std::to_string(ref->pid) +
                (ref->pid == ::getpid() ? " (the Vigil agent itself)" : " (init)"));
  procfs::Stat stat;
  auto root = Pin(ref->pid, host, &stat);
  if (!root)
    return Fail("process " + request.entity_id + " (pid " + std::to_string(ref->pid) +
                ") is not running any more");
  if (root->entity_id != request.entity_id)
    return Fail("pid " + std::to_string(ref->pid) + " now belongs to another process (" +
                root->name + ", entity id " + root->entity_id + "): refusing to signal it");

  std::vector<Pinned> members;
  const pid_t self = ::getpid();
  if (request.tree) {
    if (PidfdSignal(root->fd.get(), SIGSTOP) != 0 && errno != ESRCH)
      return Fail(std::string("cannot stop pid ") + std::to_string(root->pid) + ": " +
                  std::strerror(errno));
    std::set<pid_t> pids{root->pid};
    members.push_back(std::move(*root));
    for (int round = 0; round < 1000; ++round) {
      bool added = false;
      for (pid_t pid : procfs::ListPids()) {
        if (pids.contains(pid) || pid == self) continue;
        auto s = procfs::ReadStat(pid);
        if (!s || !pids.contains(s->ppid)) continue;
        procfs::Stat pinned_stat;
        auto child = Pin(pid, host, &pinned_stat);
        // Still a child of the tree after pinning (not a reused pid of something else).
        if (!child || !pids.contains(pinned_stat.ppid)) continue;
        (void)PidfdSignal(child->fd.get(), SIGSTOP);
        pids.insert(pid);
        members.push_back(std::move(*child));
        added = true;
      }
      if (!added) break;
    }
  } else {
    members.push_back(std::move(*root));
  }

  json killed = json::array();
  std::string errors;
  for (auto& m : members) {
    if (PidfdSignal(m.fd.get(), SIGKILL) != 0 && errno != ESRCH) {
      errors += (errors.empty() ? "" : "; ") + std::string("pid ") + std::to_string(m.pid) + ": " +
                std::strerror(errno);
      continue;
    }
    killed.push_back({{"pid", m.pid}, {"name", m.name}, {"entity_id", m.entity_id}});
  }
  if (!errors.empty()) return Fail("could not kill: " + errors);
  return json{{"killed", killed}};
}

}  // namespace vigil::agent::response
