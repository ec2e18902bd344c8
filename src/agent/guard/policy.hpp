// Guard policies: what a process tree started under `vigil-agent guard exec` may not do, as paths
// (files or directory hierarchies) it may not execute and may not write beneath, from presets and
// explicit paths. The plan turns "everything except these" into the allow rules Landlock takes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent::guard {

struct Policy {
  std::vector<std::filesystem::path> deny_exec;  // no execution of these files / beneath these dirs
  std::vector<std::filesystem::path> deny_write;  // no create/write/truncate/remove/rename beneath
  // Outbound TCP: when restricted, connect(2) succeeds only to these destination ports (none: no
  // outbound TCP at all, the reverse shell's way out).
  bool restrict_connect = false;
  std::vector<std::uint16_t> connect_ports;
};

// The presets by name with a line of description each.
const std::map<std::string, std::string, std::less<>>& Presets();
// Adds a preset's paths to the policy; an unknown name is an error listing the known ones.
Result<void> AddPreset(Policy& policy, std::string_view name);

// One access class planned as allow rules: every path under `root` except the denied ones (and
// what lies beneath them) is granted, by granting the siblings of every path leading to a denied
// one. Paths that do not exist are skipped (reported in `missing`); symlinks are resolved first.
struct Plan {
  std::vector<std::filesystem::path> denied;   // resolved, without paths beneath another
  std::vector<std::filesystem::path> granted;  // rule paths (no symlinks)
  std::vector<std::filesystem::path> missing;  // denied paths that do not exist
};
Result<Plan> PlanGrants(const std::vector<std::filesystem::path>& deny,
                        const std::filesystem::path& root = "/");

}  // namespace vigil::agent::guard
