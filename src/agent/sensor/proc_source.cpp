// The netlink process connector source: subscribes to the kernel's proc events, reads /proc/PID for
// exec details, and (optionally) snapshots the running processes first. One receiving thread;
// Stop() wakes it through an eventfd and joins it.
#include "agent/sensor/proc_source.hpp"
#include "agent/sensor/source_thread.hpp"

// clang-format off
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/connector.h>
#include <linux/cn_proc.h>
// clang-format on
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/sensor/proc_snapshot.hpp"
#include "agent/sensor/procfs.hpp"
#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

namespace vigil::agent {
namespace {

constexpr int kReceiveBufferBytes = 8 << 20;
constexpr std::size_t kEventHeaderBytes = offsetof(proc_event, event_data);
// The exit record; kernels before 4.18 end it before parent_pid.
using ExitBody = std::remove_cvref_t<decltype(std::declval<proc_event&>().event_data.exit)>;

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Sends PROC_CN_MCAST_LISTEN or PROC_CN_MCAST_IGNORE to the connector.
Result<void> SendMcastOp(int fd, proc_cn_mcast_op op) {
  // nlmsghdr | cn_msg | op, laid out by hand: cn_msg ends in a flexible array member.
  constexpr std::size_t kSize = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
  alignas(nlmsghdr) std::array<char, NLMSG_SPACE(sizeof(cn_msg) + sizeof(proc_cn_mcast_op))> req{};
  nlmsghdr nl{};
  nl.nlmsg_len = kSize;
  nl.nlmsg_type = NLMSG_DONE;
  cn_msg cn{};
  cn.id.idx = CN_IDX_PROC;
  cn.id.val = CN_VAL_PROC;
  cn.len = sizeof(proc_cn_mcast_op);
  std::memcpy(req.data(), &nl, sizeof nl);
  std::memcpy(req.data() + NLMSG_HDRLEN, &cn, sizeof cn);
  std::memcpy(req.data() + NLMSG_HDRLEN + sizeof cn, &op, sizeof op);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  if (::sendto(fd, req.data(), kSize, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    return Fail(ErrnoText("proc connector: send mcast op"));
  }
  return {};
}

void SetCommon(v1::Event& e, const char* type, const char* action) {
  e.set_timestamp(NowNs());
  e.set_event_category("process");
  e.set_event_type(type);
  e.set_event_action(action);
  e.set_event_dataset("vigil.proc");
}

void SetStartTicks(v1::Event& e, const char* key, std::uint64_t ticks) {
  (*e.mutable_extra())[key] = std::to_string(ticks);
}

class ProcSource final : public EventSource {
 public:
  ProcSource(ProcSourceOptions options, UniqueFd nl, UniqueFd wake)
      : options_(options), nl_(std::move(nl)), wake_(std::move(wake)) {}
  ~ProcSource() override { Stop(); }

  std::string_view Kind() const override { return "proc"; }

  Result<void> Start(EventSink sink) override {
    std::lock_guard lock(mu_);
    if (started_) return Fail("proc source: already started");
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = CN_IDX_PROC;
    addr.nl_pid = 0;  // the kernel picks a unique port id
    if (::bind(nl_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      return Fail(ErrnoText("proc connector: bind (needs CAP_NET_ADMIN)"));
    }
    if (auto r = SendMcastOp(nl_.get(), PROC_CN_MCAST_LISTEN); !r) return r;
    listening_ = true;
    sink_ = std::move(sink);
    started_ = true;
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  void Stop() override {
    std::lock_guard lock(mu_);
    WakeAndJoin(wake_.get(), thread_, "proc");
    if (listening_) {
      // Lets the kernel stop generating events when no listener is left.
      if (auto r = SendMcastOp(nl_.get(), PROC_CN_MCAST_IGNORE); !r)
        VLOG_WARN("{}", r.error().message);
      listening_ = false;
    }
  }

  SourceCounters Counters() const override {
    return {.events = events_.load(std::memory_order_relaxed),
            .dropped = dropped_.load(std::memory_order_relaxed),
            .parse_errors = parse_errors_.load(std::memory_order_relaxed)};
  }

 private:
  bool StopRequested() const { return WakeRequested(wake_.get()); }

  void Emit(v1::Event&& e) { DeliverEvent(sink_, events_, "proc", std::move(e)); }

  void Run() {
    if (options_.snapshot_at_start) Snapshot();
    Receive();
  }

  // Connector events that arrive meanwhile are handled between the snapshot's processes: the
  // snapshot can take seconds (the enricher hashes every running executable), and an exec event
  // handled only after it would find a short-lived process gone from /proc.
  void Snapshot() {
    std::size_t n = SnapshotProcesses(
        "vigil.proc",
        [this](v1::Event&& e) {
          Emit(std::move(e));
          (void)DrainQueued();
        },
        [this] { return StopRequested(); });
    VLOG_INFO("proc source: snapshot of {} processes", n);
  }

  void Receive() {
    for (;;) {
      pollfd fds[2] = {{nl_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      int r = ::poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        VLOG_ERROR("proc source: poll: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      if (fds[0].revents & (POLLERR | POLLNVAL)) {
        // POLLERR reports a pending ENOBUFS; recv below picks it up.
        if (fds[0].revents & POLLNVAL) return;
      }
      if (!DrainQueued()) return;
    }
  }

  // Handles what the socket has queued now, without waiting. false: the socket failed.
  bool DrainQueued() {
    char* buf = buf_.data();
    for (int i = 0; i < 1024; ++i) {
      sockaddr_nl from{};
      socklen_t from_len = sizeof from;
      ssize_t n = ::recvfrom(nl_.get(), buf, buf_.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == ENOBUFS) {
          dropped_.fetch_add(1, std::memory_order_relaxed);
          if (++overruns_logged_ <= 5) VLOG_WARN("proc source: netlink receive buffer overrun");
          continue;
        }
        VLOG_ERROR("proc source: recv: {}", std::strerror(errno));
        return false;
      }
      if (from.nl_pid != 0) continue;  // only the kernel speaks for the connector
      HandleDatagram(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  void HandleDatagram(const char* data, std::size_t size) {
    int len = static_cast<int>(size);
    auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
    if (!NLMSG_OK(nlh, len)) {
      parse_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    for (; NLMSG_OK(nlh, len); nlh = NLMSG_NEXT(nlh, len)) {
      if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_ERROR) continue;
      std::size_t payload = NLMSG_PAYLOAD(nlh, 0);
      if (payload < sizeof(cn_msg)) {
        parse_errors_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      cn_msg msg;
      std::memcpy(&msg, NLMSG_DATA(nlh), sizeof msg);
      if (msg.id.idx != CN_IDX_PROC || msg.id.val != CN_VAL_PROC) continue;
      if (msg.len > payload - sizeof(cn_msg) || msg.len < kEventHeaderBytes) {
        parse_errors_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      proc_event ev{};
      std::memcpy(&ev, static_cast<const char*>(NLMSG_DATA(nlh)) + sizeof(cn_msg),
                  std::min<std::size_t>(msg.len, sizeof ev));
      HandleEvent(ev, msg.len);
    }
  }

  bool Need(std::size_t have, std::size_t body) {
    if (have >= kEventHeaderBytes + body) return true;
    parse_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  void HandleEvent(const proc_event& ev, std::size_t len) {
    switch (ev.what) {
      case proc_event::PROC_EVENT_NONE:
        if (len >= kEventHeaderBytes + sizeof ev.event_data.ack && ev.event_data.ack.err != 0) {
          VLOG_WARN("proc source: connector reported error {}", ev.event_data.ack.err);
        }
        return;
      case proc_event::PROC_EVENT_EXEC: {
        if (!Need(len, sizeof ev.event_data.exec)) return;
        v1::Event e;
        SetCommon(e, "start", "exec");
        FillFromProc(e, ev.event_data.exec.process_tgid);
        Emit(std::move(e));
        return;
      }
      case proc_event::PROC_EVENT_FORK: {
        if (!Need(len, sizeof ev.event_data.fork)) return;
        const auto& f = ev.event_data.fork;
        // A new process, not a thread: the child leads its own thread group.
        if (f.child_pid != f.child_tgid || f.child_tgid == f.parent_tgid) return;
        v1::Event e;
        SetCommon(e, "start", "fork");
        e.set_process_pid(f.child_tgid);
        e.set_process_parent_pid(f.parent_tgid);
        if (auto st = procfs::ReadStat(f.child_tgid)) {
          SetStartTicks(e, kStartTicksKey, st->start_ticks);
          e.set_process_start(procfs::StartTicksToNs(st->start_ticks));
          e.set_process_name(st->comm);
        }
        if (auto exe = procfs::ReadExe(f.child_tgid)) {
          e.set_process_executable(*exe);
          e.set_process_name(std::string(procfs::BaseName(*exe)));
        }
        if (auto pst = procfs::ReadStat(f.parent_tgid)) {
          SetStartTicks(e, kParentStartTicksKey, pst->start_ticks);
        }
        Emit(std::move(e));
        return;
      }
      case proc_event::PROC_EVENT_EXIT: {
        if (!Need(len, offsetof(ExitBody, parent_pid))) return;
        const auto& x = ev.event_data.exit;
        if (x.process_pid != x.process_tgid) return;  // a thread, not the process
        v1::Event e;
        SetCommon(e, "end", "exit");
        e.set_process_pid(x.process_tgid);
        auto now = NowNs();
        e.set_process_end(now);
        int status = static_cast<int>(x.exit_code);
        e.set_process_exit_code(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
        if (len >= kEventHeaderBytes + sizeof ev.event_data.exit && x.parent_tgid > 0) {
          e.set_process_parent_pid(x.parent_tgid);
        }
        // Until it is reaped the process is a zombie whose stat still names its start time.
        if (auto st = procfs::ReadStat(x.process_tgid)) {
          SetStartTicks(e, kStartTicksKey, st->start_ticks);
          e.set_process_name(st->comm);
        }
        Emit(std::move(e));
        return;
      }
      default:
        return;  // uid/gid/sid/ptrace/comm/coredump: not reported by this source
    }
  }

  ProcSourceOptions options_;
  UniqueFd nl_;
  UniqueFd wake_;
  EventSink sink_;
  std::mutex mu_;
  bool started_ = false;
  bool listening_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> events_{0}, dropped_{0}, parse_errors_{0};
  std::uint64_t overruns_logged_ = 0;
  alignas(nlmsghdr) std::array<char, 1 << 16> buf_{};
};

}  // namespace

Result<std::unique_ptr<EventSource>> MakeProcSource(const ProcSourceOptions& options) {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR));
  if (!nl) return Fail(ErrnoText("proc connector: socket(NETLINK_CONNECTOR)"));
  int size = kReceiveBufferBytes;
  // SO_RCVBUFFORCE passes rmem_max when privileged; SO_RCVBUF is capped by it otherwise.
  if (::setsockopt(nl.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 &&
      ::setsockopt(nl.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
    VLOG_WARN("proc connector: cannot enlarge the receive buffer: {}", std::strerror(errno));
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Fail(ErrnoText("proc source: eventfd"));
  return std::make_unique<ProcSource>(options, std::move(nl), std::move(wake));
}

}  // namespace vigil::agent
