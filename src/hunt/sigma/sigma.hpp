// Sigma rules (YAML) compiled into the hunt AST, so one rule runs live through hunt::Matcher and
// as a retro-hunt through the SQL compiler. Detection grammar, modifiers, logsource routing and
// the Sysmon field mapping are described in docs/detection.md. A rule that cannot be supported
// fails with the reason; nothing is skipped silently.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "hunt/ast.hpp"

namespace vigil::hunt::sigma {

struct Options {
  // Values for `|expand` placeholders ("%admins%" → {"alice", "bob"}); unknown ones are errors.
  std::map<std::string, std::vector<std::string>, std::less<>> placeholders;
};

struct Rule {
  std::string id, title, level, status, description;
  std::vector<std::string> tags;
  std::string logsource;  // "product/category/service" as written
  Query query;            // `<category> where ...` or `any where ...`
};

// Compiles one Sigma rule document.
Result<Rule> Compile(std::string_view yaml, const Options& options = {});

}  // namespace vigil::hunt::sigma
