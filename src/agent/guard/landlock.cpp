// See landlock.hpp. The rules are allow rules: the handled access rights (execute, and the write
// class) are granted on every planned path, so what the plan leaves out — the denied paths — is
// refused by the kernel.
#include "agent/guard/landlock.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/fd.hpp"

namespace vigil::agent::guard {
namespace {

// Newer than Debian 12's headers.
constexpr std::uint64_t kTruncate = 1ULL << 14;      // ABI 3
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4
constexpr int kRuleNetPort = 2;                      // LANDLOCK_RULE_NET_PORT, ABI 4
struct RulesetAttrV4 {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
};
struct NetPortAttr {
  std::uint64_t allowed_access;
  std::uint64_t port;
};
constexpr std::uint32_t kLogNewExecOn = 1U << 1;  // ABI 7: audit denials after exec
constexpr std::uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                      LANDLOCK_ACCESS_FS_READ_FILE | kTruncate;

std::uint64_t WriteClass(int abi) {
  std::uint64_t rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                         LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                         LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;  // renames and links into a denied tree
  if (abi >= 3) rights |= kTruncate;
  return rights;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Result<int> LandlockAbi() {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi >= 1) return static_cast<int>(abi);
  if (errno == ENOSYS)
    return Fail("this kernel has no Landlock (built without CONFIG_SECURITY_LANDLOCK)");
  if (errno == EOPNOTSUPP)
    return Fail("Landlock is disabled at boot (add landlock to the lsm= kernel parameter)");
  return Fail(Errno("landlock_create_ruleset"));
}

Result<RestrictStats> Restrict(const Policy& policy) {
  RestrictStats stats;
  auto abi = LandlockAbi();
  if (!abi) return std::unexpected(abi.error());
  stats.abi = *abi;
  const std::uint64_t write_class = WriteClass(*abi);
  std::uint64_t handled = 0;
  std::map<std::filesystem::path, std::uint64_t> rights;  // path -> granted rights
  // One access class: handled, and granted everywhere the plan says.
  auto plan_class = [&](const std::vector<std::filesystem::path>& deny, Plan& plan,
                        std::uint64_t access) -> Result<void> {
    if (deny.empty()) return {};
    auto planned = PlanGrants(deny);
    if (!planned) return std::unexpected(planned.error());
    plan = std::move(*planned);
    handled |= access;
    for (const auto& p : plan.granted) rights[p] |= access;
    return {};
  };
  if (auto r = plan_class(policy.deny_exec, stats.exec, LANDLOCK_ACCESS_FS_EXECUTE); !r)
    return std::unexpected(r.error());
  if (auto r = plan_class(policy.deny_write, stats.write, write_class); !r)
    return std::unexpected(r.error());
  if (policy.restrict_connect && *abi < 4)
    return Fail("restricting TCP connections needs Landlock ABI 4 (Linux 6.7); this kernel has " +
                std::to_string(*abi));
  if (!handled && !policy.restrict_connect)
    return Fail(
        "the policy denies nothing: give --preset, --deny-exec, --deny-write or --allow-connect");

  RulesetAttrV4 attr{handled, policy.restrict_connect ? kNetConnectTcp : 0};
  // The version-1 structure when nothing of ABI 4 is asked (older kernels reject the larger one).
  const std::size_t attr_size =
      policy.restrict_connect ? sizeof attr : sizeof(landlock_ruleset_attr);
  UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)));
  if (!ruleset) return Fail(Errno("landlock_create_ruleset"));
  for (const auto& [path, granted] : rights) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) continue;  // gone since it was listed: nothing to grant
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) continue;
    landlock_path_beneath_attr rule{};
    rule.allowed_access = S_ISDIR(st.st_mode) ? granted : (granted & kFileRights);
    if (!rule.allowed_access) continue;
    rule.parent_fd = fd.get();
    if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
      return Fail(Errno("landlock_add_rule " + path.string()));
    ++stats.rules;
  }
  for (std::uint16_t port : policy.connect_ports) {
    NetPortAttr rule{kNetConnectTcp, port};
    if (::syscall(SYS_landlock_add_rule, ruleset.get(), kRuleNetPort, &rule, 0) != 0)
      return Fail(Errno("landlock_add_rule tcp port " + std::to_string(port)));
    ++stats.rules;
  }
  // no_new_privs: a set-user-id program in the tree cannot gain privileges (Landlock requires it
  // without CAP_SYS_ADMIN; we set it always, so a guarded tree behaves the same for any user).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Fail(Errno("prctl(NO_NEW_PRIVS)"));
  const std::uint32_t flags = *abi >= 7 ? kLogNewExecOn : 0;
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), flags) != 0)
    return Fail(Errno("landlock_restrict_self"));
  return stats;
}

}  // namespace vigil::agent::guard
