// Landlock (kernel ≥ 5.13, file-system rules) applied to the calling process: once restricted, it
// and every process it starts are bound by the rules for good (they are inherited across fork and
// exec and cannot be lifted). Used by `vigil-agent guard exec` before it executes the command.
#pragma once

#include "agent/guard/policy.hpp"
#include "common/error.hpp"

namespace vigil::agent::guard {

// The kernel's Landlock ABI version; an error saying why when Landlock is unavailable.
Result<int> LandlockAbi();

struct RestrictStats {
  int abi = 0;
  std::size_t rules = 0;
  Plan exec, write;
};

// Restricts the calling process (sets no_new_privs first). On failure nothing is restricted.
Result<RestrictStats> Restrict(const Policy& policy);

}  // namespace vigil::agent::guard
