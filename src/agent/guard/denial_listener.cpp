// See denial_listener.hpp.
#include "agent/guard/denial_listener.hpp"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log.hpp"
#include "common/number.hpp"
#include "common/time.hpp"

namespace vigil::agent::guard {
namespace {

constexpr std::size_t kMaxWaiting = 1024;
constexpr std::size_t kRecentSyscalls = 64;
// How long a Landlock record waits for its SYSCALL record (they arrive within microseconds).
constexpr std::int64_t kWaitNs = 200'000'000;

bool IsHexString(std::string_view v) {
  if (v.empty() || v.size() % 2) return false;
  for (char c : v)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::string HexDecode(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    out.push_back(static_cast<char>(nibble(v[i]) << 4 | nibble(v[i + 1])));
  }
  return out;
}

// What the denied access was, from Landlock's `blockers` (fs.execute, fs.write_file, ...).
std::string Action(std::string_view blockers) {
  if (blockers.find("fs.execute") != std::string_view::npos) return "exec_denied";
  if (blockers.find("fs.") != std::string_view::npos) return "write_denied";
  if (blockers.find("net.") != std::string_view::npos) return "network_denied";
  return "denied";
}

}  // namespace

std::string_view AuditRecord::Get(std::string_view key) const {
  auto it = fields.find(key);
  return it == fields.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<AuditRecord> ParseAuditRecord(int type, std::string_view text) {
  // audit(1795415403.257:180226): key=value ...
  if (!text.starts_with("audit(")) return std::nullopt;
  const auto close = text.find("): ");
  const auto dot = text.find('.'), colon = text.find(':');
  if (close == std::string_view::npos || dot > colon || colon > close) return std::nullopt;
  AuditRecord r;
  r.type = type;
  auto secs = ToNumber<std::int64_t>(text.substr(6, dot - 6));
  auto millis = ToNumber<std::int64_t>(text.substr(dot + 1, colon - dot - 1));
  auto serial = ToNumber<std::uint64_t>(text.substr(colon + 1, close - colon - 1));
  if (!secs || !millis || !serial) return std::nullopt;
  r.time_ns = *secs * 1'000'000'000 + *millis * 1'000'000;
  r.serial = *serial;
  std::string_view rest = text.substr(close + 3);
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      const auto end = rest.find('"', 1);
      if (end == std::string_view::npos) return std::nullopt;  // a torn record
      value = rest.substr(1, end - 1);
      rest.remove_prefix(end + 1);
    } else {
      const auto end = std::min(rest.find(' '), rest.size());
      std::string_view raw = rest.substr(0, end);
      // Untrusted strings come hex-encoded when they hold a space, a quote or a control byte.
      const bool text_key = key == "path" || key == "comm" || key == "exe" || key == "name";
      value = text_key && IsHexString(raw) ? HexDecode(raw) : std::string(raw);
      rest.remove_prefix(end);
    }
    r.fields.insert_or_assign(std::move(key), std::move(value));
  }
  return r;
}

v1::Event DenialEvent(const AuditRecord& landlock, const AuditRecord* syscall) {
  v1::Event e;
  e.set_timestamp(landlock.time_ns);
  e.set_event_category("policy");
  e.set_event_type("denied");
  e.set_event_outcome("failure");
  e.set_event_dataset("vigil.guard");
  const std::string blockers(landlock.Get("blockers"));
  e.set_event_action(Action(blockers));
  if (auto path = landlock.Get("path"); !path.empty()) e.set_file_path(std::string(path));
  // A refused TCP connection: where it was going (extra: the policy table has no destination).
  if (auto ip = landlock.Get("daddr"); !ip.empty()) (*e.mutable_extra())["destination.ip"] = ip;
  if (auto port = landlock.Get("dest"); !port.empty())
    (*e.mutable_extra())["destination.port"] = port;
  e.set_rule_id("landlock:" + std::string(landlock.Get("domain")));
  e.set_rule_name("vigil-agent guard");
  e.set_error_message("denied by Landlock (" + blockers + ")");
  auto& extra = *e.mutable_extra();
  extra["landlock.blockers"] = blockers;
  extra["landlock.domain"] = std::string(landlock.Get("domain"));
  if (syscall) {
    if (auto pid = ToNumber<std::int64_t>(syscall->Get("pid"))) e.set_process_pid(*pid);
    if (auto ppid = ToNumber<std::int64_t>(syscall->Get("ppid"))) e.set_process_parent_pid(*ppid);
    if (auto exe = syscall->Get("exe"); !exe.empty()) e.set_process_executable(std::string(exe));
    if (auto comm = syscall->Get("comm"); !comm.empty()) e.set_process_name(std::string(comm));
    if (auto uid = syscall->Get("uid"); !uid.empty()) e.set_user_id(std::string(uid));
    extra["audit.syscall"] = std::string(syscall->Get("syscall"));
  }
  return e;
}

DenialListener::DenialListener(std::function<void(v1::Event&&)> emit) : emit_(std::move(emit)) {}

DenialListener::~DenialListener() { Stop(); }

Result<void> DenialListener::Start() {
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT));
  if (!s) return Fail(std::string("audit netlink socket: ") + std::strerror(errno));
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = AUDIT_NLGRP_READLOG;
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Fail(std::string("cannot read the kernel's audit records (needs CAP_AUDIT_READ): ") +
                std::strerror(errno));
  int size = 1 << 20;
  (void)::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Fail(std::string("eventfd: ") + std::strerror(errno));
  socket_ = std::move(s);
  wake_ = std::move(wake);
  running_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "vigil-guard");  // per-thread costs in /proc, perf
    Loop();
  });
  return {};
}

void DenialListener::Stop() {
  if (!running_.exchange(false)) return;
  std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

DenialListenerStats DenialListener::Stats() const {
  return {denials_.load(), unparsed_.load(), overflows_.load(), without_process_.load()};
}

void DenialListener::Loop() {
  std::vector<char> buffer(1 << 16);
  while (running_) {
    pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    // Asleep until a record comes, except while a denial waits for its SYSCALL record.
    const int timeout = waiting_.empty() ? -1 : static_cast<int>(kWaitNs / 1'000'000);
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) break;
    if (fds[1].revents) break;
    while (true) {
      ssize_t got = ::recv(socket_.get(), buffer.data(), buffer.size(), 0);
      if (got < 0) {
        if (errno == ENOBUFS) {
          ++overflows_;
          continue;
        }
        break;  // EAGAIN: all read
      }
      // One record per datagram. Its nlmsg_len cannot be trusted (audit's multicast records have
      // been sent with lengths that leave out the header), so the datagram's size bounds it.
      if (static_cast<std::size_t>(got) <= NLMSG_HDRLEN) continue;
      const auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data());
      const char* payload = buffer.data() + NLMSG_HDRLEN;
      std::size_t size = static_cast<std::size_t>(got) - NLMSG_HDRLEN;
      while (size && payload[size - 1] == '\0') --size;
      OnRecord(h->nlmsg_type, std::string_view(payload, size));
    }
    Flush(NowNs() - kWaitNs);
  }
  Flush(INT64_MAX);
}

void DenialListener::OnRecord(int type, std::string_view text) {
  if (type != kAuditLandlockAccess && type != kAuditSyscall) return;
  // A denied access fails its syscall: successful ones (auditd's rules log many) are not read.
  if (type == kAuditSyscall && text.find(" success=no ") == std::string_view::npos) return;
  auto record = ParseAuditRecord(type, text);
  if (!record) {
    if (type == kAuditLandlockAccess) ++unparsed_;
    return;
  }
  if (type == kAuditSyscall) {
    if (auto it = waiting_.find(record->serial); it != waiting_.end()) {
      emit_(DenialEvent(it->second.first, &*record));
      ++denials_;
      waiting_.erase(it);
      return;
    }
    recent_syscalls_.push_back(std::move(*record));
    if (recent_syscalls_.size() > kRecentSyscalls) recent_syscalls_.pop_front();
    return;
  }
  for (auto it = recent_syscalls_.rbegin(); it != recent_syscalls_.rend(); ++it)
    if (it->serial == record->serial) {
      emit_(DenialEvent(*record, &*it));
      ++denials_;
      return;
    }
  if (waiting_.size() >= kMaxWaiting) Flush(INT64_MAX);
  const auto serial = record->serial;
  waiting_.emplace(serial, std::make_pair(std::move(*record), NowNs()));
}

void DenialListener::Flush(std::int64_t older_than_ns) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second.second > older_than_ns) {
      ++it;
      continue;
    }
    emit_(DenialEvent(it->second.first, nullptr));
    ++denials_, ++without_process_;
    it = waiting_.erase(it);
  }
}

}  // namespace vigil::agent::guard
