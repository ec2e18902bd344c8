// See audit_control.hpp.
#include "agent/guard/audit_control.hpp"

#include <linux/audit.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/fd.hpp"

namespace vigil::agent::guard {
namespace {

// One request to the kernel's audit control (unicast netlink) and its answer or error.
Result<audit_status> AuditControl(std::uint16_t type, const audit_status* set) {
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT));
  if (!s) return Fail(std::string("audit netlink socket: ") + std::strerror(errno));
  timeval timeout{1, 0};
  (void)::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct {
    nlmsghdr header;
    audit_status status;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(set ? sizeof(audit_status) : 0);
  request.header.nlmsg_type = type;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  if (set) request.status = *set;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(s.get(), &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0)
    return Fail(std::string("audit request: ") + std::strerror(errno));
  audit_status status{};
  for (int replies = 0; replies < 4; ++replies) {
    alignas(nlmsghdr) char buffer[1024];
    ssize_t got = ::recv(s.get(), buffer, sizeof buffer, 0);
    if (got < 0) return Fail(std::string("audit reply: ") + std::strerror(errno));
    auto* h = reinterpret_cast<nlmsghdr*>(buffer);
    if (!NLMSG_OK(h, static_cast<std::size_t>(got))) return Fail("audit reply: truncated");
    if (h->nlmsg_type == NLMSG_ERROR) {
      const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (err->error) return Fail(std::string("audit request: ") + std::strerror(-err->error));
      if (type == AUDIT_SET) return status;  // the ack
      continue;
    }
    if (h->nlmsg_type == AUDIT_GET) {
      std::memcpy(&status, NLMSG_DATA(h),
                  std::min<std::size_t>(sizeof status, h->nlmsg_len - NLMSG_HDRLEN));
      return status;
    }
  }
  return Fail("audit reply: no status");
}

}  // namespace

Result<bool> EnsureAuditEnabled() {
  auto status = AuditControl(AUDIT_GET, nullptr);
  if (!status) return std::unexpected(status.error());
  if (status->enabled != 0) return false;
  audit_status set{};
  set.mask = AUDIT_STATUS_ENABLED;
  set.enabled = 1;
  if (auto r = AuditControl(AUDIT_SET, &set); !r) return std::unexpected(r.error());
  return true;
}

}  // namespace vigil::agent::guard
