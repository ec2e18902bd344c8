// Rule sources to RuleSpec (metadata + AST) and RuleSpec to LiveRule (matchers).
#include "detect/rule.hpp"

#include <algorithm>
#include <cctype>

#include "hunt/hunt.hpp"
#include "hunt/sigma/sigma.hpp"

namespace vigil::detect {
namespace {

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string Lower(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ValidSeverity(std::string_view s) {
  return s == "informational" || s == "low" || s == "medium" || s == "high" || s == "critical";
}

bool ValidId(std::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         id.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             std::string_view::npos;
}

}  // namespace

std::string_view KindName(RuleKind kind) { return kind == RuleKind::Sigma ? "sigma" : "eql"; }

std::optional<RuleKind> ParseKind(std::string_view name) {
  if (name == "eql") return RuleKind::Eql;
  if (name == "sigma") return RuleKind::Sigma;
  return std::nullopt;
}

RuleKind KindFromFileName(std::string_view file_name) {
  auto dot = file_name.rfind('.');
  auto ext =
      dot == std::string_view::npos ? std::string() : Lower(std::string(file_name.substr(dot)));
  return ext == ".yml" || ext == ".yaml" ? RuleKind::Sigma : RuleKind::Eql;
}

Result<RuleSpec> ParseRule(std::string_view source, RuleKind kind, std::string_view default_id) {
  RuleSpec spec;
  spec.kind = kind;
  spec.source = std::string(source);
  if (kind == RuleKind::Sigma) {
    auto rule = hunt::sigma::Compile(source);
    if (!rule) return std::unexpected(rule.error());
    spec.id = rule->id.empty() ? std::string(default_id) : rule->id;
    spec.name = rule->title.empty() ? spec.id : rule->title;
    spec.severity = rule->level.empty() ? "medium" : Lower(rule->level);
    if (!ValidSeverity(spec.severity))
      return Fail("level '" + rule->level +
                  "' is not one of informational, low, medium, high, critical");
    spec.description = rule->description;
    spec.tags = rule->tags;
    spec.query = std::make_shared<const hunt::Query>(std::move(rule->query));
  } else {
    // Metadata: `// key: value` comment lines before the query.
    std::size_t line_no = 0, pos = 0;
    while (pos < source.size()) {
      auto end = source.find('\n', pos);
      if (end == std::string_view::npos) end = source.size();
      std::string line = Trim(source.substr(pos, end - pos));
      ++line_no;
      pos = end + 1;
      if (line.empty()) continue;
      if (!line.starts_with("//")) break;
      std::string body = Trim(std::string_view(line).substr(2));
      auto colon = body.find(':');
      if (colon == std::string::npos) continue;
      std::string key = Lower(Trim(std::string_view(body).substr(0, colon)));
      std::string value = Trim(std::string_view(body).substr(colon + 1));
      auto where = std::to_string(line_no) + ":1: ";
      if (key == "id") {
        spec.id = value;
      } else if (key == "name" || key == "title") {
        spec.name = value;
      } else if (key == "severity" || key == "level") {
        spec.severity = Lower(value);
        if (!ValidSeverity(spec.severity))
          return Fail(where + "severity '" + value +
                      "' is not one of informational, low, medium, high, critical");
      } else if (key == "tags") {
        std::size_t start = 0;
        while (start <= value.size()) {
          auto comma = value.find(',', start);
          if (comma == std::string::npos) comma = value.size();
          auto tag = Trim(std::string_view(value).substr(start, comma - start));
          if (!tag.empty()) spec.tags.push_back(tag);
          start = comma + 1;
        }
      } else if (key == "description") {
        spec.description = value;
      }
    }
    if (spec.id.empty()) spec.id = std::string(default_id);
    if (spec.name.empty()) spec.name = spec.id;
    auto query = hunt::Parse(source);
    if (!query) return std::unexpected(query.error());
    spec.query = std::make_shared<const hunt::Query>(std::move(*query));
  }
  if (!ValidId(spec.id))
    return Fail("rule id '" + spec.id + "' must be 1-128 letters, digits, '.', '_' or '-'");
  return spec;
}

namespace {

std::string StepName(std::size_t index) { return "sequence step " + std::to_string(index + 1); }

Result<std::vector<const hunt::Expr*>> FieldKeys(const std::vector<hunt::ExprPtr>& keys,
                                                 std::string_view what) {
  std::vector<const hunt::Expr*> out;
  for (const auto& k : keys) {
    if (!std::holds_alternative<hunt::FieldRef>(k->node))
      return Fail(std::to_string(k->line) + ":" + std::to_string(k->column) + ": live " +
                  std::string(what) + " take fields as keys, not expressions");
    out.push_back(k.get());
  }
  return out;
}

// Compiles the rule's matchers; relationships get a slot each (their inner queries compiled into
// rule.related, innermost first).
class LiveCompiler {
 public:
  explicit LiveCompiler(LiveRule& rule) : rule_(rule) {
    slots_ = [this](const hunt::Relationship& r) -> Result<std::uint32_t> {
      auto inner = hunt::Matcher::Compile(*r.filter, slots_);
      if (!inner) return std::unexpected(inner.error());
      rule_.related.push_back(RelatedQuery{std::move(*inner), r.filter->category});
      return static_cast<std::uint32_t>(rule_.related.size() - 1);
    };
  }

  Result<hunt::Matcher> Filter(const hunt::EventFilter& filter) {
    return hunt::Matcher::Compile(filter, slots_);
  }

  Result<SequenceStep> Step(const hunt::Step& step, std::size_t index, std::string_view what) {
    auto matcher = Filter(step.filter);
    if (!matcher) return Fail(StepName(index) + ": " + matcher.error().message);
    // The parser resolves the shared `by` keys into every step's keys (before its own).
    auto keys = FieldKeys(step.keys, what);
    if (!keys) return std::unexpected(keys.error());
    return SequenceStep{std::move(*matcher), std::move(*keys), step.filter.category, step.missing,
                        0};
  }

  Result<void> Pipes(const hunt::Query& q) {
    for (const auto& p : q.pipes) {
      const std::string name(hunt::PipeName(p.kind));
      const std::string where = std::to_string(p.line) + ":" + std::to_string(p.column) + ": ";
      LivePipe pipe{p.kind, p.count, std::nullopt, {}};
      switch (p.kind) {
        case hunt::PipeKind::Filter: {
          if (!p.arg_event.empty() && p.arg_event[0] >= 0)
            return Fail(where + "| filter on events[" + std::to_string(p.arg_event[0]) +
                        "] is not supported live (a live filter tests every event of the "
                        "match); run it with `vigil hunt`, or drop events[N]");
          auto m = hunt::Matcher::Compile(*p.args[0], std::nullopt, slots_);
          if (!m) return Fail(where + "| filter: " + m.error().message);
          pipe.filter = std::move(*m);
          break;
        }
        case hunt::PipeKind::Head:
          break;
        case hunt::PipeKind::Unique: {
          if (rule_.kind != LiveKind::Event)
            return Fail(where + "| unique applies to single-event queries, not to a " +
                        (rule_.kind == LiveKind::Sequence ? "sequence" : "sample"));
          auto keys = FieldKeys(p.args, "| unique pipes");
          if (!keys) return std::unexpected(keys.error());
          pipe.keys = std::move(*keys);
          break;
        }
        default:
          return Fail(where + "| " + name +
                      " summarizes or reorders all the results, so it is not a detection: a "
                      "live rule cannot wait for the end of the events. Run it with `vigil "
                      "hunt`, or use | filter, | head or | unique in a rule");
      }
      rule_.pipes.push_back(std::move(pipe));
    }
    return {};
  }

 private:
  LiveRule& rule_;
  hunt::RelationSlots slots_;
};

}  // namespace

std::vector<std::optional<schema::Category>> LiveRule::Categories() const {
  std::vector<std::optional<schema::Category>> out;
  if (kind == LiveKind::Event) out.push_back(category);
  for (const auto& s : steps) out.push_back(s.category);
  if (until) out.push_back(until->category);
  for (const auto& r : related) out.push_back(r.category);
  return out;
}

std::uint64_t Fingerprint(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

Result<LiveRule> CompileLive(const RuleSpec& spec) {
  LiveRule rule;
  rule.id = spec.id;
  rule.name = spec.name;
  rule.severity = spec.severity;
  rule.tags = spec.tags;
  rule.query = spec.query;
  rule.fingerprint = Fingerprint(spec.source);
  LiveCompiler compiler(rule);
  const hunt::Query& q = *spec.query;
  if (const auto* filter = std::get_if<hunt::EventFilter>(&q.body)) {
    auto matcher = compiler.Filter(*filter);
    if (!matcher) return std::unexpected(matcher.error());
    rule.matcher = std::move(*matcher);
    rule.category = filter->category;
  } else if (const auto* seq = std::get_if<hunt::Sequence>(&q.body)) {
    rule.kind = LiveKind::Sequence;
    for (std::size_t i = 0; i < seq->steps.size(); ++i) {
      const bool first = i == 0, last = i + 1 == seq->steps.size();
      if (seq->steps[i].missing && (first || last))
        return Fail(StepName(i) + ": a missing-event step " + (first ? "first" : "last") +
                    " in a sequence is not supported live (a live rule would have to hold its "
                    "matches for the maxspan); run it with `vigil hunt`, or put the step between "
                    "two steps");
    }
    std::size_t nkeys = 0;
    if (seq->steps.size() == 1 && seq->steps[0].runs > 1 && !seq->until) {
      auto step = compiler.Step(seq->steps[0], 0, "sequences");
      if (!step) return std::unexpected(step.error());
      step->stage = 0;
      rule.steps.push_back(std::move(*step));
      rule.stages = 1;
      rule.count = static_cast<std::size_t>(seq->steps[0].runs);
    }
    for (std::size_t i = rule.count ? seq->steps.size() : 0; i < seq->steps.size(); ++i) {
      auto step = compiler.Step(seq->steps[i], i, "sequences");
      if (!step) return std::unexpected(step.error());
      if (i == 0) nkeys = step->keys.size();
      if (step->keys.size() != nkeys)
        return Fail(StepName(i) + " has " + std::to_string(step->keys.size()) +
                    " `by` keys, the first step " + std::to_string(nkeys));
      // `runs=N`: N plain steps. A missing step cancels the stage of the step before it.
      for (int r = 0; r < seq->steps[i].runs; ++r) {
        SequenceStep copy{r + 1 == seq->steps[i].runs ? std::move(step->matcher)
                                                      : *compiler.Filter(seq->steps[i].filter),
                          step->keys, step->category, step->missing, 0};
        copy.stage = copy.missing ? rule.stages - 1 : rule.stages++;
        rule.steps.push_back(std::move(copy));
      }
    }
    if (seq->until) {
      auto until = compiler.Step(*seq->until, seq->steps.size(), "sequences");
      if (!until) return std::unexpected(until.error());
      if (until->keys.size() != nkeys) return Fail("the until step's `by` keys differ in number");
      rule.until = std::move(*until);
    }
    rule.maxspan_ns = seq->maxspan_ns.value_or(0);
  } else {
    const auto& sample = std::get<hunt::Sample>(q.body);
    rule.kind = LiveKind::Sample;
    for (std::size_t i = 0; i < sample.steps.size(); ++i) {
      auto step = compiler.Step(sample.steps[i], i, "samples");
      if (!step) return std::unexpected(step.error());
      if (step->keys.size() != (rule.steps.empty() ? step->keys.size() : rule.steps[0].keys.size()))
        return Fail("sample filter " + std::to_string(i + 1) + " has a different number of keys");
      step->stage = i;
      rule.steps.push_back(std::move(*step));
    }
    rule.stages = rule.steps.size();
  }
  if (auto r = compiler.Pipes(q); !r) return std::unexpected(r.error());
  return rule;
}

std::optional<std::string> KeyValue(const hunt::Expr& key, const v1::Event& event) {
  const auto* ref = std::get_if<hunt::FieldRef>(&key.node);
  if (!ref) return std::nullopt;
  if (!ref->field) {
    auto it = event.extra().find(ref->extra);
    if (it == event.extra().end()) return std::nullopt;
    return it->second;
  }
  auto v = schema::Get(event, ref->field->id);
  switch (v.index()) {
    case 1:
      return std::string(std::get<1>(v));
    case 2:
      return std::to_string(std::get<2>(v));
    case 3:
      return std::get<3>(v) ? "true" : "false";
    case 4: {
      // A list key: its elements joined (sequence keys on lists are rare).
      std::string joined;
      for (const auto& s : *std::get<4>(v)) joined += s + '\x1f';
      return joined;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace vigil::detect
