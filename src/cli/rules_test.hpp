// `vigil rules test RULE_FILE --events EVENTS_FILE`: evaluates one rule (Sigma YAML or EQL) against
// events from a file, offline, with the same matcher the detection engine runs live.
#pragma once

#include <string>

namespace vigil::cli {

int RulesTest(const std::string& rule_file, const std::string& events_file, bool as_json);

}  // namespace vigil::cli
