// A detection rule as the engine runs it: parsed from its source (an EQL file with `// key: value`
// metadata comments, or a Sigma YAML rule), validated (it must run live, or the error says where
// and why) and compiled into matchers. See docs/detection.md.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "hunt/ast.hpp"
#include "hunt/matcher.hpp"

namespace vigil::detect {

enum class RuleKind { Eql, Sigma };
std::string_view KindName(RuleKind kind);
std::optional<RuleKind> ParseKind(std::string_view name);
// .yml and .yaml are Sigma; anything else is EQL.
RuleKind KindFromFileName(std::string_view file_name);

struct RuleSpec {
  std::string id, name, severity = "medium", description;
  std::vector<std::string> tags;
  RuleKind kind = RuleKind::Eql;
  std::string source;
  std::shared_ptr<const hunt::Query> query;
};

// Parses a rule's source. EQL metadata comes from leading comment lines `// id: ...`, `// name:`,
// `// severity:`, `// tags: a, b`, `// description:`; the id defaults to default_id (the file's
// stem). Sigma's come from the YAML (id, title, level, tags). Errors read "LINE:COL: why" (EQL)
// or the Sigma compiler's reason; the caller prefixes the file name.
Result<RuleSpec> ParseRule(std::string_view source, RuleKind kind, std::string_view default_id);

// One step of a live sequence: its matcher and the key expressions (shared + per-step `by`).
struct SequenceStep {
  hunt::Matcher matcher;
  std::vector<const hunt::Expr*> keys;
};

// A rule compiled for the live engine: one matcher, or the steps of a sequence.
struct LiveRule {
  std::string id, name, severity;
  std::vector<std::string> tags;
  std::shared_ptr<const hunt::Query> query;  // owns the AST the steps' keys point into
  std::optional<hunt::Matcher> matcher;      // single-event rules
  std::vector<std::optional<schema::Category>> categories;  // per matcher/step; nullopt: any
  std::vector<SequenceStep> steps;                          // sequences
  std::optional<SequenceStep> until;
  std::int64_t maxspan_ns = 0;  // 0: unbounded
  bool IsSequence() const { return !steps.empty(); }
};

// Fails with the reason when the rule cannot run live (samples, pipes, relationships).
Result<LiveRule> CompileLive(const RuleSpec& spec);

// The value of a `by` key on an event, as text ("" when null): fields and extra keys only.
std::optional<std::string> KeyValue(const hunt::Expr& key, const v1::Event& event);

}  // namespace vigil::detect
