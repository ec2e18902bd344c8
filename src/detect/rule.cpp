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

bool HasRelationship(const hunt::Expr& e);

template <class T>
bool AnyHas(const std::vector<T>& v) {
  return std::ranges::any_of(v, [](const auto& p) { return p && HasRelationship(*p); });
}

bool HasRelationship(const hunt::Expr& e) {
  return std::visit(
      [](const auto& n) -> bool {
        using N = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<N, hunt::Relationship>) return true;
        if constexpr (std::is_same_v<N, hunt::Compare> || std::is_same_v<N, hunt::Arith>)
          return HasRelationship(*n.left) || HasRelationship(*n.right);
        if constexpr (std::is_same_v<N, hunt::Match>) return HasRelationship(*n.subject);
        if constexpr (std::is_same_v<N, hunt::InList>)
          return HasRelationship(*n.subject) || AnyHas(n.items);
        if constexpr (std::is_same_v<N, hunt::Logic> || std::is_same_v<N, hunt::Call>) {
          if constexpr (std::is_same_v<N, hunt::Logic>)
            return AnyHas(n.operands);
          else
            return AnyHas(n.args);
        }
        if constexpr (std::is_same_v<N, hunt::Not> || std::is_same_v<N, hunt::IsNull> ||
                      std::is_same_v<N, hunt::Negate>)
          return HasRelationship(*n.operand);
        return false;
      },
      e.node);
}

Result<SequenceStep> CompileStep(const hunt::Step& step, std::size_t index) {
  auto matcher = hunt::Matcher::Compile(step.filter);
  if (!matcher)
    return Fail("sequence step " + std::to_string(index + 1) + ": " + matcher.error().message);
  SequenceStep out{std::move(*matcher), {}};
  // The parser resolves the shared `sequence by` keys into every step's keys (before its own).
  for (const auto& k : step.keys) out.keys.push_back(k.get());
  for (const auto* k : out.keys)
    if (!std::holds_alternative<hunt::FieldRef>(k->node))
      return Fail(std::to_string(k->line) + ":" + std::to_string(k->column) +
                  ": live sequences take fields as `by` keys, not expressions");
  return out;
}

}  // namespace

Result<LiveRule> CompileLive(const RuleSpec& spec) {
  LiveRule rule;
  rule.id = spec.id;
  rule.name = spec.name;
  rule.severity = spec.severity;
  rule.tags = spec.tags;
  rule.query = spec.query;
  const hunt::Query& q = *spec.query;
  if (!q.pipes.empty())
    return Fail("pipes (| " + std::string(hunt::PipeName(q.pipes.front().kind)) +
                ") are not supported in live rules; run it as a hunt");
  if (const auto* filter = std::get_if<hunt::EventFilter>(&q.body)) {
    auto matcher = hunt::Matcher::Compile(*filter);
    if (!matcher) return std::unexpected(matcher.error());
    rule.matcher = std::move(*matcher);
    rule.categories.push_back(filter->category);
    return rule;
  }
  if (const auto* seq = std::get_if<hunt::Sequence>(&q.body)) {
    std::size_t nkeys = 0;
    for (std::size_t i = 0; i < seq->steps.size(); ++i) {
      if (seq->steps[i].runs != 1 || seq->steps[i].missing)
        return Fail("sequence step " + std::to_string(i + 1) +
                    ": `with runs=N` and missing-event steps (![...]) are not supported live yet; "
                    "run it as a hunt");
      if (seq->steps[i].filter.where && HasRelationship(*seq->steps[i].filter.where))
        return Fail("sequence step " + std::to_string(i + 1) +
                    ": relationships are not supported live yet; run it as a hunt");
      auto step = CompileStep(seq->steps[i], i);
      if (!step) return std::unexpected(step.error());
      if (i == 0) nkeys = step->keys.size();
      if (step->keys.size() != nkeys)
        return Fail("sequence step " + std::to_string(i + 1) + " has " +
                    std::to_string(step->keys.size()) + " `by` keys, the first step " +
                    std::to_string(nkeys));
      rule.categories.push_back(seq->steps[i].filter.category);
      rule.steps.push_back(std::move(*step));
    }
    if (seq->until) {
      auto until = CompileStep(*seq->until, seq->steps.size());
      if (!until) return std::unexpected(until.error());
      if (until->keys.size() != nkeys) return Fail("the until step's `by` keys differ in number");
      rule.categories.push_back(seq->until->filter.category);
      rule.until = std::move(*until);
    }
    rule.maxspan_ns = seq->maxspan_ns.value_or(0);
    return rule;
  }
  return Fail("samples are not supported in live rules; run it as a hunt");
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
