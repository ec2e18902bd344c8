// The eBPF event source: loads the skeleton of bpf/sensor.bpf.c, attaches its tp_btf programs,
// and decodes the ring buffer's records (bpf/records.h) into schema events on one thread. The
// thread first reports the running processes (/proc snapshot) and the persistence inventory;
// records that arrive meanwhile wait in the ring buffer. Stop() wakes the thread through an
// eventfd and joins it; the skeleton (programs, links, maps) and the ring buffer are RAII-owned.
#include "agent/sensor/ebpf_source.hpp"
#include "agent/sensor/source_thread.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "agent/sensor/bpf/records.h"
#include "agent/sensor/dns_parser.hpp"
#include "agent/sensor/held_forks.hpp"
#include "agent/sensor/ip_ranges.hpp"
#include "agent/sensor/persistence.hpp"
#include "agent/sensor/proc_snapshot.hpp"
#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/procfs.hpp"
#include "agent/sensor/reported_images.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/tick.hpp"
#include "common/time.hpp"
#include "sensor.skel.h"

namespace vigil::agent {

std::vector<std::string> EbpfSourceOptions::DefaultFilePrefixes() {
  return {"/etc/",
          "/usr/",
          "/bin/",
          "/sbin/",
          "/lib",
          "/boot/",
          "/root/",
          "/home/",
          "/tmp/",
          "/var/tmp/",
          "/dev/shm/",
          "/opt/",
          "/var/spool/cron/",
          "/var/spool/at/",
          "/var/spool/anacron/",
          "/run/systemd/"};
}

std::vector<std::string> EbpfSourceOptions::DefaultInternalCidrs() {
  return {"10.0.0.0/8",     "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
          "169.254.0.0/16", "::1/128",       "fe80::/10",      "fc00::/7"};
}

namespace {

constexpr const char* kDataset = "vigil.ebpf";

// libbpf's messages: warnings go to the log, and the last ones are kept for the error returned
// when loading fails (the verifier's reason).
std::mutex g_libbpf_mu;
std::string g_libbpf_last;

int LibbpfPrint(libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string text(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), fmt, args);
  text.resize(static_cast<std::size_t>(n));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  VLOG_DEBUG("libbpf: {}", text);
  static const bool to_stderr = std::getenv("VIGIL_LIBBPF_LOG") != nullptr;  // full verifier logs
  if (to_stderr) std::fprintf(stderr, "libbpf: %s\n", text.c_str());
  std::lock_guard lock(g_libbpf_mu);
  g_libbpf_last.append(text).append("; ");
  // The end says why (the verifier's last lines).
  if (g_libbpf_last.size() > 4096) g_libbpf_last.erase(0, g_libbpf_last.size() - 4096);
  return n;
}

std::string TakeLibbpfLog() {
  std::lock_guard lock(g_libbpf_mu);
  return std::exchange(g_libbpf_last, {});
}

Result<void> LibbpfFail(const char* what, int err) {
  std::string log = TakeLibbpfLog();
  std::string msg = std::string(what) + ": " + std::strerror(err < 0 ? -err : err);
  if (!log.empty())
    msg += " (libbpf: ..." + log.substr(log.size() > 1200 ? log.size() - 1200 : 0) + ")";
  return Fail(msg);
}

struct SkelDeleter {
  void operator()(vigil_sensor* s) const { vigil_sensor__destroy(s); }
};
struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
using SkelPtr = std::unique_ptr<vigil_sensor, SkelDeleter>;
using RingPtr = std::unique_ptr<ring_buffer, RingDeleter>;

std::int64_t ClockNs(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string Octal(std::uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode & 07777);
  return buf;
}

IpAddress Address(std::uint16_t family, const std::uint8_t* bytes) {
  IpAddress a;
  a.family = family;
  std::memcpy(a.bytes.data(), bytes, family == AF_INET ? 4 : 16);
  return a.Unmapped();
}

// cgroup v2 id (the kernfs inode number of its directory) -> path, from a scan of the cgroup2
// mount; rescanned on a miss at most every 2 s.
class CgroupPaths {
 public:
  std::string Path(std::uint64_t id) {
    if (id == 0) return {};
    if (auto it = paths_.find(id); it != paths_.end()) return it->second;
    auto now = std::chrono::steady_clock::now();
    if (now - last_scan_ < std::chrono::seconds(2)) return {};
    last_scan_ = now;
    Scan();
    auto it = paths_.find(id);
    return it == paths_.end() ? std::string() : it->second;
  }

 private:
  void Scan() {
    namespace fs = std::filesystem;
    if (root_.empty()) {
      std::ifstream mounts("/proc/self/mounts");
      std::string dev, dir, type;
      std::string rest;
      while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
        if (type == "cgroup2") {
          root_ = dir;
          break;
        }
      }
      if (root_.empty()) return;
    }
    paths_.clear();
    std::error_code ec;
    struct stat st {};
    if (::stat(root_.c_str(), &st) == 0) paths_[st.st_ino] = "/";
    for (auto it = fs::recursive_directory_iterator(
             root_, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (paths_.size() > 100000) break;
      if (!it->is_directory(ec)) {
        it.disable_recursion_pending();
        continue;
      }
      if (::stat(it->path().c_str(), &st) == 0) {
        paths_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
      }
    }
  }

  std::string root_;
  std::unordered_map<std::uint64_t, std::string> paths_;
  std::chrono::steady_clock::time_point last_scan_{};
};

// Per-process IP -> domain from DNS answers, least recently used dropped first.
class DomainCache {
 public:
  explicit DomainCache(std::size_t capacity) : capacity_(capacity) {}
  void Put(std::uint32_t tgid, const std::string& ip, const std::string& domain) {
    std::string key = Key(tgid, ip);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = domain;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, domain);
    index_[std::move(key)] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }
  const std::string* Get(std::uint32_t tgid, const std::string& ip) {
    auto it = index_.find(Key(tgid, ip));
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

 private:
  static std::string Key(std::uint32_t tgid, const std::string& ip) {
    return std::to_string(tgid) + "|" + ip;
  }
  std::size_t capacity_;
  std::list<std::pair<std::string, std::string>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> index_;
};

class EbpfSource final : public EventSource {
 public:
  EbpfSource(EbpfSourceOptions options, EbpfSourceOptions::SyscallHooks hooks, SkelPtr skel,
             IpRanges internal, UniqueFd wake)
      : options_(std::move(options)),
        hooks_(hooks),
        skel_(std::move(skel)),
        internal_(std::move(internal)),
        wake_(std::move(wake)),
        boot_to_real_(ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_BOOTTIME)) {}
  ~EbpfSource() override { Stop(); }

  Result<void> Init() {
    ring_buffer_opts opts{};
    opts.sz = sizeof opts;
    ring_.reset(
        ring_buffer__new(bpf_map__fd(skel_->maps.events), &EbpfSource::OnRecord, this, &opts));
    if (!ring_) return LibbpfFail("eBPF: ring_buffer__new", errno);
    return {};
  }

  std::string_view Kind() const override { return "ebpf"; }

  std::string Description() const override {
    switch (hooks_) {
      case EbpfSourceOptions::SyscallHooks::kNone:
        // No file, accept or module events; without the socket layer's tracepoints (before 6.3,
        // or turned off) no DNS or UDP either.
        return skel_->rodata->socket_layer ? "ebpf (no syscall hooks)"
                                           : "ebpf (no syscall hooks, no DNS or UDP)";
      case EbpfSourceOptions::SyscallHooks::kRaw:
        return "ebpf (raw syscall hooks)";  // every syscall of the host runs a program
      default:
        return "ebpf";
    }
  }

  Result<void> Start(EventSink sink) override {
    std::lock_guard lock(mu_);
    if (started_) return Fail("ebpf source: already started");
    sink_ = std::move(sink);
    started_ = true;
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "vigil-ebpf");  // per-thread costs in /proc, perf
      Run();
    });
    return {};
  }

  void Stop() override {
    std::lock_guard lock(mu_);
    WakeAndJoin(wake_.get(), thread_, "ebpf");
  }

  bool SetBatchEnd(std::function<void()> end) override {
    batch_end_ = std::move(end);
    return true;
  }

  // Detaching destroys every program's link (the programs stay loaded, the maps and the ring keep
  // their contents); attaching again makes new links. Records already in the ring are read as
  // usual.
  Result<void> SetPaused(bool paused) override {
    std::lock_guard lock(pause_mu_);
    if (paused == paused_) return {};
    if (paused) {
      vigil_sensor__detach(skel_.get());
    } else if (int err = vigil_sensor__attach(skel_.get())) {
      vigil_sensor__detach(skel_.get());  // all or nothing: stay paused
      return LibbpfFail("eBPF: attach again", err);
    }
    paused_ = paused;
    return {};
  }

  SourceCounters Counters() const override {
    return {.events = events_.load(std::memory_order_relaxed),
            .dropped = KernelCounter(VG_COUNT_DROPS),
            .parse_errors = parse_errors_.load(std::memory_order_relaxed),
            .wakeups = KernelCounter(VG_COUNT_WAKEUPS)};
  }

 private:
  // Sum over the CPUs of one of the programs' counters (records.h, vg_counter).
  std::uint64_t KernelCounter(std::uint32_t index) const {
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return 0;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &index, values.data()) != 0)
      return 0;
    std::uint64_t sum = 0;
    for (auto v : values) sum += v;
    return sum;
  }

  bool StopRequested() const { return WakeRequested(wake_.get()); }

  void Emit(v1::Event&& e) { DeliverEvent(sink_, events_, "ebpf", std::move(e)); }

  // The record handlers' event: one message cleared and refilled for every record. Clear() keeps
  // the strings and repeated elements it allocated, so a record costs a few allocations instead of
  // one per field set (malloc and free were a third of this thread's time in an exec storm). A sink
  // that moves the event out leaves it empty, which is as good.
  v1::Event& Fresh() {
    scratch_.Clear();
    return scratch_;
  }

  void EndBatch() {
    if (!batch_end_) return;
    try {
      batch_end_();
    } catch (const std::exception& ex) {
      VLOG_ERROR("ebpf source: batch end: {}", ex.what());
    }
  }

  void Run() {
    if (options_.snapshot_at_start) {
      // The ring buffer is drained between the snapshot's processes: the snapshot can take
      // seconds (the enricher hashes every running executable), and live events must not wait.
      std::size_t n = SnapshotProcesses(
          kDataset,
          [this](v1::Event&& e) {
            Emit(std::move(e));
            if (ring_buffer__consume(ring_.get()) > 0) EndBatch();
          },
          [this] { return StopRequested(); });
      VLOG_INFO("ebpf source: snapshot of {} processes", n);
      EndBatch();
    }
    if (options_.persistence_inventory && !StopRequested()) Inventory();
    EndBatch();
    for (;;) {
      pollfd fds[2] = {{ring_buffer__epoll_fd(ring_.get()), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      // Reads on the agent's tick grid (common/tick.hpp): the uplink looks at the spool (and syncs
      // it) just after, in the same wake-up of the machine.
      auto now = std::chrono::steady_clock::now();
      auto timeout =
          std::chrono::ceil<std::chrono::milliseconds>(NextTick(now, options_.poll_interval) - now);
      int r = ::poll(fds, 2, static_cast<int>(timeout.count()));
      if (r < 0 && errno != EINTR) {
        VLOG_ERROR("ebpf source: poll: {}", std::strerror(errno));
        if (ReleaseDueForks(HeldForks::Clock::time_point::max())) EndBatch();
        return;
      }
      int n = ring_buffer__consume(ring_.get());
      if (n < 0 && n != -EINTR) VLOG_WARN("ebpf source: consume: {}", std::strerror(-n));
      const bool released = !held_.empty() && ReleaseDueForks(HeldForks::Clock::now());
      if (n != 0 || released) EndBatch();
      if (r > 0 && fds[1].revents) {
        ring_buffer__consume(ring_.get());  // what is already there
        ReleaseDueForks(HeldForks::Clock::time_point::max());
        EndBatch();
        return;
      }
    }
  }

  void Inventory() {
    auto items = persistence::Inventory();
    for (auto& item : items) {
      v1::Event e;
      e.set_timestamp(NowNs());
      e.set_event_category("persistence");
      e.set_event_type("info");
      e.set_event_action("inventory");
      e.set_event_dataset(kDataset);
      e.set_file_name(std::string(procfs::BaseName(item.path)));
      e.set_file_path(std::move(item.path));
      e.set_vigil_persistence_mechanism(std::move(item.mechanism));
      Emit(std::move(e));
    }
    VLOG_INFO("ebpf source: persistence inventory of {} files", items.size());
  }

  static int OnRecord(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<EbpfSource*>(ctx);
    try {
      self->Handle(static_cast<const char*>(data), size);
    } catch (const std::exception& ex) {
      self->parse_errors_.fetch_add(1, std::memory_order_relaxed);
      VLOG_WARN("ebpf source: record: {}", ex.what());
    }
    return 0;
  }

  void ParseError() { parse_errors_.fetch_add(1, std::memory_order_relaxed); }

  // Copies a record of type T out of the ring (records may be unaligned); false when shorter than
  // its fixed part. Not zeroed first: a fixed-size record is copied whole, and the handlers of a
  // variable one read its data only up to the lengths they checked against the record's size (an
  // exec's T is 16 KiB, its record a few hundred bytes).
  template <class T>
  bool Load(const char* data, std::size_t size, std::size_t fixed, T& out) {
    if (size < fixed) return false;
    std::memcpy(static_cast<void*>(&out), data, std::min(size, sizeof out));
    return true;
  }

  void Handle(const char* data, std::size_t size) {
    vg_hdr h;
    if (size < sizeof h) return ParseError();
    std::memcpy(&h, data, sizeof h);
    if (h.size > size || h.size < sizeof h) return ParseError();
    size = h.size;
    if (!held_.empty()) ReleaseHeldBefore(h);
    switch (h.type) {
      case VG_EXEC:
      case VG_FORK:
        return HandleImage(data, size);
      case VG_EXIT:
        return HandleExit(data, size);
      case VG_TCP_CONNECT:
      case VG_TCP_ACCEPT:
      case VG_UDP_FLOW:
        return HandleNet(data, size);
      case VG_FILE:
        return HandleFile(data, size);
      case VG_DNS:
        return HandleDns(data, size);
      case VG_MODULE:
        return HandleModule(data, size);
      default:
        return ParseError();
    }
  }

  void Common(v1::Event& e, const vg_hdr& h, const char* category, const char* type,
              const char* action) {
    e.set_timestamp(boot_to_real_ + static_cast<std::int64_t>(h.boot_ns));
    e.set_event_category(category);
    e.set_event_type(type);
    e.set_event_action(action);
    e.set_event_dataset(kDataset);
    const vg_proc& p = h.proc;
    e.set_process_pid(p.tgid);
    if (p.ppid > 0) e.set_process_parent_pid(p.ppid);
    auto* extra = e.mutable_extra();
    (*extra)[kStartTicksKey] = std::to_string(p.start_ticks);
    if (p.ppid > 0) (*extra)[kParentStartTicksKey] = std::to_string(p.parent_start_ticks);
    e.set_user_id(std::to_string(p.uid));
    if (std::string_view(category) == "process") {
      e.set_user_effective_id(std::to_string(p.euid));
      e.set_group_id(std::to_string(p.gid));
      std::string cg = cgroups_.Path(p.cgroup_id);
      if (!cg.empty()) {
        if (auto id = procfs::ContainerIdFromCgroup(cg); !id.empty()) e.set_container_id(id);
        e.set_vigil_process_cgroup(std::move(cg));
      }
    }
  }

  // kExeIdKey's value; the kernel's dev_t (major << 20 | minor) becomes stat(2)'s.
  static std::string ExeId(const vg_file_id& id) {
    char buf[128];
    char* p = buf;
    char* end = buf + sizeof buf;
    auto put = [&](auto v, bool sep) {
      p = std::to_chars(p, end, v).ptr;
      if (sep && p < end) *p++ = ':';
    };
    put(static_cast<std::uint64_t>(makedev(id.dev >> 20, id.dev & 0xfffff)), true);
    put(id.ino, true);
    put(id.size, true);
    put(id.mtime_ns, true);
    put(id.ctime_ns, false);
    return std::string(buf, static_cast<std::size_t>(p - buf));
  }

  static std::string Comm(const vg_proc& p) {
    return std::string(p.comm, strnlen(p.comm, sizeof p.comm));
  }

  void HandleImage(const char* data, std::size_t size) {
    vg_exec r;
    if (!Load(data, size, offsetof(vg_exec, data), r)) return ParseError();
    std::size_t need = offsetof(vg_exec, data) + std::size_t{r.exe_len} + r.cwd_len + r.args_len;
    if (need > size) return ParseError();
    const bool exec = r.hdr.type == VG_EXEC;
    std::string_view exe(r.data, r.exe_len);
    std::string_view cwd(r.data + r.exe_len, r.cwd_len);
    std::string_view args(r.data + r.exe_len + r.cwd_len, r.args_len);
    // Paths the kernel left out are those of the parent's last record (fork, or an exec its fork
    // was folded into) or of this process's (exec). This process's entry then holds what its
    // record reports.
    const vg_proc& p = r.hdr.proc;
    const bool fork_of_parent = !exec && (r.flags & VG_FORK_IMAGE_OF_PARENT);
    const bool exec_same_cwd = exec && (r.flags & VG_EXEC_CWD_AS_REPORTED);
    const bool cwd_of_parent = exec_same_cwd && (r.flags & VG_EXEC_FORK_FOLDED);
    const ReportedImages::Image* from = fork_of_parent || cwd_of_parent
                                            ? images_.Find(p.ppid, p.parent_start_ticks)
                                        : exec_same_cwd ? images_.Find(p.tgid, p.start_ticks)
                                                        : nullptr;
    if (from) {
      if (fork_of_parent) exe = from->executable;
      cwd = from->working_directory;
    }
    // A fork's paths are its parent's too: the kernel now takes them as reported for the parent
    // (bpf/sensor.bpf.c, handle_fork). Such a record has its paths (exe, cwd view it); first,
    // because this may start images_ over.
    if (!exec && (r.flags & VG_FORK_PATHS_ALSO_PARENTS))
      images_.Reported(p.ppid, p.parent_start_ticks, exe, cwd);
    if ((fork_of_parent || exec_same_cwd) && !from) {
      // Its record was lost or this memory started over (ReportedImages): the event goes without
      // the paths (for a fork the enricher still has them from the parent's entry), and nothing
      // older of this process may stand in for them later.
      images_.Forget(p.tgid, p.start_ticks);
      if (images_missed_++ % 1000 == 0)
        VLOG_WARN("ebpf source: {} process records without the paths of an earlier record",
                  images_missed_);
    } else {
      const auto& image = images_.Reported(p.tgid, p.start_ticks, exe, cwd);
      exe = image.executable;
      cwd = image.working_directory;
    }
    if (!exec) {
      if (held_.holding()) return HoldFork(r.hdr);
      return EmitFork(r.hdr, images_.Find(p.tgid, p.start_ticks));
    }
    vg_hdr hdr = r.hdr;
    if (!held_.empty()) {
      if (auto fork = held_.Take(p.tgid, p.start_ticks)) {
        // Its exec stands for the fork: the parent that made it, as the fork said (it may have
        // exited since, and the child been reparented).
        hdr.proc.ppid = fork->proc.ppid;
        hdr.proc.parent_start_ticks = fork->proc.parent_start_ticks;
      }
    }
    v1::Event& e = Fresh();
    Common(e, hdr, "process", "start", "exec");
    SetImage(e, r.hdr.proc, exe, cwd);
    std::string joined;
    std::size_t kept = 0;
    while (!args.empty()) {
      auto nul = args.find('\0');
      std::string_view a = args.substr(0, nul);
      e.add_process_args(std::string(a));
      if (kept++) joined.push_back(' ');
      joined.append(a);
      if (nul == std::string_view::npos) break;
      args.remove_prefix(nul + 1);
    }
    e.set_process_command_line(std::move(joined));
    e.set_process_args_count(std::max<std::int64_t>(r.argc, static_cast<std::int64_t>(kept)));
    if (r.flags & VG_EXEC_ARGS_TRUNCATED) e.set_vigil_process_args_truncated(true);
    if (r.flags & VG_EXEC_EXE_ID) (*e.mutable_extra())[kExeIdKey] = ExeId(r.exe_id);
    Emit(std::move(e));
  }

  // The executable, name, working directory and start of a process event.
  static void SetImage(v1::Event& e, const vg_proc& p, std::string_view exe, std::string_view cwd) {
    if (!exe.empty()) {
      e.set_process_executable(std::string(exe));
      e.set_process_name(std::string(procfs::BaseName(exe)));
    } else {
      e.set_process_name(Comm(p));
    }
    if (!cwd.empty()) e.set_process_working_directory(std::string(cwd));
    e.set_process_start(procfs::StartTicksToNs(p.start_ticks));
  }

  // A fork event; its paths are what the child's record reported (image, nullptr: none).
  void EmitFork(const vg_hdr& fork, const ReportedImages::Image* image) {
    v1::Event& e = Fresh();
    Common(e, fork, "process", "start", "fork");
    SetImage(e, fork.proc, image ? std::string_view(image->executable) : std::string_view(),
             image ? std::string_view(image->working_directory) : std::string_view());
    Emit(std::move(e));
  }

  // ---- held forks (held_forks.hpp)

  void HoldFork(const vg_hdr& fork) {
    if (auto displaced = held_.Hold(fork, HeldForks::Clock::now())) ReleaseFork(*displaced);
    if (held_.size() > kHeldForks) ReleaseDueForks(HeldForks::Clock::now());
  }

  // A held fork goes out: the child's paths are still those its record reported (any record of
  // the child since would have released it first).
  void ReleaseFork(const vg_hdr& fork) {
    EmitFork(fork, images_.Find(fork.proc.tgid, fork.proc.start_ticks));
  }

  // Before a record about a process (or, for a fork or exec, a child of it), its held fork; before
  // an exec, those of the process's children.
  void ReleaseHeldBefore(const vg_hdr& h) {
    if (h.type == VG_FORK || h.type == VG_EXEC) {
      if (auto parent = held_.Take(h.proc.ppid, h.proc.parent_start_ticks)) ReleaseFork(*parent);
    }
    if (h.type == VG_EXEC) {
      // Its children's fork events take their parent fields from what it runs: before it changes.
      for (const vg_hdr& child : held_.TakeChildrenOf(h.proc.tgid, h.proc.start_ticks))
        ReleaseFork(child);
      return;  // its exec takes its own held fork (HandleImage)
    }
    if (auto own = held_.Take(h.proc.tgid, h.proc.start_ticks)) ReleaseFork(*own);
  }

  // Held forks due by `now` (Clock::time_point::max(): all) go out; true when any did.
  bool ReleaseDueForks(HeldForks::Clock::time_point now) {
    bool any = false;
    while (auto fork = held_.TakeDue(now)) {
      ReleaseFork(*fork);
      any = true;
    }
    return any;
  }

  void HandleExit(const char* data, std::size_t size) {
    vg_exit r;
    if (!Load(data, size, sizeof r, r)) return ParseError();
    images_.Exited(r.hdr.proc.tgid, r.hdr.proc.start_ticks);
    v1::Event& e = Fresh();
    Common(e, r.hdr, "process", "end", "exit");
    e.set_process_name(Comm(r.hdr.proc));
    e.set_process_end(e.timestamp());
    int status = static_cast<int>(r.exit_code);
    e.set_process_exit_code(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
    Emit(std::move(e));
  }

  void SetPeerFields(v1::Event& e, std::uint32_t tgid, const IpAddress& peer, bool domain_lookup) {
    e.set_vigil_destination_external(!internal_.Contains(peer));
    if (domain_lookup) {
      if (const std::string* d = domains_.Get(tgid, peer.ToString())) e.set_destination_domain(*d);
    }
  }

  void HandleNet(const char* data, std::size_t size) {
    vg_net r;
    if (!Load(data, size, sizeof r, r)) return ParseError();
    if (r.family != AF_INET && r.family != AF_INET6) return ParseError();
    IpAddress src = Address(r.family, r.saddr), dst = Address(r.family, r.daddr);
    v1::Event& e = Fresh();
    const bool accept = r.hdr.type == VG_TCP_ACCEPT;
    const bool udp = r.hdr.type == VG_UDP_FLOW;
    Common(e, r.hdr, "network", udp ? "connection" : "start",
           accept ? "accept" : (udp ? "udp_flow" : "connect"));
    e.set_process_name(Comm(r.hdr.proc));
    e.set_event_outcome(r.error == 0 ? "success" : "failure");
    e.set_network_transport(r.protocol == IPPROTO_UDP ? "udp" : "tcp");
    e.set_network_type(dst.family == AF_INET ? "ipv4" : "ipv6");
    e.set_network_direction(accept ? "inbound" : "outbound");
    e.set_source_ip(src.ToString());
    e.set_source_port(r.sport);
    e.set_destination_ip(dst.ToString());
    e.set_destination_port(r.dport);
    SetPeerFields(e, r.hdr.proc.tgid, accept ? src : dst, !accept);
    Emit(std::move(e));
  }

  void HandleDns(const char* data, std::size_t size) {
    vg_dns r;
    if (!Load(data, size, offsetof(vg_dns, data), r)) return ParseError();
    if (offsetof(vg_dns, data) + r.len > size || r.len > VG_DNS_CAP) return ParseError();
    std::span<const std::uint8_t> payload(r.data, r.len);
    bool cut = r.full_len > r.len;
    if (r.tuple.protocol == IPPROTO_TCP) {
      // DNS over TCP: a 2-byte length prefix, sent alone or with the message.
      if (r.full_len <= 2) return;
      std::uint16_t n = static_cast<std::uint16_t>(payload[0] << 8 | payload[1]);
      if (n == r.full_len - 2) payload = payload.subspan(2);
    }
    auto msg = dns::Parse(payload, cut);
    if (!msg) return ParseError();
    const bool sent = r.direction == VG_DNS_SENT;
    // Only queries we send and answers we receive.
    if (sent == msg->response) return;
    IpAddress server = Address(r.tuple.family, sent ? r.tuple.daddr : r.tuple.saddr);
    v1::Event& e = Fresh();
    Common(e, r.hdr, "dns", "protocol", sent ? "query" : "answer");
    e.set_process_name(Comm(r.hdr.proc));
    e.set_network_transport(r.tuple.protocol == IPPROTO_UDP ? "udp" : "tcp");
    e.set_network_type(server.family == AF_INET ? "ipv4" : "ipv6");
    e.set_destination_ip(server.ToString());
    e.set_destination_port(sent ? r.tuple.dport : r.tuple.sport);
    e.set_dns_question_name(msg->question_name);
    e.set_dns_question_type(dns::TypeName(msg->question_type));
    if (msg->response) {
      e.set_dns_response_code(dns::RcodeName(msg->rcode));
      for (const auto& a : msg->answers) {
        e.add_dns_answers(dns::TypeName(a.type) + " " + a.data + " " + std::to_string(a.ttl));
        if (a.type == 1 || a.type == 28) {
          e.add_dns_resolved_ip(a.data);
          domains_.Put(r.hdr.proc.tgid, a.data, msg->question_name);
        }
      }
    }
    Emit(std::move(e));
  }

  void HandleFile(const char* data, std::size_t size) {
    vg_file r;
    if (!Load(data, size, offsetof(vg_file, data), r)) return ParseError();
    if (offsetof(vg_file, data) + std::size_t{r.path_len} + r.path2_len > size) return ParseError();
    std::string path(r.data, r.path_len);
    std::string target(r.data + r.path_len, r.path2_len);
    const char *type = "change", *action = nullptr;
    switch (r.op) {
      case VG_FILE_CREATE:
        type = "creation";
        action = "create";
        break;
      case VG_FILE_WRITE:
        action = "open_write";
        break;
      case VG_FILE_RENAME:
        action = "rename";
        break;
      case VG_FILE_UNLINK:
        type = "deletion";
        action = "unlink";
        break;
      case VG_FILE_CHMOD:
        action = "chmod";
        break;
      default:
        return ParseError();
    }
    v1::Event& e = Fresh();
    Common(e, r.hdr, "file", type, action);
    e.set_process_name(Comm(r.hdr.proc));
    e.set_file_path(path);
    e.set_file_name(std::string(procfs::BaseName(r.op == VG_FILE_RENAME ? target : path)));
    if (r.op == VG_FILE_RENAME) e.set_file_target_path(target);
    if (r.op == VG_FILE_CHMOD) e.set_file_mode(Octal(r.mode));
    // A change to a persistence location is also a persistence event.
    std::string_view mech = persistence::Mechanism(path);
    if (mech.empty() && !target.empty()) mech = persistence::Mechanism(target);
    std::optional<v1::Event> pe;
    if (!mech.empty()) {
      pe.emplace(e);
      pe->set_event_category("persistence");
      pe->clear_file_target_path();  // not a persistence field
      pe->clear_file_mode();
      if (!target.empty() && !persistence::Mechanism(target).empty()) {
        pe->set_file_path(target);  // what now exists there
      }
      pe->set_vigil_persistence_mechanism(std::string(mech));
    }
    Emit(std::move(e));
    if (pe) Emit(std::move(*pe));
  }

  void HandleModule(const char* data, std::size_t size) {
    vg_module r;
    if (!Load(data, size, offsetof(vg_module, data), r)) return ParseError();
    if (offsetof(vg_module, data) + std::size_t{r.path_len} > size) return ParseError();
    v1::Event& e = Fresh();
    // A refused or failed load changed nothing: an attempt (outcome failure), not a change.
    const bool failed = r.ret < 0;
    Common(e, r.hdr, "persistence", failed ? "info" : "change", "module_load");
    e.set_event_outcome(failed ? "failure" : "success");
    if (failed) e.set_error_message(std::strerror(-r.ret));
    e.set_process_name(Comm(r.hdr.proc));
    e.set_vigil_persistence_mechanism("kernel_module");
    if (r.path_len) {
      std::string path(r.data, r.path_len);
      e.set_file_name(std::string(procfs::BaseName(path)));
      e.set_file_path(std::move(path));
    }
    Emit(std::move(e));
  }

  EbpfSourceOptions options_;
  const EbpfSourceOptions::SyscallHooks hooks_;  // as attached: kTracepoints, kRaw or kNone
  SkelPtr skel_;
  RingPtr ring_;
  IpRanges internal_;
  UniqueFd wake_;
  const std::int64_t boot_to_real_;
  CgroupPaths cgroups_;
  DomainCache domains_{16384};
  ReportedImages images_{32768};  // as many processes as the enricher's table
  static constexpr std::size_t kHeldForks = 4096;
  HeldForks held_{options_.fork_hold, kHeldForks};
  std::uint64_t images_missed_ = 0;  // paths left out that images_ did not have
  v1::Event scratch_;
  EventSink sink_;
  std::function<void()> batch_end_;
  std::mutex mu_;
  bool started_ = false;
  std::mutex pause_mu_;
  bool paused_ = false;  // guarded by pause_mu_
  std::thread thread_;
  std::atomic<std::uint64_t> events_{0}, parse_errors_{0};
};

Result<void> FillPrefixes(vigil_sensor* skel, const std::vector<std::string>& prefixes) {
  int fd = bpf_map__fd(skel->maps.prefixes);
  for (const auto& p : prefixes) {
    vg_prefix_key key{};
    std::size_t n = std::min<std::size_t>(p.size(), VG_PREFIX_LEN);
    key.prefixlen = static_cast<std::uint32_t>(n * 8);
    std::memcpy(key.data, p.data(), n);
    std::uint8_t one = 1;
    if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) != 0)
      return LibbpfFail("eBPF: file prefix map update", errno);
  }
  return {};
}

// The tracing directory libbpf attaches tracepoints through (it prefers debugfs's when that
// exists), with tracefs mounted at /sys/kernel/tracing when neither is there (it is not mounted at
// boot here).
Result<std::string> TracingDir() {
  constexpr const char* kDebugfs = "/sys/kernel/debug/tracing";
  constexpr const char* kTracefs = "/sys/kernel/tracing";
  if (::access(kDebugfs, F_OK) == 0) return std::string(kDebugfs);
  const std::string events = std::string(kTracefs) + "/events/syscalls";
  if (::access(events.c_str(), F_OK) == 0) return std::string(kTracefs);
  if (::mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0)
    return Fail(std::string("mounting tracefs at ") + kTracefs + ": " + std::strerror(errno));
  VLOG_INFO("eBPF: mounted tracefs at {}", kTracefs);
  if (::access(events.c_str(), F_OK) != 0)
    return Fail(events + ": " + std::strerror(errno) + " (kernel without syscall tracepoints?)");
  return std::string(kTracefs);
}

// Opens, loads and attaches the programs: the process and TCP ones always; of the syscall ones,
// with `hooks` kTracepoints the per-syscall tracepoint programs whose tracepoint exists under
// `tracing`, with kRaw the raw sys_exit one, with kNone none; with `socket_layer` the socket-layer
// programs instead of the send and receive syscall ones.
Result<SkelPtr> LoadSkeleton(const EbpfSourceOptions& options,
                             EbpfSourceOptions::SyscallHooks hooks, bool socket_layer,
                             const std::string& tracing = {}) {
  using Hooks = EbpfSourceOptions::SyscallHooks;
  TakeLibbpfLog();
  SkelPtr skel(vigil_sensor__open());
  if (!skel) return std::unexpected(LibbpfFail("eBPF: open", errno).error());
  pid_t self = options.exclude_pid == 0 ? ::getpid() : options.exclude_pid;
  skel->rodata->self_tgid = self > 0 ? static_cast<std::uint32_t>(self) : 0;
  skel->rodata->file_filter = options.file_prefixes.empty() ? 0 : 1;
  skel->rodata->udp_window_ns =
      static_cast<std::uint64_t>(options.udp_window.count()) * 1'000'000'000ull;
  skel->rodata->wakeup_bytes = options.wakeup_bytes;
  if (int err = bpf_map__set_max_entries(skel->maps.events,
                                         static_cast<std::uint32_t>(options.ring_bytes)))
    return std::unexpected(LibbpfFail("eBPF: ring size", err).error());
  if (options.process_entries == 0) return Fail("eBPF: process_entries must be at least 1");
  if (int err = bpf_map__set_max_entries(skel->maps.processes, options.process_entries))
    return std::unexpected(LibbpfFail("eBPF: processes map size", err).error());
  skel->rodata->socket_layer = socket_layer ? 1 : 0;
  constexpr std::string_view kSyscallTp = "tracepoint/syscalls/";
  auto tracepoint_exists = [&](std::string_view event) {
    return ::access((tracing + "/events/syscalls/" + std::string(event)).c_str(), F_OK) == 0;
  };
  auto send_or_receive = [](std::string_view event) {
    return event.starts_with("sys_exit_send") || event.starts_with("sys_exit_recv");
  };
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string_view section = bpf_program__section_name(prog);
    bool load = true;
    if (section.starts_with(kSyscallTp)) {
      std::string_view event = section.substr(kSyscallTp.size());
      load = hooks == Hooks::kTracepoints && !(socket_layer && send_or_receive(event)) &&
             tracepoint_exists(event);
    } else if (section == "tp_btf/sys_exit") {
      load = hooks == Hooks::kRaw;
    } else if (section.starts_with("tp_btf/sock_")) {
      load = socket_layer;
    }
    bpf_program__set_autoload(prog, load);
  }
  if (int err = vigil_sensor__load(skel.get()))
    return std::unexpected(LibbpfFail("eBPF: load (kernel without BTF/eBPF?)", err).error());
  if (auto r = FillPrefixes(skel.get(), options.file_prefixes); !r)
    return std::unexpected(r.error());
  if (int err = vigil_sensor__attach(skel.get()))
    return std::unexpected(LibbpfFail("eBPF: attach", err).error());
  return skel;
}

}  // namespace

Result<std::unique_ptr<EventSource>> MakeEbpfSource(const EbpfSourceOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LibbpfPrint); });
  auto internal = IpRanges::Parse(options.internal_cidrs);
  if (!internal) return Fail("eBPF: internal CIDRs: " + internal.error().message);
  std::size_t ring = options.ring_bytes;
  if (ring < 4096 || (ring & (ring - 1)) != 0) return Fail("eBPF: ring_bytes must be a power of 2");

  using Hooks = EbpfSourceOptions::SyscallHooks;
  Result<SkelPtr> skel = Fail("not tried");
  Hooks hooks = options.syscall_hooks;
  // DNS and UDP from the socket layer (then the send/receive syscall programs are not loaded).
  const bool socket_layer = options.socket_tracepoints && KernelHasSocketLayerTracepoints();
  if (hooks == Hooks::kNone) {
    skel = LoadSkeleton(options, Hooks::kNone, socket_layer);
    if (!skel) return std::unexpected(skel.error());
    VLOG_INFO("eBPF: syscalls not hooked (--syscall-hooks none): no file, accept or module events");
  } else if (hooks != Hooks::kRaw) {
    auto tracing = TracingDir();
    skel = tracing ? LoadSkeleton(options, Hooks::kTracepoints, socket_layer, *tracing)
                   : std::unexpected(tracing.error());
    if (!skel && hooks == Hooks::kTracepoints)
      return Fail("eBPF with per-syscall tracepoints: " + skel.error().message);
    if (!skel) {
      VLOG_WARN("eBPF: per-syscall tracepoints unavailable ({}); using raw sys_exit",
                skel.error().message);
    } else {
      hooks = Hooks::kTracepoints;
      VLOG_INFO("eBPF: syscalls hooked through per-syscall tracepoints ({}/events/syscalls)",
                *tracing);
    }
  }
  if (!skel) {
    skel = LoadSkeleton(options, Hooks::kRaw, socket_layer);
    if (!skel) return std::unexpected(skel.error());
    hooks = Hooks::kRaw;
    VLOG_INFO("eBPF: syscalls hooked through raw sys_exit");
  }
  if (socket_layer) {
    VLOG_INFO("eBPF: DNS and UDP from the socket layer (sock_send_length, sock_recv_length)");
  } else if (hooks == Hooks::kNone) {
    VLOG_INFO("eBPF: no DNS or UDP events ({})",
              options.socket_tracepoints ? "the kernel has no sock_send_length tracepoint"
                                         : "socket-layer tracepoints turned off");
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Fail(std::string("eBPF: eventfd: ") + std::strerror(errno));
  auto src = std::make_unique<EbpfSource>(options, hooks, std::move(*skel), std::move(*internal),
                                          std::move(wake));
  if (auto r = src->Init(); !r) return std::unexpected(r.error());
  return src;
}

bool KernelHasSocketLayerTracepoints() {
  return libbpf_find_vmlinux_btf_id("sock_send_length", BPF_TRACE_RAW_TP) > 0 &&
         libbpf_find_vmlinux_btf_id("sock_recv_length", BPF_TRACE_RAW_TP) > 0;
}

Result<EbpfSourceOptions::SyscallHooks> ParseSyscallHooks(std::string_view text) {
  using Hooks = EbpfSourceOptions::SyscallHooks;
  if (text == "auto") return Hooks::kAuto;
  if (text == "tracepoint") return Hooks::kTracepoints;
  if (text == "raw") return Hooks::kRaw;
  if (text == "none") return Hooks::kNone;
  return Fail("unknown syscall hooks '" + std::string(text) + "' (auto, tracepoint, raw or none)");
}

}  // namespace vigil::agent
