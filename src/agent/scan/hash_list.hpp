// The indicator list of a hash sweep (`vigil ioc sweep sha256 VALUE...`): SHA-256 values checked
// and normalised the same way by the CLI, the server and the agent, and the list's digest that
// names it in progress events (vigil.scan.rules_version), as a rule set's digest does for YARA.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace vigil::agent::scan {

// Lower-cased, de-duplicated values; the first value that is not 64 hex digits is refused with
// its position, the value and why.
Result<std::set<std::string>> ParseSha256List(const std::vector<std::string>& values);
// SHA-256 of the sorted values joined by newlines.
std::string Sha256ListDigest(const std::set<std::string>& values);

}  // namespace vigil::agent::scan
