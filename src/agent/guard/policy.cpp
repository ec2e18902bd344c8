// See policy.hpp.
#include "agent/guard/policy.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>
#include <system_error>

namespace vigil::agent::guard {
namespace fs = std::filesystem;
namespace {

// Shells, interpreters and the tools that give a remote shell: what an exploited service or a
// document opened by a user should never start.
constexpr const char* kShellNames[] = {
    "sh",           "bash",      "dash",   "rbash",  "zsh",        "ksh",        "ksh93",
    "mksh",         "csh",       "tcsh",   "fish",   "ash",        "busybox",    "python",
    "python[0-9]*", "perl",      "perl5*", "ruby",   "ruby[0-9]*", "php",        "php[0-9]*",
    "lua",          "lua[0-9]*", "node",   "nodejs", "nc",         "nc.openbsd", "nc.traditional",
    "ncat",         "netcat",    "socat",  "telnet",
};
constexpr const char* kBinDirs[] = {"/usr/bin",        "/usr/sbin", "/usr/local/bin",
                                    "/usr/local/sbin", "/bin",      "/sbin"};
constexpr const char* kWritableDirs[] = {"/tmp",  "/var/tmp", "/dev/shm",   "/run/user",
                                         "/home", "/root",    "/var/spool", "/var/mail"};
constexpr const char* kSystemDirs[] = {"/etc",  "/usr",   "/bin",   "/sbin",
                                       "/lib",  "/lib32", "/lib64", "/libx32",
                                       "/boot", "/root",  "/opt",   "/var/spool/cron"};

void AddShells(Policy& policy) {
  for (const char* dir : kBinDirs) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename();
      if (std::ranges::any_of(kShellNames, [&](const char* pattern) {
            return ::fnmatch(pattern, name.c_str(), 0) == 0;
          }))
        policy.deny_exec.push_back(it->path());
    }
  }
}

bool Beneath(const fs::path& p, const fs::path& dir) {
  auto [d, q] = std::ranges::mismatch(dir, p);
  return d == dir.end();
}

}  // namespace

const std::map<std::string, std::string, std::less<>>& Presets() {
  static const std::map<std::string, std::string, std::less<>> presets{
      {"no-shell",
       "no shells, script interpreters (python, perl, ruby, php, lua, node) or netcat/socat/telnet "
       "from the system's bin directories"},
      {"no-exec-from-writable",
       "no execution beneath /tmp, /var/tmp, /dev/shm, /run/user, /home, /root, /var/spool, "
       "/var/mail (where a dropped payload lands)"},
      {"system-readonly",
       "no writes, creations, renames or removals beneath /etc, /usr, /bin, /sbin, /lib*, /boot, "
       "/root, /opt, /var/spool/cron"},
      {"no-outbound",
       "no outbound TCP connections (except to the ports of --allow-connect); UDP, DNS "
       "included, is not governed"},
      {"strict", "no-shell, no-exec-from-writable and system-readonly (not no-outbound)"},
  };
  return presets;
}

Result<void> AddPreset(Policy& policy, std::string_view name) {
  if (name == "no-shell") {
    AddShells(policy);
  } else if (name == "no-exec-from-writable") {
    policy.deny_exec.insert(policy.deny_exec.end(), std::begin(kWritableDirs),
                            std::end(kWritableDirs));
  } else if (name == "system-readonly") {
    policy.deny_write.insert(policy.deny_write.end(), std::begin(kSystemDirs),
                             std::end(kSystemDirs));
  } else if (name == "no-outbound") {
    policy.restrict_connect = true;
  } else if (name == "strict") {
    for (const char* part : {"no-shell", "no-exec-from-writable", "system-readonly"})
      if (auto r = AddPreset(policy, part); !r) return r;
  } else {
    std::string known;
    for (const auto& [preset, _] : Presets()) known += (known.empty() ? "" : ", ") + preset;
    return Fail("unknown preset '" + std::string(name) + "' (known: " + known + ")");
  }
  return {};
}

Result<Plan> PlanGrants(const std::vector<fs::path>& deny, const fs::path& root) {
  Plan plan;
  std::error_code ec;
  const fs::path top = fs::canonical(root, ec);
  if (ec) return Fail(root.string() + ": " + ec.message());
  std::set<fs::path> denied;
  for (const auto& p : deny) {
    if (!p.is_absolute()) return Fail("'" + p.string() + "' is not an absolute path");
    fs::path real = fs::canonical(p, ec);
    if (ec) {
      plan.missing.push_back(p);
      continue;
    }
    if (Beneath(real, top)) denied.insert(real);
  }
  // Keep only the outermost denied paths: what lies beneath one is denied with it.
  for (const auto& p : denied)
    if (std::ranges::none_of(plan.denied, [&](const fs::path& d) { return Beneath(p, d); }))
      plan.denied.push_back(p);
  // Every directory on the way from the root to a denied path (the denied paths not included).
  std::set<fs::path> ancestors;
  for (const auto& d : plan.denied)
    for (fs::path a = d.parent_path(); Beneath(a, top); a = a.parent_path()) {
      ancestors.insert(a);
      if (a == top || a == a.parent_path()) break;
    }
  const std::set<fs::path> outermost(plan.denied.begin(), plan.denied.end());
  if (plan.denied.empty() || outermost.contains(top)) {
    if (plan.denied.empty()) plan.granted.push_back(top);
    return plan;
  }
  for (const auto& a : ancestors) {
    for (fs::directory_iterator it(a, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (ancestors.contains(p) || outermost.contains(p)) continue;
      // A symlink's target is granted (or not) where it really lives.
      if (it->is_symlink(ec)) continue;
      plan.granted.push_back(p);
    }
    if (ec) return Fail("cannot list " + a.string() + ": " + ec.message());
  }
  return plan;
}

}  // namespace vigil::agent::guard
