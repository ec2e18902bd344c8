// The kernel's audit switch, read and turned on through its control netlink (CAP_AUDIT_CONTROL).
// Landlock writes its denial records only while audit is enabled. Enabling it has a cost on
// every syscall of every process started afterwards (the kernel's audit path, with no rules
// tens of nanoseconds), so only `vigil-agent guard exec` does it, on hosts that use guard.
#pragma once

#include "common/error.hpp"

namespace vigil::agent::guard {

// Turns the kernel's audit on when it is off; true when it was off.
Result<bool> EnsureAuditEnabled();

}  // namespace vigil::agent::guard
