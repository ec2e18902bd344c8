// A rule set's sources packed for a command payload (JSON): zstd-compressed JSON, base64. A large
// set (signature-base: 7 MB of text) travels in about a quarter of that.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/scan/rule_set.hpp"
#include "common/error.hpp"

namespace vigil::agent::scan {

// {"encoding": "zstd+base64", "size": N, "data": "..."}.
nlohmann::json PackSources(const std::vector<RuleSource>& sources);
Result<std::vector<RuleSource>> UnpackSources(const nlohmann::json& packed);

}  // namespace vigil::agent::scan
