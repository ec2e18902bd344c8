// /proc-based process descriptions shared by the sources; see proc_snapshot.hpp.
#include "agent/sensor/proc_snapshot.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/sensor/proc_source.hpp"
#include "common/time.hpp"

namespace vigil::agent {
namespace {

void SetStartTicks(v1::Event& e, const char* key, std::uint64_t ticks) {
  (*e.mutable_extra())[key] = std::to_string(ticks);
}

}  // namespace

void FillFromProc(v1::Event& e, pid_t pid, const procfs::Stat* known_stat) {
  e.set_process_pid(pid);
  std::optional<procfs::Stat> stat;
  if (known_stat)
    stat = *known_stat;
  else
    stat = procfs::ReadStat(pid);
  auto exe = procfs::ReadExe(pid);
  if (exe) {
    e.set_process_executable(*exe);
    e.set_process_name(std::string(procfs::BaseName(*exe)));
  } else if (stat) {
    e.set_process_name(stat->comm);
  }
  if (auto cmd = procfs::ReadCmdline(pid)) {
    for (auto& a : cmd->args) e.add_process_args(a);
    e.set_process_command_line(cmd->Joined());
    e.set_process_args_count(static_cast<std::int64_t>(cmd->count));
    if (cmd->truncated) e.set_vigil_process_args_truncated(true);
  }
  if (auto cwd = procfs::ReadCwd(pid)) e.set_process_working_directory(*cwd);
  pid_t ppid = 0;
  if (auto status = procfs::ReadStatus(pid)) {
    if (status->uid) e.set_user_id(std::to_string(*status->uid));
    if (status->euid) e.set_user_effective_id(std::to_string(*status->euid));
    if (status->gid) e.set_group_id(std::to_string(*status->gid));
    if (status->ppid) ppid = *status->ppid;
  }
  if (stat) {
    if (ppid == 0) ppid = stat->ppid;
    SetStartTicks(e, kStartTicksKey, stat->start_ticks);
    e.set_process_start(procfs::StartTicksToNs(stat->start_ticks));
  }
  if (ppid > 0) {
    e.set_process_parent_pid(ppid);
    if (auto pstat = procfs::ReadStat(ppid)) {
      SetStartTicks(e, kParentStartTicksKey, pstat->start_ticks);
    }
  }
  if (auto cgroup = procfs::ReadCgroup(pid)) {
    if (auto id = procfs::ContainerIdFromCgroup(*cgroup); !id.empty()) e.set_container_id(id);
    e.set_vigil_process_cgroup(std::move(*cgroup));
  }
}

std::size_t SnapshotProcesses(const char* dataset, const std::function<void(v1::Event&&)>& emit,
                              const std::function<bool()>& stop_requested) {
  std::unordered_map<pid_t, procfs::Stat> stats;
  for (pid_t pid : procfs::ListPids()) {
    auto st = procfs::ReadStat(pid);
    if (!st || st->IsKernelThread() || pid == 2 || st->ppid == 2) continue;
    stats.emplace(pid, std::move(*st));
  }
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  std::vector<pid_t> roots;
  for (const auto& [pid, st] : stats) {
    if (st.ppid != pid && stats.contains(st.ppid))
      children[st.ppid].push_back(pid);
    else
      roots.push_back(pid);
  }
  std::sort(roots.begin(), roots.end(), std::greater<>());
  for (auto& [_, kids] : children) std::sort(kids.begin(), kids.end(), std::greater<>());
  std::vector<pid_t> stack = std::move(roots);  // depth first, lowest pid first
  std::size_t emitted = 0;
  while (!stack.empty()) {
    if ((emitted & 255) == 0 && stop_requested()) break;
    pid_t pid = stack.back();
    stack.pop_back();
    if (auto it = children.find(pid); it != children.end()) {
      stack.insert(stack.end(), it->second.begin(), it->second.end());
    }
    if (!procfs::ReadExe(pid)) continue;  // kernel thread or zombie: nothing to report
    v1::Event e;
    e.set_timestamp(NowNs());
    e.set_event_category("process");
    e.set_event_type("info");
    e.set_event_action("snapshot");
    e.set_event_dataset(dataset);
    FillFromProc(e, pid, &stats.at(pid));
    emit(std::move(e));
    ++emitted;
  }
  return emitted;
}

}  // namespace vigil::agent
