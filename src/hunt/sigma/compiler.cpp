// Sigma rule → hunt AST: detection items (maps, lists of maps, keywords), modifiers, the condition
// language, logsource guards and field resolution through the Windows mapping. Every leaf is
// null-safe (`field != null and ...`) so the tree is two-valued, as Sigma's semantics are: a
// missing field does not match, and `not` of it does.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <set>

#include "hunt/functions.hpp"
#include "hunt/sigma/detection.hpp"
#include "hunt/sigma/logsource.hpp"
#include "hunt/sigma/sigma.hpp"
#include "hunt/sigma/values.hpp"

namespace vigil::hunt::sigma {
namespace {

struct Unsupported {
  std::string reason;
};
[[noreturn]] void Reject(std::string reason) { throw Unsupported{std::move(reason)}; }

ExprPtr MakeExpr(auto node, ValueType type = ValueType::Bool) {
  auto e = std::make_unique<Expr>();
  e->node = std::move(node);
  e->type = type;
  return e;
}

ExprPtr StringLit(std::string s) { return MakeExpr(Literal{std::move(s)}, ValueType::String); }
ExprPtr IntLit(std::int64_t n) { return MakeExpr(Literal{n}, ValueType::Number); }
ExprPtr BoolLit(bool b) { return MakeExpr(Literal{b}); }

ExprPtr Combine(LogicOp op, std::vector<ExprPtr> parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  if (parts.empty()) return BoolLit(op == LogicOp::And);
  return MakeExpr(Logic{op, std::move(parts)});
}
ExprPtr Negate(ExprPtr e) { return MakeExpr(hunt::Not{std::move(e)}); }

ExprPtr Ref(const FieldRef& f) {
  ValueType t = ValueType::String;
  if (f.field && f.field->IsInteger()) t = ValueType::Number;
  return MakeExpr(f, t);
}

// `f != null and cond`: false (not null) when the field is missing.
ExprPtr NullSafe(const FieldRef& f, ExprPtr cond) {
  if (f.IsList()) return cond;  // list predicates are EXISTS: never null
  std::vector<ExprPtr> parts;
  parts.push_back(MakeExpr(IsNull{Ref(f), true}));
  parts.push_back(std::move(cond));
  return Combine(LogicOp::And, std::move(parts));
}

bool IsPlainInteger(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

enum class MatchType { Exact, Contains, StartsWith, EndsWith };

struct Modifiers {
  MatchType match = MatchType::Exact;
  bool all = false, re = false, re_i = false, re_m = false, re_s = false, cidr = false;
  bool windash = false, base64 = false, base64offset = false, exists = false, cased = false;
  bool neq = false, expand = false, fieldref = false;
  std::optional<CompareOp> numeric;
  std::optional<Utf16> utf16;
};

Modifiers ParseModifiers(const std::vector<std::string>& names) {
  Modifiers m;
  for (const auto& n : names) {
    if (n == "contains")
      m.match = MatchType::Contains;
    else if (n == "startswith")
      m.match = MatchType::StartsWith;
    else if (n == "endswith")
      m.match = MatchType::EndsWith;
    else if (n == "all")
      m.all = true;
    else if (n == "re")
      m.re = true;
    else if (n == "i" && m.re)
      m.re_i = true;
    else if (n == "m" && m.re)
      m.re_m = true;
    else if (n == "s" && m.re)
      m.re_s = true;
    else if (n == "cidr")
      m.cidr = true;
    else if (n == "windash")
      m.windash = true;
    else if (n == "base64")
      m.base64 = true;
    else if (n == "base64offset")
      m.base64offset = true;
    else if (n == "utf16le" || n == "wide")
      m.utf16 = Utf16::Le;
    else if (n == "utf16be")
      m.utf16 = Utf16::Be;
    else if (n == "utf16")
      m.utf16 = Utf16::LeBom;
    else if (n == "exists")
      m.exists = true;
    else if (n == "cased")
      m.cased = true;
    else if (n == "neq")
      m.neq = true;
    else if (n == "lt")
      m.numeric = CompareOp::Lt;
    else if (n == "lte")
      m.numeric = CompareOp::Le;
    else if (n == "gt")
      m.numeric = CompareOp::Gt;
    else if (n == "gte")
      m.numeric = CompareOp::Ge;
    else if (n == "expand")
      m.expand = true;
    else if (n == "fieldref")
      m.fieldref = true;
    else
      Reject("unknown modifier |" + n);
  }
  if (m.utf16 && !m.base64 && !m.base64offset)
    Reject("utf16/wide without base64 or base64offset is not supported");
  return m;
}

// A Sigma scalar: text, or null; integers keep their number form.
struct Scalar {
  bool null = false;
  bool integer = false;
  std::string text;
};

Scalar ScalarOf(const YAML::Node& n) {
  Scalar s;
  if (n.IsNull()) {
    s.null = true;
    return s;
  }
  if (!n.IsScalar()) Reject("a value must be a scalar");
  s.text = n.Scalar();
  if (n.Tag() == "?") s.integer = IsPlainInteger(s.text);
  return s;
}

class RuleCompiler {
 public:
  RuleCompiler(const YAML::Node& detection, const Logsource& logsource, const Options& options)
      : detection_(detection), logsource_(logsource), options_(options) {}

  ExprPtr Condition(const std::string& text) {
    tokens_.clear();
    pos_ = 0;
    std::string cur;
    for (char c : text) {
      if (c == '(' || c == ')' || c == ' ' || c == '\t' || c == '\n' || c == '|') {
        if (!cur.empty()) tokens_.push_back(cur), cur.clear();
        if (c == '|') Reject("condition aggregations (| count() ...) are not supported");
        if (c == '(' || c == ')') tokens_.emplace_back(1, c);
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) tokens_.push_back(cur);
    auto e = ParseOr();
    if (pos_ != tokens_.size()) Reject("condition: unexpected '" + tokens_[pos_] + "'");
    return e;
  }

  // Guards from the logsource (EventID, Channel, dataset).
  std::vector<ExprPtr> Guards() {
    std::vector<ExprPtr> out;
    auto in_list = [&](const FieldRef& f, const std::vector<std::string>& values) {
      std::vector<std::string> patterns(values.begin(), values.end());
      return NullSafe(f, MakeExpr(Match{MatchKind::Wildcard, false, Ref(f), patterns}));
    };
    if (!logsource_.event_ids.empty())
      out.push_back(in_list(FieldRef{nullptr, "EventID"}, logsource_.event_ids));
    if (!logsource_.channel.empty())
      out.push_back(in_list(FieldRef{nullptr, "Channel"}, {logsource_.channel}));
    if (!logsource_.datasets.empty())
      out.push_back(in_list(FieldRef{schema::FindField("event.dataset"), {}}, logsource_.datasets));
    if (!logsource_.actions.empty())
      out.push_back(in_list(FieldRef{schema::FindField("event.action"), {}}, logsource_.actions));
    return out;
  }

 private:
  // ------------------------------------------------------------ condition
  bool AtKeyword(std::string_view k) const {
    return pos_ < tokens_.size() && AsciiLower(tokens_[pos_]) == k;
  }
  ExprPtr ParseOr() {
    std::vector<ExprPtr> parts;
    parts.push_back(ParseAnd());
    while (AtKeyword("or")) ++pos_, parts.push_back(ParseAnd());
    return Combine(LogicOp::Or, std::move(parts));
  }
  ExprPtr ParseAnd() {
    std::vector<ExprPtr> parts;
    parts.push_back(ParseNot());
    while (AtKeyword("and")) ++pos_, parts.push_back(ParseNot());
    return Combine(LogicOp::And, std::move(parts));
  }
  ExprPtr ParseNot() {
    if (AtKeyword("not")) {
      ++pos_;
      return Negate(ParseNot());
    }
    return ParsePrimary();
  }
  ExprPtr ParsePrimary() {
    if (pos_ >= tokens_.size()) Reject("condition: unexpected end");
    std::string t = tokens_[pos_++];
    if (t == "(") {
      auto e = ParseOr();
      if (pos_ >= tokens_.size() || tokens_[pos_] != ")") Reject("condition: missing ')'");
      ++pos_;
      return e;
    }
    std::string lower = AsciiLower(t);
    if (lower == "1" || lower == "all" || lower == "any") {
      if (!AtKeyword("of")) Reject("condition: expected 'of' after '" + t + "'");
      ++pos_;
      if (pos_ >= tokens_.size()) Reject("condition: expected a pattern after 'of'");
      std::string pattern = tokens_[pos_++];
      std::vector<ExprPtr> parts;
      for (const auto& kv : detection_) {
        std::string name = kv.first.Scalar();
        if (name == "condition" || name == "timeframe") continue;
        bool hit = pattern == "them" ? !name.starts_with("_") : WildcardName(pattern, name);
        if (hit) parts.push_back(Selection(name));
      }
      if (parts.empty()) Reject("condition: no selection matches '" + pattern + "'");
      return Combine(lower == "all" ? LogicOp::And : LogicOp::Or, std::move(parts));
    }
    if (IsPlainInteger(t))
      Reject("condition: '" + t + " of' is not supported (only 1 of / all of)");
    return Selection(t);
  }
  static bool WildcardName(const std::string& pattern, const std::string& name) {
    std::string re;
    for (char c : pattern) re += c == '*' ? ".*" : RE2::QuoteMeta(std::string(1, c));
    return RE2::FullMatch(name, re);
  }

  // ------------------------------------------------------------ detection items
  ExprPtr Selection(const std::string& name) {
    YAML::Node item = detection_[name];
    if (!item) Reject("condition references unknown selection '" + name + "'");
    return Item(item);
  }

  ExprPtr Item(const YAML::Node& item) {
    if (item.IsMap()) {
      std::vector<ExprPtr> parts;
      for (const auto& kv : item) parts.push_back(FieldCondition(kv.first.Scalar(), kv.second));
      return Combine(LogicOp::And, std::move(parts));
    }
    if (item.IsSequence()) {
      std::vector<ExprPtr> parts;
      std::vector<YAML::Node> keywords;
      for (const auto& e : item) {
        if (e.IsMap())
          parts.push_back(Item(e));
        else
          keywords.push_back(e);
      }
      for (const auto& k : keywords) parts.push_back(FieldCondition("|contains", k, true));
      return Combine(LogicOp::Or, std::move(parts));
    }
    if (item.IsScalar()) return FieldCondition("|contains", item, true);
    Reject("a detection item must be a map, a list or a keyword");
  }

 public:
  // The storage of a Sigma field name in each route (deduplicated), with the categories of the
  // routes that store it there.
  struct Resolved {
    FieldRef ref;
    std::vector<std::string> categories;
  };
  std::vector<Resolved> ResolveRoutes(const std::string& name) {
    std::vector<Resolved> out;
    for (const auto& r : logsource_.routes) {
      FieldRef ref{nullptr, name};
      if (r.kind != WindowsKind::Other && !KeepsRawValue(name) && !KeepsRawValues(r.kind))
        if (const auto* f = MappedField(r.kind, name); f && f->In(r.category)) ref.field = f;
      if (r.linux && !ref.field) Reject("field " + name + " has no Linux equivalent");
      auto it = std::ranges::find_if(out, [&](const Resolved& o) {
        return o.ref.field == ref.field && (o.ref.field || o.ref.extra == ref.extra);
      });
      std::string category(schema::CategoryName(r.category));
      if (it == out.end()) {
        out.push_back({ref, {category}});
      } else {
        it->categories.push_back(category);
      }
    }
    return out;
  }
  std::vector<FieldRef> Resolve(const std::string& name) {
    std::vector<FieldRef> out;
    for (auto& r : ResolveRoutes(name)) out.push_back(r.ref);
    return out;
  }

 private:
  std::vector<FieldRef> KeywordFields() {
    std::vector<FieldRef> out;
    auto add = [&](FieldRef f) {
      if (!std::ranges::any_of(out, [&](const FieldRef& o) {
            return o.field == f.field && (o.field || o.extra == f.extra);
          }))
        out.push_back(std::move(f));
    };
    for (const auto& r : logsource_.routes) {
      switch (r.kind) {
        case WindowsKind::Process:
          add({schema::FindField("process.command_line"), {}});
          break;
        case WindowsKind::File:
          add({schema::FindField("file.path"), {}});
          break;
        case WindowsKind::Dns:
          add({schema::FindField("dns.question.name"), {}});
          break;
        case WindowsKind::Network:
          add({schema::FindField("destination.domain"), {}});
          break;
        case WindowsKind::Registry:
          add({schema::FindField("registry.path"), {}});
          break;
        case WindowsKind::Authentication:  // its Windows fields are in extra, as for Other
        case WindowsKind::Other:
          for (const char* k : {"CommandLine", "Message", "Details", "ScriptBlockText", "Payload",
                                "TargetObject", "ImageLoaded", "Image"})
            add({nullptr, k});
          break;
      }
    }
    return out;
  }

  ExprPtr FieldCondition(const std::string& key, const YAML::Node& value, bool keyword = false) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
      auto bar = key.find('|', start);
      parts.push_back(
          key.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    std::string field = parts[0];
    Modifiers m = ParseModifiers({parts.begin() + 1, parts.end()});
    std::vector<Resolved> refs;
    if (field.empty()) {
      for (auto& f : KeywordFields()) refs.push_back({f, {}});
    } else {
      refs = ResolveRoutes(field);
    }
    if (field.empty() && !keyword && m.match == MatchType::Exact) m.match = MatchType::Contains;

    std::vector<Scalar> values;
    if (value.IsSequence()) {
      for (const auto& v : value) values.push_back(ScalarOf(v));
    } else {
      values.push_back(ScalarOf(value));
    }
    if (values.empty()) Reject("field " + field + ": empty value list");

    std::vector<ExprPtr> per_ref;
    for (const auto& r : refs) {
      ExprPtr cond = ForRef(r.ref, m, values, field);
      if (refs.size() > 1 && !r.categories.empty()) {
        // The field lives in different places per event category: test each in its own.
        FieldRef category{schema::FindField("event.category"), {}};
        std::vector<ExprPtr> both;
        both.push_back(MakeExpr(Match{MatchKind::Wildcard, false, Ref(category), r.categories}));
        both.push_back(std::move(cond));
        cond = Combine(LogicOp::And, std::move(both));
      }
      per_ref.push_back(std::move(cond));
    }
    return Combine(LogicOp::Or, std::move(per_ref));
  }

  ExprPtr ForRef(const FieldRef& ref, const Modifiers& m, const std::vector<Scalar>& values,
                 const std::string& field) {
    if (m.exists) {
      if (values.size() != 1 || values[0].null) Reject("|exists needs true or false");
      bool want = AsciiLower(values[0].text) == "true";
      return MakeExpr(IsNull{Ref(ref), want});
    }
    std::vector<ExprPtr> parts;
    std::vector<std::string> ci_patterns, cs_patterns;  // grouped wildcard patterns (OR only)
    for (const auto& v : values) {
      if (v.null) {
        // `field: null`: missing or empty
        std::vector<ExprPtr> alt;
        alt.push_back(MakeExpr(IsNull{Ref(ref), false}));
        if (!ref.field || ref.field->IsString())
          alt.push_back(MakeExpr(hunt::Compare{CompareOp::Eq, Ref(ref), StringLit("")}));
        parts.push_back(Combine(LogicOp::Or, std::move(alt)));
        continue;
      }
      if (m.fieldref) {
        auto other = Resolve(v.text);
        if (other.size() != 1)
          Reject("field " + field + ": |fieldref to a field stored differently per event type");
        std::vector<ExprPtr> both;
        both.push_back(MakeExpr(IsNull{Ref(other[0]), true}));
        both.push_back(MakeExpr(hunt::Compare{CompareOp::Eq, Ref(ref), Ref(other[0])}));
        parts.push_back(NullSafe(ref, Combine(LogicOp::And, std::move(both))));
        continue;
      }
      if (m.numeric) {
        if (!v.integer) Reject("field " + field + ": |lt/|gt need a number, got " + v.text);
        ExprPtr subject = Ref(ref);
        if (!ref.field || !ref.field->IsInteger())
          subject = MakeExpr(hunt::Call{Function::Number, false, {}}, ValueType::Number),
          std::get<hunt::Call>(subject->node).args.push_back(Ref(ref)),
          std::get<hunt::Call>(subject->node).args.push_back(IntLit(10));
        parts.push_back(NullSafe(ref, MakeExpr(hunt::Compare{*m.numeric, std::move(subject),
                                                             IntLit(std::stoll(v.text))})));
        continue;
      }
      if (m.cidr) {
        if (!ParseCidr(v.text)) Reject("field " + field + ": bad CIDR " + v.text);
        hunt::Call c{Function::CidrMatch, false, {}};
        c.args.push_back(Ref(ref));
        c.args.push_back(StringLit(v.text));
        parts.push_back(NullSafe(ref, MakeExpr(std::move(c))));
        continue;
      }
      if (m.re) {
        std::string flags;
        if (m.re_i) flags += 'i';
        if (m.re_m) flags += 'm';
        if (m.re_s) flags += 's';
        std::string inner = (flags.empty() ? "" : "(?" + flags + ")") + v.text;
        RE2::Options o;
        o.set_log_errors(false);
        RE2 test(inner, o);
        if (!test.ok()) Reject("field " + field + ": regex not supported by RE2: " + test.error());
        std::string anchored = "(?s:.*)(?:" + inner + ")(?s:.*)";
        Subject(ref, parts, MakeExpr(Match{MatchKind::Regex, false, SubjectExpr(ref), {anchored}}));
        continue;
      }
      // Integer value against an integer field: numeric equality.
      if (v.integer && ref.field && ref.field->IsInteger() && m.match == MatchType::Exact &&
          !m.base64 && !m.base64offset && !m.windash) {
        auto cmp = MakeExpr(hunt::Compare{CompareOp::Eq, Ref(ref), IntLit(std::stoll(v.text))});
        parts.push_back(NullSafe(ref, std::move(cmp)));
        continue;
      }
      // With |all, the variants of one value (windash, base64offset, expand) are OR'ed and the
      // values AND'ed; otherwise every pattern joins one OR.
      std::vector<ExprPtr> local;
      std::vector<std::string> local_patterns;
      auto& target_parts = m.all ? local : parts;
      auto& target_patterns = m.all ? local_patterns : (m.cased ? cs_patterns : ci_patterns);
      for (const auto& s : Strings(v.text, m, field)) {
        std::string body = s;
        if (m.match == MatchType::Contains || m.match == MatchType::EndsWith) body = kAnyRun + body;
        if (m.match == MatchType::Contains || m.match == MatchType::StartsWith) body += kAnyRun;
        bool literal_wild = body.find_first_of("*?") != std::string::npos;
        if (literal_wild) {
          std::string re;
          for (char c : body) {
            if (c == kAnyRun)
              re += "(?s:.*)";
            else if (c == kAnyChar)
              re += "(?s:.)";
            else
              re += RE2::QuoteMeta(std::string(1, c));
          }
          Subject(ref, target_parts,
                  MakeExpr(Match{MatchKind::Regex, !m.cased, SubjectExpr(ref), {re}}));
          continue;
        }
        for (char& c : body) c = c == kAnyRun ? '*' : c == kAnyChar ? '?' : c;
        target_patterns.push_back(body);
      }
      if (m.all) {
        if (!local_patterns.empty())
          Subject(ref, local,
                  MakeExpr(Match{MatchKind::Wildcard, !m.cased, SubjectExpr(ref),
                                 std::move(local_patterns)}));
        parts.push_back(Combine(LogicOp::Or, std::move(local)));
      }
    }
    auto flush = [&](std::vector<std::string>& patterns, bool ci) {
      if (patterns.empty()) return;
      Subject(ref, parts,
              MakeExpr(Match{MatchKind::Wildcard, ci, SubjectExpr(ref), std::move(patterns)}));
    };
    flush(ci_patterns, true);
    flush(cs_patterns, false);
    ExprPtr e = Combine(m.all ? LogicOp::And : LogicOp::Or, std::move(parts));
    if (m.neq) {
      // exists and not equal
      e = NullSafe(ref, Negate(std::move(e)));
    }
    return e;
  }

  // The subject of a string match: the field, or string(field) for integer fields.
  static ExprPtr SubjectExpr(const FieldRef& ref) {
    if (ref.field && !ref.field->IsString() && !ref.IsList()) {
      hunt::Call c{Function::String, false, {}};
      c.args.push_back(Ref(ref));
      return MakeExpr(std::move(c), ValueType::String);
    }
    return Ref(ref);
  }
  static void Subject(const FieldRef& ref, std::vector<ExprPtr>& parts, ExprPtr match) {
    parts.push_back(NullSafe(ref, std::move(match)));
  }

  // The value after expand, windash, utf16 and base64 transforms (each a Sigma string with
  // wildcard markers).
  std::vector<std::string> Strings(const std::string& raw, const Modifiers& m,
                                   const std::string& field) {
    std::vector<std::string> texts{raw};
    if (m.expand) {
      std::vector<std::string> expanded;
      for (const auto& t : texts) {
        auto open = t.find('%');
        auto close = open == std::string::npos ? open : t.find('%', open + 1);
        if (close == std::string::npos) {
          expanded.push_back(t);
          continue;
        }
        std::string name = t.substr(open + 1, close - open - 1);
        auto it = options_.placeholders.find(name);
        if (it == options_.placeholders.end())
          Reject("field " + field + ": placeholder %" + name + "% has no configured value");
        for (const auto& v : it->second)
          expanded.push_back(t.substr(0, open) + v + t.substr(close + 1));
      }
      texts = std::move(expanded);
    }
    std::vector<std::string> values;
    for (const auto& t : texts) values.push_back(ParseValue(t));
    if (m.windash) {
      std::vector<std::string> dashed;
      for (const auto& v : values) {
        auto w = Windash(v);
        if (!w) Reject(w.error().message);
        dashed.insert(dashed.end(), w->begin(), w->end());
      }
      values = std::move(dashed);
    }
    if (m.base64 || m.base64offset) {
      std::vector<std::string> encoded;
      for (const auto& v : values) {
        if (HasWildcardMarkers(v)) Reject("field " + field + ": base64 of a value with wildcards");
        std::string bytes = m.utf16 ? EncodeUtf16(v, *m.utf16) : v;
        if (m.base64) {
          encoded.push_back(Base64(bytes));
        } else {
          for (auto& o : Base64Offsets(bytes)) encoded.push_back(o);
        }
      }
      values = std::move(encoded);
    }
    return values;
  }

  const YAML::Node& detection_;
  const Logsource& logsource_;
  const Options& options_;
  std::vector<std::string> tokens_;
  std::size_t pos_ = 0;
};

std::string Text(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

}  // namespace

Result<FieldRef> ResolveField(const Logsource& logsource, const std::string& name) {
  try {
    static const YAML::Node kNoDetection;
    static const Options kNoOptions;
    RuleCompiler compiler(kNoDetection, logsource, kNoOptions);
    auto refs = compiler.Resolve(name);
    if (refs.size() == 1) return refs[0];
    if (refs.empty()) return Fail("field " + name + " is not stored by this logsource");
    return Fail("field " + name + " is stored in " + std::to_string(refs.size()) +
                " different places by this logsource's event kinds; narrow the logsource");
  } catch (const Unsupported& u) {
    // A Vigil field name (host.id, user.name, ...) is accepted as it is.
    if (const auto* f = schema::FindField(name)) return FieldRef{f, {}};
    return Fail(u.reason);
  }
}

Rule RuleMetadata(const YAML::Node& doc) {
  Rule rule;
  rule.id = Text(doc["id"]);
  rule.title = Text(doc["title"]);
  rule.level = Text(doc["level"]);
  rule.status = Text(doc["status"]);
  rule.description = Text(doc["description"]);
  if (doc["tags"] && doc["tags"].IsSequence())
    for (const auto& t : doc["tags"]) rule.tags.push_back(Text(t));
  return rule;
}

Result<Detection> CompileDetection(const YAML::Node& doc, const Options& options) {
  if (!doc.IsMap()) return Fail("a Sigma rule must be a YAML map");
  Detection out;
  out.rule = RuleMetadata(doc);
  Rule& rule = out.rule;
  out.name = Text(doc["name"]);
  try {
    const YAML::Node ls = doc["logsource"];
    std::string product = Text(ls["product"]), category = Text(ls["category"]),
                service = Text(ls["service"]);
    rule.logsource = product + "/" + category + "/" + service;
    auto logsource = RouteLogsource(product, category, service);
    if (!logsource) return std::unexpected(logsource.error());
    out.logsource = *logsource;
    const YAML::Node detection = doc["detection"];
    if (!detection || !detection.IsMap()) return Fail("rule has no detection map");
    if (detection["timeframe"]) return Fail("timeframe (aggregations) is not supported");
    const YAML::Node condition = detection["condition"];
    if (!condition) return Fail("detection has no condition");
    RuleCompiler compiler(detection, *logsource, options);
    std::vector<ExprPtr> conds;
    if (condition.IsSequence()) {
      for (const auto& c : condition) conds.push_back(compiler.Condition(Text(c)));
    } else {
      conds.push_back(compiler.Condition(Text(condition)));
    }
    std::vector<ExprPtr> all = compiler.Guards();
    all.push_back(Combine(LogicOp::Or, std::move(conds)));
    rule.query.body = EventFilter{logsource->category, Combine(LogicOp::And, std::move(all))};
  } catch (const Unsupported& u) {
    return Fail(u.reason);
  } catch (const YAML::Exception& e) {
    return Fail(std::string("YAML: ") + e.what());
  }
  return out;
}

Result<Rule> Compile(std::string_view yaml, const Options& options) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Fail(std::string("YAML: ") + e.what());
  }
  if (docs.empty()) return Fail("empty rule");
  if (docs.size() == 1 && docs[0].IsMap() && !docs[0]["correlation"]) {
    auto detection = CompileDetection(docs[0], options);
    if (!detection) return std::unexpected(detection.error());
    return std::move(detection->rule);
  }
  return CompileCollection(docs, options);
}

}  // namespace vigil::hunt::sigma
