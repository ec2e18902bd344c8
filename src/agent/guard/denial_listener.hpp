// Reports what guard policies refuse: the running agent reads the kernel's audit records read-only
// (the NETLINK_AUDIT multicast group that journald uses; auditd, when present, is not disturbed)
// and turns each Landlock denial (record 1423, with the SYSCALL record 1300 of the same audit
// event for the process) into a `policy` event, so a blocked shell or write is searchable and
// alertable like any other event. The kernel writes Landlock's records only while its audit is
// enabled (audit_control.hpp; `guard exec` turns it on). One thread that sleeps in poll(2) until a
// record arrives.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/schema.hpp"

namespace vigil::agent::guard {

// One audit record: `audit(SECONDS.MILLIS:SERIAL): key=value ...`, values unquoted, hex-encoded
// strings (the kernel's form for untrusted text with spaces or quotes) decoded.
struct AuditRecord {
  int type = 0;
  std::uint64_t serial = 0;
  std::int64_t time_ns = 0;
  std::map<std::string, std::string, std::less<>> fields;
  std::string_view Get(std::string_view key) const;
};
std::optional<AuditRecord> ParseAuditRecord(int type, std::string_view text);

// The policy event of a Landlock denial and, when it came, the SYSCALL record of its audit event.
v1::Event DenialEvent(const AuditRecord& landlock, const AuditRecord* syscall);

constexpr int kAuditSyscall = 1300;
constexpr int kAuditLandlockAccess = 1423;

struct DenialListenerStats {
  std::uint64_t denials = 0;          // policy events emitted
  std::uint64_t unparsed = 0;         // Landlock records that could not be read
  std::uint64_t overflows = 0;        // times the socket's buffer overflowed (records lost)
  std::uint64_t without_process = 0;  // denials whose SYSCALL record never came
};

class DenialListener {
 public:
  explicit DenialListener(std::function<void(v1::Event&&)> emit);
  ~DenialListener();
  DenialListener(const DenialListener&) = delete;
  DenialListener& operator=(const DenialListener&) = delete;

  // Binds the audit multicast group and starts the thread; an error says why it cannot.
  Result<void> Start();
  void Stop();
  DenialListenerStats Stats() const;

 private:
  void Loop();
  void OnRecord(int type, std::string_view text);
  void Flush(std::int64_t older_than_ns);

  std::function<void(v1::Event&&)> emit_;
  UniqueFd socket_, wake_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  // Landlock records waiting for their SYSCALL record, by serial (bounded), and the newest SYSCALL
  // records (they may come first), bounded.
  std::map<std::uint64_t, std::pair<AuditRecord, std::int64_t>> waiting_;
  std::deque<AuditRecord> recent_syscalls_;
  std::atomic<std::uint64_t> denials_{0}, unparsed_{0}, overflows_{0}, without_process_{0};
};

}  // namespace vigil::agent::guard
