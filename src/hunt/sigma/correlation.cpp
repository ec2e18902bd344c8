// Sigma correlation rules (Sigma specification v2) compiled into EQL sequences, so they run live
// in the detection engine and as retro-hunts like any rule:
//   event_count, condition gte N (gt N)  → sequence by <group-by> with maxspan=<timespan> [q] with
//   runs=N temporal_ordered (and temporal of one rule) → sequence by <group-by> with
//   maxspan=<timespan> [r1] [r2] ...
// where q / rN are the referenced detection rules of the same file. What cannot be detected as
// events arrive (thresholds below or equal to a count, distinct-value counts, any-order temporal
// correlations of several rules) is refused with the reason.
#include <algorithm>
#include <map>

#include "common/time.hpp"
#include "hunt/sigma/detection.hpp"

namespace vigil::hunt::sigma {
namespace {

// Above this an alert carries more events than anyone reads, and a retro-hunt's sequence state
// (N stages per group, O(N²) event references) grows with it.
constexpr std::int64_t kMaxThreshold = 1'000;

std::string Scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

std::vector<std::string> ScalarList(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsScalar()) out.push_back(n.Scalar());
  if (n && n.IsSequence())
    for (const auto& item : n) out.push_back(Scalar(item));
  return out;
}

ExprPtr FieldExpr(const FieldRef& ref) {
  auto e = std::make_unique<Expr>();
  e->type = ref.field && ref.field->IsInteger() ? ValueType::Number : ValueType::String;
  e->node = ref;
  return e;
}

struct Correlation {
  std::string type;
  std::vector<std::string> rules, group_by;
  std::int64_t timespan_ns = 0;
  // aliases[alias][rule name or id] = that rule's field
  std::map<std::string, std::map<std::string, std::string>> aliases;
};

Result<Correlation> ParseCorrelation(const YAML::Node& doc) {
  const YAML::Node c = doc["correlation"];
  if (!c.IsMap()) return Fail("correlation: must be a map (type, rules, group-by, timespan, ...)");
  Correlation out;
  out.type = Scalar(c["type"]);
  out.rules = ScalarList(c["rules"]);
  out.group_by = ScalarList(c["group-by"]);
  if (out.type.empty())
    return Fail("correlation: no type (event_count, value_count, temporal, temporal_ordered)");
  if (out.rules.empty()) return Fail("correlation: no rules to correlate");
  std::string span = Scalar(c["timespan"]);
  if (span.empty()) span = Scalar(c["timeframe"]);  // the name in drafts before the v2 spec
  if (span.empty()) return Fail("correlation: no timespan (e.g. 5m)");
  auto ns = ParseDurationNs(span);
  if (!ns || *ns <= 0)
    return Fail("correlation: bad timespan '" + span + "': expected a duration like 30s, 5m, 1h");
  out.timespan_ns = *ns;
  if (const YAML::Node a = c["aliases"]; a) {
    if (!a.IsMap()) return Fail("correlation: aliases must map alias → {rule: field}");
    for (const auto& alias : a) {
      if (!alias.second.IsMap())
        return Fail("correlation: alias " + Scalar(alias.first) + " must map rule → field");
      for (const auto& per_rule : alias.second)
        out.aliases[Scalar(alias.first)][Scalar(per_rule.first)] = Scalar(per_rule.second);
    }
  }
  return out;
}

// The referenced rule's field for a group-by name: through an alias when one names it.
std::string FieldFor(const Correlation& c, const std::string& group_field, const Detection& rule) {
  auto alias = c.aliases.find(group_field);
  if (alias == c.aliases.end()) return group_field;
  for (const auto& key : {rule.name, rule.rule.id})
    if (auto it = alias->second.find(key); !key.empty() && it != alias->second.end())
      return it->second;
  return group_field;
}

Result<std::int64_t> Threshold(const YAML::Node& condition) {
  if (!condition || !condition.IsMap())
    return Fail("correlation: event_count needs a condition such as {gte: 10}");
  std::optional<std::int64_t> runs;
  for (const auto& item : condition) {
    const std::string op = Scalar(item.first);
    std::int64_t n = 0;
    try {
      n = item.second.as<std::int64_t>();
    } catch (const YAML::Exception&) {
      return Fail("correlation: condition " + op + " needs a whole number");
    }
    if (op == "gte" || op == "gt") {
      runs = op == "gte" ? n : n + 1;
    } else if (op == "lt" || op == "lte" || op == "eq" || op == "neq") {
      return Fail("correlation: condition '" + op +
                  "' is not supported: an upper bound or an exact count is only known when the "
                  "timespan has passed; only gte and gt thresholds are detected as events arrive");
    } else {
      return Fail("correlation: unknown condition '" + op + "' (gte, gt, lt, lte, eq, neq)");
    }
  }
  if (!runs) return Fail("correlation: the condition has no gte or gt threshold");
  if (*runs < 1 || *runs > kMaxThreshold)
    return Fail("correlation: the threshold must be between 1 and " +
                std::to_string(kMaxThreshold) + " events");
  return *runs;
}

}  // namespace

Result<Rule> CompileCollection(const std::vector<YAML::Node>& docs, const Options& options) {
  std::vector<Detection> detections;
  std::vector<std::size_t> detection_doc;  // per detection: its document
  const YAML::Node* correlation_doc = nullptr;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const auto where = "document " + std::to_string(i + 1) + ": ";
    if (!docs[i].IsMap()) return Fail(where + "a Sigma rule must be a YAML map");
    if (docs[i]["action"])
      return Fail(where + "action documents (global/reset/repeat) are not supported");
    if (docs[i]["correlation"]) {
      if (correlation_doc) return Fail(where + "a file may hold one correlation rule");
      correlation_doc = &docs[i];
      continue;
    }
    auto d = CompileDetection(docs[i], options);
    if (!d) return Fail(where + d.error().message);
    detections.push_back(std::move(*d));
    detection_doc.push_back(i);
  }
  if (!correlation_doc)
    return Fail("several rules in one file without a correlation rule: put one rule per file");
  const YAML::Node& doc = *correlation_doc;
  auto c = ParseCorrelation(doc);
  if (!c) return std::unexpected(c.error());
  if (doc["generate"] && doc["generate"].IsScalar() && doc["generate"].as<std::string>() == "true")
    return Fail(
        "correlation: generate: true is not supported; to be alerted on the rules it uses "
        "as well, load them from files of their own");

  Rule rule = RuleMetadata(doc);
  rule.logsource = "correlation/" + c->type;

  std::vector<std::size_t> used;  // indexes into detections
  for (const auto& name : c->rules) {
    auto it = std::ranges::find_if(detections, [&](const Detection& d) {
      return (!d.name.empty() && d.name == name) || (!d.rule.id.empty() && d.rule.id == name);
    });
    if (it == detections.end())
      return Fail("correlation: rule '" + name +
                  "' is not in this file (a correlation file carries the rules it uses, "
                  "referred to by name or id)");
    used.push_back(static_cast<std::size_t>(it - detections.begin()));
  }

  // One step per referenced rule; its `by` keys are the group-by fields as that rule stores them.
  auto step_of = [&](std::size_t index) -> Result<Step> {
    // Compiled again for each use: a step owns its condition, and a rule may be used twice.
    auto fresh = CompileDetection(docs[detection_doc[index]], options);
    if (!fresh) return std::unexpected(fresh.error());
    const Detection& d = *fresh;
    Step step;
    step.filter = std::move(std::get<EventFilter>(fresh->rule.query.body));
    for (const auto& field : c->group_by) {
      auto ref = ResolveField(d.logsource, FieldFor(*c, field, d));
      if (!ref)
        return Fail("correlation: group-by " + field + " in rule '" +
                    (d.name.empty() ? d.rule.id : d.name) + "': " + ref.error().message);
      step.keys.push_back(FieldExpr(*ref));
    }
    return step;
  };

  Sequence sequence;
  sequence.maxspan_ns = c->timespan_ns;
  if (c->type == "event_count") {
    if (used.size() > 1)
      return Fail("correlation: event_count over several rules is not supported; count one rule");
    auto runs = Threshold(doc["correlation"]["condition"]);
    if (!runs) return std::unexpected(runs.error());
    auto step = step_of(used[0]);
    if (!step) return std::unexpected(step.error());
    step->runs = static_cast<int>(*runs);
    sequence.steps.push_back(std::move(*step));
  } else if (c->type == "temporal_ordered" || (c->type == "temporal" && used.size() == 1)) {
    for (std::size_t d : used) {
      auto step = step_of(d);
      if (!step) return std::unexpected(step.error());
      sequence.steps.push_back(std::move(*step));
    }
  } else if (c->type == "temporal") {
    return Fail(
        "correlation: temporal (any order) over several rules is not supported; "
        "temporal_ordered is, if the order is known");
  } else if (c->type == "value_count") {
    return Fail("correlation: value_count (distinct values) is not supported");
  } else {
    return Fail("correlation: unknown type '" + c->type +
                "' (event_count, value_count, temporal, temporal_ordered)");
  }
  rule.query.body = std::move(sequence);
  return rule;
}

}  // namespace vigil::hunt::sigma
