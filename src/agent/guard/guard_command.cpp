// See guard_command.hpp.
#include "agent/guard/guard_command.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "agent/guard/audit_control.hpp"
#include "agent/guard/landlock.hpp"
#include "agent/guard/policy.hpp"

namespace vigil::agent::guard {
namespace {

constexpr const char* kFooter =
    "The policy binds the command and every process it starts, for good: the kernel (Landlock)\n"
    "refuses what it denies with EACCES, and nothing in the tree can lift it. Denials are written\n"
    "to the kernel's audit log (Landlock ABI 7). Example, a web server that may not start a shell\n"
    "or change the system (systemd: ExecStart=/usr/local/bin/vigil-agent guard exec --preset\n"
    "strict -- /usr/sbin/nginx -g 'daemon off;'):\n"
    "  vigil-agent guard exec --preset no-shell --preset system-readonly -- /usr/sbin/nginx";

}  // namespace

int RunGuardCommand(int argc, char** argv) {
  // Everything after "--" is the command, untouched by the option parser.
  int split = argc;
  for (int i = 2; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      split = i;
      break;
    }
  CLI::App app{"vigil-agent guard: run a command under a kernel-enforced process-protection policy",
               "vigil-agent guard"};
  app.footer(kFooter);
  app.require_subcommand(1);
  auto* exec = app.add_subcommand("exec", "Run COMMAND (after --) under the policy");
  std::vector<std::string> presets, deny_exec, deny_write;
  std::vector<std::uint16_t> allow_connect;
  bool verbose = false;
  exec->add_option("--preset", presets, "A preset policy (repeatable; `guard presets` lists them)");
  exec->add_option("--deny-exec", deny_exec,
                   "No execution of this file, or of anything beneath this directory (repeatable)");
  exec->add_option("--deny-write", deny_write,
                   "No writes, creations, renames or removals beneath this path (repeatable)");
  exec->add_option("--allow-connect", allow_connect,
                   "Outbound TCP only to this destination port (repeatable; implies --preset "
                   "no-outbound for every other port)")
      ->check(CLI::Range(1, 65535));
  exec->add_flag("-v,--verbose", verbose, "Say on stderr what the policy denies and grants");
  auto* list = app.add_subcommand("presets", "List the preset policies");
  auto* check = app.add_subcommand("check", "Say whether this kernel can enforce policies");

  std::vector<std::string> words(argv + 2, argv + split);
  std::reverse(words.begin(), words.end());  // CLI11 takes the arguments in reverse
  try {
    app.parse(words);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*list) {
    for (const auto& [name, description] : Presets())
      std::cout << name << "\n    " << description << "\n";
    return 0;
  }
  if (*check) {
    auto abi = LandlockAbi();
    if (!abi) return std::cerr << "vigil-agent guard: " << abi.error().message << "\n", 1;
    std::cout << "Landlock ABI " << *abi << ": policies are enforced"
              << (*abi >= 7 ? "; denials are audited" : "; denials are not audited (ABI < 7)")
              << "\n";
    return 0;
  }
  if (split + 1 >= argc) {
    std::cerr << "vigil-agent guard exec: no command: give it after --, e.g. "
                 "`vigil-agent guard exec --preset no-shell -- /usr/sbin/nginx`\n";
    return 2;
  }
  Policy policy;
  for (const auto& name : presets)
    if (auto r = AddPreset(policy, name); !r)
      return std::cerr << "vigil-agent guard exec: --preset: " << r.error().message << "\n", 2;
  for (const auto& p : deny_exec) policy.deny_exec.emplace_back(p);
  for (const auto& p : deny_write) policy.deny_write.emplace_back(p);
  if (!allow_connect.empty()) policy.restrict_connect = true;
  policy.connect_ports = allow_connect;
  // Landlock records denials only while the kernel's audit is on: turn it on (root only; a guarded
  // command of an unprivileged user still runs, its denials are just not recorded).
  auto audit = EnsureAuditEnabled();
  auto stats = Restrict(policy);
  if (!stats) {
    // Fail closed: the command does not run unguarded.
    std::cerr << "vigil-agent guard exec: " << stats.error().message
              << "; the command was not run\n";
    return 2;
  }
  if (verbose) {
    auto list_paths = [](const std::vector<std::filesystem::path>& paths) {
      std::string out;
      for (const auto& p : paths) out += (out.empty() ? "" : " ") + p.string();
      return out.empty() ? std::string("(none)") : out;
    };
    std::cerr << "vigil-agent guard: Landlock ABI " << stats->abi << ", " << stats->rules
              << " rules\n  no execution of: " << list_paths(stats->exec.denied)
              << "\n  no writes beneath: " << list_paths(stats->write.denied) << "\n";
    if (policy.restrict_connect) {
      std::string ports;
      for (auto port : policy.connect_ports) ports += " " + std::to_string(port);
      std::cerr << "  outbound TCP only to ports:" << (ports.empty() ? " (none)" : ports) << "\n";
    }
    if (!audit)
      std::cerr << "  cannot check or turn on the kernel's audit (" << audit.error().message
                << "): denials are recorded only if it is on\n";
    else if (*audit)
      std::cerr << "  turned the kernel's audit on so that denials are recorded\n";
    if (!stats->exec.missing.empty() || !stats->write.missing.empty())
      std::cerr << "  not on this system (skipped): "
                << list_paths(stats->exec.missing) + " " + list_paths(stats->write.missing) << "\n";
  }
  ::execvp(argv[split + 1], argv + split + 1);
  const int err = errno;
  std::cerr << "vigil-agent guard exec: " << argv[split + 1] << ": " << std::strerror(err)
            << (err == EACCES ? " (denied by the policy, or not executable)" : "") << "\n";
  return err == ENOENT ? 127 : 126;
}

}  // namespace vigil::agent::guard
