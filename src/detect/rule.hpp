// A detection rule as the engine runs it: parsed from its source (an EQL file with `// key: value`
// metadata comments, or a Sigma YAML rule), validated (it must run live, or the error says where
// and why) and compiled into matchers. See docs/detection.md.
#pragma once

#include <cstdint>
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

// One step of a live sequence or sample: its matcher, category and key expressions (shared +
// per-step `by`). Sequences list `runs=N` steps N times; a missing-event step (`![q]`) cancels
// the partial sequences of the stage before it.
struct SequenceStep {
  hunt::Matcher matcher;
  std::vector<const hunt::Expr*> keys;
  std::optional<schema::Category> category;  // nullopt: any
  bool missing = false;
  std::size_t stage = 0;  // positive steps: their stage; missing steps: the stage they cancel
};

// The inner query of a relationship (`child of [q]`...): evaluated on every event of its category
// to track the processes that matched it. Inner relationships come first.
struct RelatedQuery {
  hunt::Matcher matcher;
  std::optional<schema::Category> category;
};

// A pipe that runs live on each match, in order: filter (a match passes when one of its events
// satisfies the condition), head N (the rule's first N matches), unique (the first match per key;
// single-event rules).
struct LivePipe {
  hunt::PipeKind kind = hunt::PipeKind::Filter;
  std::int64_t count = 0;
  std::optional<hunt::Matcher> filter;
  std::vector<const hunt::Expr*> keys;
};

enum class LiveKind { Event, Sequence, Sample };

// A rule compiled for the live engine: one matcher, or the steps of a sequence or sample.
struct LiveRule {
  std::string id, name, severity;
  std::vector<std::string> tags;
  std::shared_ptr<const hunt::Query> query;  // owns the AST the steps' keys point into
  LiveKind kind = LiveKind::Event;
  std::uint64_t fingerprint = 0;             // of the query's source: saved state belongs to it
  std::optional<hunt::Matcher> matcher;      // single-event rules
  std::optional<schema::Category> category;  // single-event rules; nullopt: any
  std::vector<SequenceStep> steps;           // sequences (runs expanded) and samples
  std::optional<SequenceStep> until;
  std::size_t stages = 0;       // positive sequence steps
  std::int64_t maxspan_ns = 0;  // 0: unbounded
  // `sequence [q] with runs=N` (N > 1, one step, no until): a sliding count of the step's matches
  // per join key (Sigma event_count correlations), kept as one window of at most N events.
  std::size_t count = 0;
  std::vector<RelatedQuery> related;
  std::vector<LivePipe> pipes;
  bool IsSequence() const { return kind == LiveKind::Sequence; }
  // Every category the rule looks at (its steps, until, related queries); nullopt in it: any.
  std::vector<std::optional<schema::Category>> Categories() const;
};

// Fails with the reason when the rule cannot run live (pipes that are not detections: count,
// sort, tail, unique_count; `by` keys that are expressions).
Result<LiveRule> CompileLive(const RuleSpec& spec);

// The value of a `by` key on an event, as text (nullopt when null): fields and extra keys only.
std::optional<std::string> KeyValue(const hunt::Expr& key, const v1::Event& event);

// FNV-1a of a text (stable across builds: it identifies saved state).
std::uint64_t Fingerprint(std::string_view text);

}  // namespace vigil::detect
