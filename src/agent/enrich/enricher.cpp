// Enricher: see enricher.hpp. Events stamped by another host (replays of foreign recordings) only
// get missing host/agent ids: local /proc, passwd and the process table say nothing true about
// them.
#include "agent/enrich/enricher.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/enrich/hash_cache.hpp"
#include "agent/enrich/process_table.hpp"
#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/procfs.hpp"
#include "common/entity_id.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/number.hpp"
#include "common/recent_exits.hpp"

namespace vigil::agent {
namespace {

// Removes key from the event's extra map and returns its value as start ticks.
std::optional<std::uint64_t> TakeTicks(v1::Event& e, const char* key) {
  auto* extra = e.mutable_extra();
  auto it = extra->find(key);
  if (it == extra->end()) return std::nullopt;
  auto ticks = ToNumber<std::uint64_t>(it->second);
  extra->erase(it);
  return ticks;
}

// uid/gid -> name with a small cache; misses are cached too (as empty names).
class NameCache {
 public:
  const std::string& User(std::uint32_t uid) { return Lookup(users_, uid, true); }
  const std::string& Group(std::uint32_t gid) { return Lookup(groups_, gid, false); }

 private:
  static constexpr std::size_t kMaxEntries = 4096;

  const std::string& Lookup(std::unordered_map<std::uint32_t, std::string>& cache, std::uint32_t id,
                            bool user) {
    if (auto it = cache.find(id); it != cache.end()) return it->second;
    if (cache.size() >= kMaxEntries) cache.clear();
    std::string name;
    std::vector<char> buf(4096);
    for (int attempt = 0; attempt < 4; ++attempt) {
      int rc;
      if (user) {
        passwd pw{}, *result = nullptr;
        rc = ::getpwuid_r(id, &pw, buf.data(), buf.size(), &result);
        if (rc == 0 && result) name = pw.pw_name;
      } else {
        group gr{}, *result = nullptr;
        rc = ::getgrgid_r(id, &gr, buf.data(), buf.size(), &result);
        if (rc == 0 && result) name = gr.gr_name;
      }
      if (rc != ERANGE) break;
      buf.resize(buf.size() * 4);
    }
    return cache.emplace(id, std::move(name)).first->second;
  }

  std::unordered_map<std::uint32_t, std::string> users_, groups_;
};

// Removes kExeIdKey from the event's extra map and returns the identity it holds.
std::optional<HashCache::Key> TakeExeId(v1::Event& e) {
  auto* extra = e.mutable_extra();
  auto it = extra->find(kExeIdKey);
  if (it == extra->end()) return std::nullopt;
  std::string_view text = it->second;
  std::array<std::int64_t, 5> v{};
  bool ok = true;
  for (std::size_t i = 0; i < v.size() && ok; ++i) {
    auto colon = text.find(':');
    if ((i + 1 < v.size()) == (colon == std::string_view::npos)) ok = false;
    auto n = ok ? ToNumber<std::int64_t>(text.substr(0, colon)) : std::nullopt;
    ok = ok && n.has_value();
    if (ok) v[i] = *n;
    if (colon != std::string_view::npos) text.remove_prefix(colon + 1);
  }
  extra->erase(it);
  if (!ok) return std::nullopt;
  return HashCache::Key{static_cast<dev_t>(v[0]), static_cast<ino_t>(v[1]),
                        static_cast<off_t>(v[2]), v[3], v[4]};
}

bool IsStartAction(std::string_view action) {
  return action == "exec" || action == "fork" || action == "snapshot";
}

}  // namespace

struct Enricher::Impl {
  explicit Impl(EnricherOptions o)
      : options(std::move(o)), table(options.max_processes), hashes(options.hash_cache_entries) {}

  EnricherOptions options;
  ProcessTable table;
  HashCache hashes;
  NameCache names;
  ProcessInfo gone_parent;  // Parent()'s answer for a parent known only by its identity
  // The last kRecentExits processes whose exit was enriched: a child's event can
  // come after its parent's exit (a vfork parent resumes when the child's exec switches memory,
  // before the exec's record is written; a daemon's double fork), and still names the parent.
  static constexpr std::size_t kRecentExits = 256;
  RecentExits<ProcessInfo> recent_exits{kRecentExits};
  std::uint64_t proc_lookups = 0;

  // Published after every event for Stats() from other threads.
  std::atomic<std::uint64_t> events{0}, errors{0}, pub_proc_lookups{0}, pub_evictions{0};
  std::atomic<std::size_t> pub_processes{0};

  std::string EntityId(std::int64_t pid, std::uint64_t ticks) const {
    return ProcessEntityId(options.host.host_id, options.host.boot_id, pid, ticks);
  }

  // A process missing from the table, read from /proc/PID and remembered: its table entry, or
  // nullptr when it is gone.
  ProcessInfo* LoadFromProc(std::int64_t pid) {
    if (pid <= 0 || pid > INT32_MAX) return nullptr;
    ++proc_lookups;
    auto p = static_cast<pid_t>(pid);
    auto stat = procfs::ReadStat(p);
    if (!stat) return nullptr;
    ProcessInfo info;
    info.start_ticks = stat->start_ticks;
    info.entity_id = EntityId(pid, stat->start_ticks);
    info.ppid = stat->ppid;
    info.start_ns = procfs::StartTicksToNs(stat->start_ticks);
    info.name = stat->comm;
    if (auto exe = procfs::ReadExe(p)) {
      info.executable = *exe;
      info.name = std::string(procfs::BaseName(*exe));
    }
    if (auto cmd = procfs::ReadCmdline(p)) info.command_line = cmd->Joined();
    ProcessInfo& entry = table.Upsert(pid);
    entry = std::move(info);
    return &entry;
  }

  // The parent: from the table when its start ticks agree, else from /proc, else only its entity
  // id (in gone_parent). The pointer is good until the table next changes.
  const ProcessInfo* Parent(std::int64_t ppid, std::optional<std::uint64_t> pticks) {
    if (ppid <= 0) return nullptr;
    if (ProcessInfo* p = table.Find(ppid)) {
      if (!pticks || !p->start_ticks || *p->start_ticks == *pticks) return p;
    }
    if (pticks) {
      if (const ProcessInfo* exited = recent_exits.Find(ppid, pticks)) return exited;
    }
    const ProcessInfo* loaded = LoadFromProc(ppid);
    if (loaded && (!pticks || loaded->start_ticks == pticks)) return loaded;
    if (pticks) {
      // The parent is gone and its pid reused (or unreadable): its identity is all we know.
      gone_parent = ProcessInfo{};
      gone_parent.start_ticks = pticks;
      gone_parent.entity_id = EntityId(ppid, *pticks);
      gone_parent.start_ns = procfs::StartTicksToNs(*pticks);
      return &gone_parent;
    }
    return nullptr;
  }

  static void FillParent(v1::Event& e, const ProcessInfo& parent) {
    if (!e.has_process_parent_entity_id() && !parent.entity_id.empty()) {
      e.set_process_parent_entity_id(parent.entity_id);
    }
    if (!e.has_process_parent_name() && !parent.name.empty())
      e.set_process_parent_name(parent.name);
    if (!e.has_process_parent_executable() && !parent.executable.empty()) {
      e.set_process_parent_executable(parent.executable);
    }
    if (!e.has_process_parent_command_line() && !parent.command_line.empty()) {
      e.set_process_parent_command_line(parent.command_line);
    }
    if (!e.has_process_parent_start() && parent.start_ns != 0) {
      e.set_process_parent_start(parent.start_ns);
    }
  }

  // The executable's hash: from the cache when the source gave the file's identity (no syscall),
  // else through /proc/PID/exe when it still names the event's executable (works for deleted
  // binaries and other mount namespaces), else through the path.
  void FillHash(v1::Event& e, std::int64_t pid, const std::optional<HashCache::Key>& exe_id) {
    if (e.has_process_hash_sha256()) return;
    if (exe_id) {
      if (auto digest = hashes.Find(*exe_id)) {
        e.set_process_hash_sha256(std::move(*digest));
        return;
      }
    }
    const std::string exe = e.has_process_executable() ? e.process_executable() : std::string();
    std::string proc_exe = "/proc/" + std::to_string(pid) + "/exe";
    bool same_binary = true;
    if (!exe.empty()) {
      std::array<char, 4096> buf;
      ssize_t n = ::readlink(proc_exe.c_str(), buf.data(), buf.size());
      same_binary = n > 0 && std::string_view(buf.data(), static_cast<std::size_t>(n)) == exe;
    }
    if (same_binary) {
      UniqueFd fd(::open(proc_exe.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
      if (fd) {
        if (auto digest = hashes.Sha256(fd.get())) {
          e.set_process_hash_sha256(std::move(*digest));
          return;
        }
      }
    }
    if (!exe.empty() && exe.front() == '/' && !exe.ends_with(" (deleted)")) {
      if (auto digest = hashes.Sha256Path(exe)) e.set_process_hash_sha256(std::move(*digest));
    }
  }

  void OnStart(v1::Event& e, std::int64_t pid, std::optional<std::uint64_t> ticks,
               std::optional<std::uint64_t> pticks, std::string_view action,
               const std::optional<HashCache::Key>& exe_id) {
    ProcessInfo* known = table.Find(pid);
    // An entry with other start ticks belongs to an earlier process that had this pid.
    if (known && ticks && known->start_ticks && *known->start_ticks != *ticks) known = nullptr;
    const bool had_entry = known != nullptr;

    if (!e.has_process_entity_id()) {
      // An exec follows its fork: the table has the id of this very process (same start ticks).
      if (known && !known->entity_id.empty() && (!ticks || known->start_ticks == ticks))
        e.set_process_entity_id(known->entity_id);
      else if (ticks)
        e.set_process_entity_id(EntityId(pid, *ticks));
    }
    if (!e.has_process_start()) {
      if (ticks)
        e.set_process_start(procfs::StartTicksToNs(*ticks));
      else if (known && known->start_ns)
        e.set_process_start(known->start_ns);
    }
    if (!e.has_process_parent_pid() && known && known->ppid > 0)
      e.set_process_parent_pid(known->ppid);
    known = nullptr;  // Parent() may change the table

    const ProcessInfo* parent = nullptr;
    if (e.has_process_parent_pid()) parent = Parent(e.process_parent_pid(), pticks);
    if (parent) FillParent(e, *parent);
    if (action == "fork" && parent) FillImageOfParent(e, *parent);
    if (action != "fork") FillHash(e, pid, exe_id);

    ProcessInfo& entry = table.Upsert(pid);
    if (!had_entry) entry = ProcessInfo{};
    if (e.has_process_entity_id()) entry.entity_id = e.process_entity_id();
    if (ticks) entry.start_ticks = ticks;
    if (e.has_process_parent_pid()) entry.ppid = e.process_parent_pid();
    if (e.has_process_name()) entry.name = e.process_name();
    if (e.has_process_executable()) entry.executable = e.process_executable();
    if (e.has_process_command_line()) entry.command_line = e.process_command_line();
    if (e.has_process_start()) entry.start_ns = e.process_start();
  }

  // A fork child runs its parent's image: what the source left out comes from the parent's entry
  // (the eBPF source fills a fork's paths itself from ReportedImages; this covers its misses for
  // the executable; the working directory is not kept here, to keep the table small).
  static void FillImageOfParent(v1::Event& e, const ProcessInfo& parent) {
    if (!e.has_process_executable() && !parent.executable.empty()) {
      e.set_process_executable(parent.executable);
      if (!parent.name.empty()) e.set_process_name(parent.name);  // over the source's comm
    }
    if (!e.has_process_command_line() && !parent.command_line.empty())
      e.set_process_command_line(parent.command_line);
  }

  void OnExit(v1::Event& e, std::int64_t pid, std::optional<std::uint64_t> ticks) {
    ProcessInfo* known = table.Find(pid);
    if (known && ticks && known->start_ticks && *known->start_ticks != *ticks) known = nullptr;
    if (known) {
      const ProcessInfo& info = recent_exits.Add(pid, std::move(*known));
      table.Erase(pid);
      if (!e.has_process_entity_id() && !info.entity_id.empty()) {
        e.set_process_entity_id(info.entity_id);
      }
      // The table's name comes from the executable; the source's exit name is the 15-byte comm.
      if (!info.name.empty()) e.set_process_name(info.name);
      if (!e.has_process_executable() && !info.executable.empty()) {
        e.set_process_executable(info.executable);
      }
      if (!e.has_process_command_line() && !info.command_line.empty()) {
        e.set_process_command_line(info.command_line);
      }
      if (!e.has_process_start() && info.start_ns) e.set_process_start(info.start_ns);
      if (!e.has_process_parent_pid() && info.ppid > 0) e.set_process_parent_pid(info.ppid);
    } else {
      if (!e.has_process_entity_id() && ticks) e.set_process_entity_id(EntityId(pid, *ticks));
      if (!e.has_process_start() && ticks) e.set_process_start(procfs::StartTicksToNs(*ticks));
      table.Erase(pid);  // a stale entry of an earlier process with this pid
    }
    if (e.has_process_parent_pid()) {
      if (ProcessInfo* parent = table.Find(e.process_parent_pid())) FillParent(e, *parent);
    }
  }

  // Any other event that names a pid: attribute it to the process it came from.
  void OnOther(v1::Event& e, std::int64_t pid) {
    if (e.has_process_entity_id()) return;
    const ProcessInfo* info = table.Find(pid);
    if (!info) info = LoadFromProc(pid);
    if (!info) return;
    if (!info->entity_id.empty()) e.set_process_entity_id(info->entity_id);
    if (!e.has_process_name() && !info->name.empty()) e.set_process_name(info->name);
    if (!e.has_process_executable() && !info->executable.empty()) {
      e.set_process_executable(info->executable);
    }
    if (!e.has_process_parent_pid() && info->ppid > 0) e.set_process_parent_pid(info->ppid);
    if (!e.has_process_parent_entity_id() && e.has_process_parent_pid()) {
      if (ProcessInfo* parent = table.Find(e.process_parent_pid())) {
        if (!parent->entity_id.empty()) e.set_process_parent_entity_id(parent->entity_id);
      }
    }
  }

  void FillNames(v1::Event& e) {
    if (e.has_user_id() && !e.has_user_name()) {
      if (auto id = ToNumber<std::uint32_t>(e.user_id())) {
        if (const auto& n = names.User(*id); !n.empty()) e.set_user_name(n);
      }
    }
    if (e.has_user_effective_id() && !e.has_user_effective_name()) {
      if (auto id = ToNumber<std::uint32_t>(e.user_effective_id())) {
        if (const auto& n = names.User(*id); !n.empty()) e.set_user_effective_name(n);
      }
    }
    if (e.has_group_id() && !e.has_group_name()) {
      if (auto id = ToNumber<std::uint32_t>(e.group_id())) {
        if (const auto& n = names.Group(*id); !n.empty()) e.set_group_name(n);
      }
    }
  }

  void Enrich(v1::Event& e) {
    const auto& host = options.host;
    if (!e.has_host_id() && !host.host_id.empty()) e.set_host_id(host.host_id);
    if (!e.has_host_name() && !host.hostname.empty()) e.set_host_name(host.hostname);
    if (!e.has_agent_id() && !options.agent_id.empty()) e.set_agent_id(options.agent_id);
    auto ticks = TakeTicks(e, kStartTicksKey);
    auto pticks = TakeTicks(e, kParentStartTicksKey);
    auto exe_id = TakeExeId(e);
    if (e.host_id() != host.host_id) return;  // recorded elsewhere: nothing local applies
    if (e.has_process_pid() && e.process_pid() > 0) {
      const std::int64_t pid = e.process_pid();
      if (e.event_category() == "process") {
        const std::string& action = e.event_action();
        if (IsStartAction(action))
          OnStart(e, pid, ticks, pticks, action, exe_id);
        else if (action == "exit")
          OnExit(e, pid, ticks);
        else
          OnOther(e, pid);
      } else {
        OnOther(e, pid);
      }
    }
    FillNames(e);
  }

  void Publish() {
    pub_processes.store(table.size(), std::memory_order_relaxed);
    pub_evictions.store(table.evictions(), std::memory_order_relaxed);
    pub_proc_lookups.store(proc_lookups, std::memory_order_relaxed);
  }
};

Enricher::Enricher(EnricherOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Enricher::~Enricher() = default;

void Enricher::Enrich(v1::Event& e) {
  impl_->events.fetch_add(1, std::memory_order_relaxed);
  try {
    impl_->Enrich(e);
  } catch (const std::exception& ex) {
    if (impl_->errors.fetch_add(1, std::memory_order_relaxed) < 10) {
      VLOG_WARN("enrich: {}", ex.what());
    }
  } catch (...) {
    impl_->errors.fetch_add(1, std::memory_order_relaxed);
  }
  impl_->Publish();
}

EnricherStats Enricher::Stats() const {
  EnricherStats s;
  s.events = impl_->events.load(std::memory_order_relaxed);
  s.errors = impl_->errors.load(std::memory_order_relaxed);
  s.processes = impl_->pub_processes.load(std::memory_order_relaxed);
  s.process_evictions = impl_->pub_evictions.load(std::memory_order_relaxed);
  s.proc_lookups = impl_->pub_proc_lookups.load(std::memory_order_relaxed);
  auto h = impl_->hashes.Stats();
  s.hash_hits = h.hits;
  s.hash_misses = h.misses;
  s.hash_errors = h.errors;
  s.hash_entries = h.entries;
  s.hash_evictions = h.evictions;
  return s;
}

HashCache& Enricher::Hashes() { return impl_->hashes; }

std::optional<std::pair<std::int64_t, std::uint64_t>> Enricher::FindEntity(
    const std::string& entity_id) {
  auto pid = impl_->table.FindEntity(entity_id);
  if (!pid) return std::nullopt;
  ProcessInfo* info = impl_->table.Find(*pid);
  if (!info || !info->start_ticks) return std::nullopt;
  return std::pair{*pid, *info->start_ticks};
}

}  // namespace vigil::agent
