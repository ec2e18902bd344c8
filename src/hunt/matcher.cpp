// The live matcher: the AST compiled to a tree of nodes with pre-resolved fields, pre-lowered
// patterns and pre-compiled RE2 programs, evaluated per event with SQL null semantics
// (True / False / Null), mirroring every construct of hunt/compiler.cpp.
#include "hunt/matcher.hpp"

#include <re2/re2.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "common/utf8.hpp"

#include "hunt/fields.hpp"
#include "hunt/functions.hpp"

namespace vigil::hunt {
namespace matcher_detail {

using StringList = schema::StringList;

// A run-time value: SQL NULL, integer, real, text (borrowed or owned) or a list field.
struct Value {
  std::variant<std::monostate, std::int64_t, double, std::string_view, std::string,
               const StringList*>
      v;
  // An empty list is NULL in the store (no column value) but list predicates see no elements.
  bool IsNull() const {
    if (auto* l = std::get_if<const StringList*>(&v)) return (*l)->empty();
    return std::holds_alternative<std::monostate>(v);
  }
  bool IsText() const {
    return std::holds_alternative<std::string_view>(v) || std::holds_alternative<std::string>(v);
  }
  bool IsNumber() const {
    return std::holds_alternative<std::int64_t>(v) || std::holds_alternative<double>(v);
  }
  const StringList* List() const {
    auto* l = std::get_if<const StringList*>(&v);
    return l ? *l : nullptr;
  }
  // SQLite's text conversion of the value.
  std::string Text() const {
    if (auto* s = std::get_if<std::string_view>(&v)) return std::string(*s);
    if (auto* s = std::get_if<std::string>(&v)) return *s;
    if (auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    if (auto* d = std::get_if<double>(&v)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.15g", *d);
      return buf;
    }
    return {};
  }
  std::string_view View() const {
    if (auto* s = std::get_if<std::string_view>(&v)) return *s;
    if (auto* s = std::get_if<std::string>(&v)) return *s;
    return {};
  }
  double Real() const {
    if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    if (auto* d = std::get_if<double>(&v)) return *d;
    return std::strtod(Text().c_str(), nullptr);
  }
};

enum class Tri : std::uint8_t { False, True, Null };
Tri FromBool(bool b) { return b ? Tri::True : Tri::False; }
Tri ToTri(const Value& v) {
  if (v.IsNull()) return Tri::Null;
  if (auto* i = std::get_if<std::int64_t>(&v.v)) return FromBool(*i != 0);
  if (auto* d = std::get_if<double>(&v.v)) return FromBool(*d != 0);
  return FromBool(v.Real() != 0);
}
Value FromTri(Tri t) {
  if (t == Tri::Null) return {};
  return {std::int64_t{t == Tri::True}};
}

enum class Kind : std::uint8_t {
  Literal,
  Field,
  Extra,
  Compare,
  Wildcard,
  Regex,
  In,
  And,
  Or,
  Not,
  IsNull,
  Arith,
  Negate,
  Call,
  Relation,
};

struct Node {
  Kind kind = Kind::Literal;
  Value literal;
  const schema::FieldDef* field = nullptr;
  std::string extra;
  CompareOp cmp = CompareOp::Eq;
  ArithOp arith = ArithOp::Add;
  Function function = Function::Add;
  hunt::Relation relation = hunt::Relation::EventOf;  // Relation: which, on which slot
  std::uint32_t slot = 0;
  bool ci = false, negated = false;
  bool fts_false_on_null = false;  // the SQL path's FTS prefilter makes a null subject false
  const schema::FieldDef* fts_field = nullptr;  // ... on the tables with its FTS table
  std::vector<std::unique_ptr<Node>> kids;
  std::vector<std::string> patterns;  // wildcards (lower case when ci)
  std::vector<std::uint8_t> shapes;   // per pattern: a Shape (the fast path for simple patterns)
  std::vector<std::unique_ptr<RE2>> regexes;
  bool items_folded = false;  // In with ci: every item is a literal, lower-cased when compiled
};
using NodePtr = std::unique_ptr<Node>;

// UTF-8 character length at p (1 for invalid bytes).
std::size_t CharLen(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

std::size_t Utf8Length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// `*` any run, `?` one character; iterative with single backtrack point (linear-ish).
bool WildcardMatch(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == '?') {
      ++pi;
      si += CharLen(static_cast<unsigned char>(s[si]));
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi, ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      mark += CharLen(static_cast<unsigned char>(s[mark]));
      si = mark;
    } else {
      return false;
    }
  }
  if (si > s.size()) return false;
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool HasWildcard(std::string_view p) { return p.find_first_of("*?") != std::string_view::npos; }

// Patterns whose only wildcards are a leading and/or trailing `*` are plain comparisons of the
// pattern's core (the common Sigma contains/startswith/endswith forms).
enum Shape : std::uint8_t { kGeneral, kExact, kPrefix, kSuffix, kContains };
Shape ShapeOf(std::string_view p) {
  const bool lead = p.starts_with('*'), trail = p.size() > 1 && p.ends_with('*');
  std::string_view core = p.substr(lead ? 1 : 0, p.size() - (lead ? 1 : 0) - (trail ? 1 : 0));
  if (p == "*" || HasWildcard(core)) return kGeneral;
  return lead && trail ? kContains : lead ? kSuffix : trail ? kPrefix : kExact;
}
bool ShapedMatch(std::uint8_t shape, std::string_view p, std::string_view s) {
  switch (shape) {
    case kExact:
      return s == p;
    case kPrefix:
      return s.starts_with(p.substr(0, p.size() - 1));
    case kSuffix:
      return s.ends_with(p.substr(1));
    case kContains:
      return s.find(p.substr(1, p.size() - 2)) != std::string_view::npos;
    default:
      return WildcardMatch(p, s);
  }
}

// Lower-cases into a per-thread buffer (no allocation per event once it has grown). The view is
// valid until the next call on the thread.
std::string_view LowerInto(std::string_view s) {
  thread_local std::string buffer;
  buffer.assign(s);
  for (char& c : buffer)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return buffer;
}

// Whether the SQL path adds its text-index prefilter (a text-indexed field, every pattern is UTF-8
// and has a 3+ char run).
bool FtsApplies(const schema::FieldDef* f, const std::vector<std::string>& patterns) {
  if (!std::ranges::all_of(patterns, [](const std::string& p) { return IsValidUtf8(p); }))
    return false;
  bool indexed = false;
  if (f)
    for (const auto& c : schema::Categories()) indexed |= TextIndexed(*f, c.category);
  if (!indexed || !FullTextServes(*f, patterns)) return false;
  for (const auto& p : patterns) {
    bool found = false;
    std::size_t start = 0;
    while (start <= p.size()) {
      std::size_t end = p.find_first_of("*?", start);
      if (end == std::string::npos) end = p.size();
      if (Utf8Length(std::string_view(p).substr(start, end - start)) >= 3) found = true;
      start = end + 1;
    }
    if (!found) return false;
  }
  return true;
}

class Evaluator {
 public:
  Evaluator(const v1::Event& event, schema::Category category, const RelationOracle* oracle)
      : event_(event), category_(category), oracle_(oracle) {}

  Value Eval(const Node& n) {
    switch (n.kind) {
      case Kind::Literal:
        return n.literal;
      case Kind::Field: {
        static const StringList kEmpty;
        bool list = n.field->type == schema::FieldType::Keywords;
        if (!n.field->In(category_)) return list ? Value{&kEmpty} : Value{};
        auto fv = schema::Get(event_, n.field->id);
        if (list && std::holds_alternative<std::monostate>(fv)) return {&kEmpty};
        return std::visit(
            [](const auto& x) -> Value {
              using T = std::decay_t<decltype(x)>;
              if constexpr (std::is_same_v<T, std::monostate>)
                return {};
              else if constexpr (std::is_same_v<T, bool>)
                return {std::int64_t{x}};
              else
                return {x};
            },
            fv);
      }
      case Kind::Extra: {
        auto it = event_.extra().find(n.extra);
        if (it == event_.extra().end()) return {};
        return {std::string_view(it->second)};
      }
      case Kind::Arith:
        return Arith(n);
      case Kind::Negate: {
        Value v = Eval(*n.kids[0]);
        if (auto* i = std::get_if<std::int64_t>(&v.v)) return {-*i};
        if (v.IsNull()) return {};
        return {-v.Real()};
      }
      case Kind::Call:
        return Call(n);
      default:
        return FromTri(Test(n));
    }
  }

  Tri Test(const Node& n) {
    switch (n.kind) {
      case Kind::And: {
        Tri r = Tri::True;
        for (const auto& k : n.kids) {
          Tri t = Test(*k);
          if (t == Tri::False) return Tri::False;
          if (t == Tri::Null) r = Tri::Null;
        }
        return r;
      }
      case Kind::Or: {
        Tri r = Tri::False;
        for (const auto& k : n.kids) {
          Tri t = Test(*k);
          if (t == Tri::True) return Tri::True;
          if (t == Tri::Null) r = Tri::Null;
        }
        return r;
      }
      case Kind::Not: {
        Tri t = Test(*n.kids[0]);
        return t == Tri::Null ? Tri::Null : FromBool(t == Tri::False);
      }
      case Kind::IsNull: {
        bool null = Eval(*n.kids[0]).IsNull();
        return FromBool(n.negated ? !null : null);
      }
      case Kind::Compare:
        return Compare(n);
      case Kind::Wildcard:
      case Kind::Regex: {
        Value v = Eval(*n.kids[0]);
        auto one = [&](std::string_view s) -> bool {
          if (n.kind == Kind::Regex) {
            for (const auto& re : n.regexes)
              if (RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re)) return true;
            return false;
          }
          if (n.ci) s = LowerInto(s);
          for (std::size_t i = 0; i < n.patterns.size(); ++i)
            if (ShapedMatch(n.shapes[i], n.patterns[i], s)) return true;
          return false;
        };
        return AnyElement(
            v,
            [&](const Value& e) -> Tri {
              if (e.IsNull()) return Tri::Null;
              if (e.IsText()) return FromBool(one(e.View()));
              return FromBool(one(e.Text()));
            },
            n.fts_false_on_null&& TextIndexed(*n.fts_field, category_));
      }
      case Kind::In:
        return In(n);
      case Kind::Relation: {
        // As the SQL path's `IN (subquery)`: null without a process to relate.
        auto related = oracle_ ? oracle_->Related(n.slot, n.relation, event_) : std::nullopt;
        return related ? FromBool(*related) : Tri::Null;
      }
      default:
        return ToTri(Eval(n));
    }
  }

 private:
  // pred on the value, or on any element of a list field (EXISTS: never null).
  template <typename F>
  Tri AnyElement(const Value& v, F&& pred, bool null_is_false = false) {
    if (const auto* list = v.List()) {
      for (const auto& s : *list)
        if (pred(Value{std::string_view(s)}) == Tri::True) return Tri::True;
      return Tri::False;
    }
    Tri t = pred(v);
    if (t == Tri::Null && null_is_false && v.IsNull()) return Tri::False;
    return t;
  }

  // SQLite ordering: NULL < numbers < text; text by bytes (BINARY).
  static int Order(const Value& a, const Value& b) {
    bool an = a.IsNumber(), bn = b.IsNumber();
    if (an && bn) {
      auto* ai = std::get_if<std::int64_t>(&a.v);
      auto* bi = std::get_if<std::int64_t>(&b.v);
      if (ai && bi) return *ai < *bi ? -1 : *ai > *bi ? 1 : 0;
      double x = a.Real(), y = b.Real();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    if (an != bn) return an ? -1 : 1;
    int c = a.View().compare(b.View());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }

  static Tri CompareValues(CompareOp op, const Value& a, const Value& b) {
    if (a.IsNull() || b.IsNull()) return Tri::Null;
    int c = Order(a, b);
    switch (op) {
      case CompareOp::Eq:
        return FromBool(c == 0);
      case CompareOp::Ne:
        return FromBool(c != 0);
      case CompareOp::Lt:
        return FromBool(c < 0);
      case CompareOp::Le:
        return FromBool(c <= 0);
      case CompareOp::Gt:
        return FromBool(c > 0);
      case CompareOp::Ge:
        return FromBool(c >= 0);
    }
    return Tri::Null;
  }

  Tri Compare(const Node& n) {
    Value left = Eval(*n.kids[0]), right = Eval(*n.kids[1]);
    if (right.List() && n.kids[0]->kind != Kind::Field) {
      return AnyElement(right, [&](const Value& e) { return CompareValues(n.cmp, left, e); });
    }
    if (right.List()) right = Value{};  // list against list: not meaningful (SQL compares JSON)
    return AnyElement(left, [&](const Value& e) { return CompareValues(n.cmp, e, right); });
  }

  Tri In(const Node& n) {
    Value subject = Eval(*n.kids[0]);
    std::vector<Value> items;
    items.reserve(n.kids.size() - 1);
    for (std::size_t i = 1; i < n.kids.size(); ++i) {
      Value v = Eval(*n.kids[i]);
      if (n.ci && !n.items_folded && !v.IsNull()) v = Value{AsciiLower(v.Text())};
      items.push_back(std::move(v));
    }
    auto pred = [&](const Value& e) -> Tri {
      if (e.IsNull()) return Tri::Null;
      Value s = e;
      if (n.ci) s = e.IsText() ? Value{LowerInto(e.View())} : Value{AsciiLower(e.Text())};
      bool null_item = false;
      for (const auto& i : items) {
        if (i.IsNull()) {
          null_item = true;
          continue;
        }
        if (Order(s, i) == 0) return Tri::True;
      }
      return null_item ? Tri::Null : Tri::False;
    };
    Tri t = AnyElement(subject, pred);
    if (!n.negated) return t;
    return t == Tri::Null ? Tri::Null : FromBool(t == Tri::False);
  }

  Value Arith(const Node& n) {
    Value a = Eval(*n.kids[0]), b = Eval(*n.kids[1]);
    if (a.IsNull() || b.IsNull()) return {};
    auto* ai = std::get_if<std::int64_t>(&a.v);
    auto* bi = std::get_if<std::int64_t>(&b.v);
    if (ai && bi) {
      std::int64_t x = *ai, y = *bi;
      switch (n.arith) {
        case ArithOp::Add:
          return {x + y};
        case ArithOp::Sub:
          return {x - y};
        case ArithOp::Mul:
          return {x * y};
        case ArithOp::Div:
          if (y == 0) return {};
          return {x / y};
        case ArithOp::Mod:
          if (y == 0) return {};
          return {x % y};
      }
    }
    double x = a.Real(), y = b.Real();
    switch (n.arith) {
      case ArithOp::Add:
        return {x + y};
      case ArithOp::Sub:
        return {x - y};
      case ArithOp::Mul:
        return {x * y};
      case ArithOp::Div:
        if (y == 0) return {};
        return {x / y};
      case ArithOp::Mod: {
        auto xi = static_cast<std::int64_t>(x), yi = static_cast<std::int64_t>(y);
        if (yi == 0) return {};
        return {static_cast<double>(xi % yi)};
      }
    }
    return {};
  }

  static std::size_t Find(std::string_view hay, std::string_view needle, std::size_t from, bool ci,
                          bool last = false) {
    if (!ci) return last ? hay.rfind(needle) : hay.find(needle, from);
    std::string h = AsciiLower(hay), nd = AsciiLower(needle);
    return last ? h.rfind(nd) : h.find(nd, from);
  }

  Value Call(const Node& n) {
    auto arg = [&](std::size_t i) { return i < n.kids.size() ? Eval(*n.kids[i]) : Value{}; };
    switch (n.function) {
      case Function::Length: {
        Value v = arg(0);
        if (const auto* l = v.List())
          return l->empty() ? Value{} : Value{static_cast<std::int64_t>(l->size())};
        if (v.IsNull()) return {};
        return {static_cast<std::int64_t>(Utf8Length(v.Text()))};
      }
      case Function::String: {
        Value v = arg(0);
        if (v.IsNull()) return {};
        return {v.Text()};
      }
      case Function::Number:
        return Number(arg(0), arg(1));
      case Function::Concat: {
        std::string out;
        bool any = false;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          Value v = arg(i);
          if (v.IsNull()) continue;
          any = true;
          out += v.Text();
        }
        if (!any) return {};
        return {std::move(out)};
      }
      case Function::Between: {
        Value s = arg(0), l = arg(1), r = arg(2);
        if (s.IsNull() || l.IsNull() || r.IsNull()) return {};
        Value g = arg(3);
        bool greedy = !g.IsNull() && g.Real() != 0;
        std::string st = s.Text(), lt = l.Text(), rt = r.Text();
        std::size_t at = Find(st, lt, 0, n.ci);
        if (at == std::string::npos) return {std::string()};
        std::string rest = st.substr(at + lt.size());
        std::size_t e = greedy ? Find(rest, rt, 0, n.ci, true) : Find(rest, rt, 0, n.ci);
        if (e == std::string::npos) return {std::string()};
        return {rest.substr(0, e)};
      }
      case Function::CidrMatch: {
        Value subject = arg(0);
        std::vector<std::optional<Cidr>> cidrs;
        for (std::size_t i = 1; i < n.kids.size(); ++i) {
          Value c = arg(i);
          cidrs.push_back(c.IsNull() ? std::nullopt : ParseCidr(c.Text()));
        }
        return FromTri(AnyElement(subject, [&](const Value& e) -> Tri {
          if (e.IsNull()) return Tri::Null;
          std::string ip = e.Text();
          for (const auto& c : cidrs)
            if (c && CidrContains(*c, ip)) return Tri::True;
          return Tri::False;
        }));
      }
      case Function::StartsWith:
      case Function::EndsWith:
      case Function::StringContains: {
        Value subject = arg(0), needle = arg(1);
        return FromTri(AnyElement(subject, [&](const Value& e) -> Tri {
          if (e.IsNull() || needle.IsNull()) return Tri::Null;
          std::string a = e.Text(), b = needle.Text();
          if (n.ci) a = AsciiLower(a), b = AsciiLower(b);
          return FromBool(n.function == Function::StartsWith ? a.starts_with(b)
                          : n.function == Function::EndsWith ? a.ends_with(b)
                                                             : a.find(b) != std::string::npos);
        }));
      }
      case Function::IndexOf: {
        Value s = arg(0), sub = arg(1), st = arg(2);
        if (s.IsNull() || sub.IsNull()) return {};
        std::int64_t start = st.IsNull() ? 0 : static_cast<std::int64_t>(st.Real());
        if (start < 0) start = 0;
        std::string text = s.Text();
        if (static_cast<std::size_t>(start) > text.size()) return {};
        std::size_t at = Find(text, sub.Text(), static_cast<std::size_t>(start), n.ci);
        if (at == std::string::npos) return {};
        return {static_cast<std::int64_t>(at)};
      }
      case Function::Substring: {
        Value s = arg(0), a = arg(1), b = arg(2);
        if (s.IsNull() || a.IsNull()) return {};
        std::string text = s.Text();
        auto len = static_cast<std::int64_t>(text.size());
        auto clamp = [len](std::int64_t i) {
          if (i < 0) i += len;
          return std::min(std::max<std::int64_t>(i, 0), len);
        };
        std::int64_t start = clamp(static_cast<std::int64_t>(a.Real()));
        std::int64_t end = b.IsNull() ? len : clamp(static_cast<std::int64_t>(b.Real()));
        if (end <= start) return {std::string()};
        return {
            text.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(end - start))};
      }
      case Function::Add:
      case Function::Subtract:
      case Function::Multiply:
      case Function::Divide:
      case Function::Modulo:
      case Function::Wildcard:
        break;  // compiled as Arith / Wildcard nodes
    }
    return {};
  }

  static Value Number(const Value& v, const Value& base_value) {
    if (v.IsNull()) return {};
    if (v.IsNumber()) return v;
    std::string s = v.Text();
    int base = base_value.IsNull() ? 10 : static_cast<int>(base_value.Real());
    if (base < 2 || base > 36) return {};
    std::string_view t = s;
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    bool negative = !t.empty() && t.front() == '-';
    if (negative || (!t.empty() && t.front() == '+')) t.remove_prefix(1);
    if (base == 16 && (t.starts_with("0x") || t.starts_with("0X"))) t.remove_prefix(2);
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n, base);
    if (!t.empty() && ec == std::errc{} && p == t.data() + t.size()) return {negative ? -n : n};
    if (base == 10) {
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (end && end != s.c_str() && *end == '\0') return {d};
    }
    return {};
  }

  const v1::Event& event_;
  schema::Category category_;
  const RelationOracle* oracle_;
};

// ---------------------------------------------------------------- compilation

Result<NodePtr> Build(const Expr& e, const RelationSlots& slots);

Result<std::vector<NodePtr>> BuildAll(const std::vector<ExprPtr>& exprs,
                                      const RelationSlots& slots) {
  std::vector<NodePtr> out;
  for (const auto& x : exprs) {
    auto n = Build(*x, slots);
    if (!n) return std::unexpected(n.error());
    out.push_back(std::move(*n));
  }
  return out;
}

const schema::FieldDef* FieldOf(const Expr& e) {
  const auto* f = std::get_if<FieldRef>(&e.node);
  return f ? f->field : nullptr;
}

NodePtr MakeWildcard(NodePtr subject, const schema::FieldDef* field,
                     const std::vector<std::string>& patterns, bool ci) {
  auto n = std::make_unique<Node>();
  n->kind = Kind::Wildcard;
  n->ci = ci;
  for (const auto& p : patterns) {
    n->patterns.push_back(ci ? AsciiLower(p) : p);
    n->shapes.push_back(ShapeOf(n->patterns.back()));
  }
  n->fts_false_on_null = FtsApplies(field, patterns);
  n->fts_field = field;
  n->kids.push_back(std::move(subject));
  return n;
}

Result<NodePtr> Build(const Expr& e, const RelationSlots& slots) {
  return std::visit(
      [&](const auto& x) -> Result<NodePtr> {
        using T = std::decay_t<decltype(x)>;
        auto n = std::make_unique<Node>();
        if constexpr (std::is_same_v<T, Literal>) {
          n->kind = Kind::Literal;
          std::visit(
              [&](const auto& v) {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::monostate>)
                  n->literal = {};
                else if constexpr (std::is_same_v<V, bool>)
                  n->literal = {std::int64_t{v}};
                else
                  n->literal = {v};
              },
              x.value);
        } else if constexpr (std::is_same_v<T, FieldRef>) {
          if (x.field) {
            n->kind = Kind::Field;
            n->field = x.field;
          } else {
            n->kind = Kind::Extra;
            n->extra = x.extra;
          }
        } else if constexpr (std::is_same_v<T, hunt::Compare>) {
          n->kind = Kind::Compare;
          n->cmp = x.op;
          for (const auto* side : {&x.left, &x.right}) {
            auto k = Build(**side, slots);
            if (!k) return k;
            n->kids.push_back(std::move(*k));
          }
        } else if constexpr (std::is_same_v<T, Match>) {
          auto subject = Build(*x.subject, slots);
          if (!subject) return subject;
          if (x.kind == MatchKind::Wildcard)
            return MakeWildcard(std::move(*subject), FieldOf(*x.subject), x.patterns,
                                x.case_insensitive);
          n->kind = Kind::Regex;
          n->kids.push_back(std::move(*subject));
          for (const auto& p : x.patterns) {
            RE2::Options options;
            options.set_log_errors(false);
            options.set_case_sensitive(!x.case_insensitive);
            options.set_max_mem(8 << 20);
            auto re = std::make_unique<RE2>(p, options);
            if (!re->ok()) return Fail("bad regular expression " + p + ": " + re->error());
            n->regexes.push_back(std::move(re));
          }
        } else if constexpr (std::is_same_v<T, InList>) {
          n->kind = Kind::In;
          n->negated = x.negated;
          n->ci = x.case_insensitive;
          auto s = Build(*x.subject, slots);
          if (!s) return s;
          n->kids.push_back(std::move(*s));
          auto items = BuildAll(x.items, slots);
          if (!items) return std::unexpected(items.error());
          n->items_folded = n->ci;
          for (auto& i : *items) {
            if (n->ci && i->kind == Kind::Literal && !i->literal.IsNull())
              i->literal = Value{AsciiLower(i->literal.Text())};
            else
              n->items_folded = false;
            n->kids.push_back(std::move(i));
          }
        } else if constexpr (std::is_same_v<T, Logic>) {
          n->kind = x.op == LogicOp::And ? Kind::And : Kind::Or;
          auto k = BuildAll(x.operands, slots);
          if (!k) return std::unexpected(k.error());
          n->kids = std::move(*k);
        } else if constexpr (std::is_same_v<T, hunt::Not> || std::is_same_v<T, hunt::Negate> ||
                             std::is_same_v<T, hunt::IsNull>) {
          n->kind = std::is_same_v<T, hunt::Not>      ? Kind::Not
                    : std::is_same_v<T, hunt::Negate> ? Kind::Negate
                                                      : Kind::IsNull;
          if constexpr (std::is_same_v<T, hunt::IsNull>) n->negated = x.negated;
          auto k = Build(*x.operand, slots);
          if (!k) return k;
          n->kids.push_back(std::move(*k));
        } else if constexpr (std::is_same_v<T, hunt::Arith>) {
          n->kind = Kind::Arith;
          n->arith = x.op;
          for (const auto* side : {&x.left, &x.right}) {
            auto k = Build(**side, slots);
            if (!k) return k;
            n->kids.push_back(std::move(*k));
          }
        } else if constexpr (std::is_same_v<T, hunt::Call>) {
          static constexpr std::pair<Function, ArithOp> kArith[] = {
              {Function::Add, ArithOp::Add},
              {Function::Subtract, ArithOp::Sub},
              {Function::Multiply, ArithOp::Mul},
              {Function::Divide, ArithOp::Div},
              {Function::Modulo, ArithOp::Mod}};
          auto k = BuildAll(x.args, slots);
          if (!k) return std::unexpected(k.error());
          for (auto [f, op] : kArith)
            if (x.function == f) {
              n->kind = Kind::Arith;
              n->arith = op;
              n->kids = std::move(*k);
              return n;
            }
          // Literal affixes become patterns, as in the SQL path (same null/FTS behaviour).
          if (x.function == Function::StartsWith || x.function == Function::EndsWith ||
              x.function == Function::StringContains) {
            const auto* l = std::get_if<Literal>(&x.args[1]->node);
            const auto* s = l ? std::get_if<std::string>(&l->value) : nullptr;
            if (s && !s->empty() && !HasWildcard(*s)) {
              std::string p = x.function == Function::StartsWith ? *s + "*"
                              : x.function == Function::EndsWith ? "*" + *s
                                                                 : "*" + *s + "*";
              return MakeWildcard(std::move((*k)[0]), FieldOf(*x.args[0]), {p}, x.case_insensitive);
            }
          }
          n->kind = Kind::Call;
          n->function = x.function;
          n->ci = x.case_insensitive;
          n->kids = std::move(*k);
        } else {
          if (!slots)
            return Fail(
                "relationships (child of, descendant of, event of) are not supported live by a "
                "bare matcher: they need the detection engine's process lineage (vigil rules) "
                "or a hunt");
          auto slot = slots(x);
          if (!slot) return std::unexpected(slot.error());
          n->kind = Kind::Relation;
          n->relation = x.relation;
          n->slot = *slot;
        }
        return n;
      },
      e.node);
}

}  // namespace matcher_detail

Matcher::Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

Result<Matcher> Matcher::Compile(const EventFilter& filter, const RelationSlots& slots) {
  return Compile(*filter.where, filter.category, slots);
}

Result<Matcher> Matcher::Compile(const Expr& where, std::optional<schema::Category> category,
                                 const RelationSlots& slots) {
  auto root = matcher_detail::Build(where, slots);
  if (!root) return std::unexpected(root.error());
  Matcher m;
  m.category_ = category;
  m.root_ = std::move(*root);
  return m;
}

Result<Matcher> Matcher::Compile(const Query& query) {
  if (std::holds_alternative<Sequence>(query.body))
    return Fail(
        "sequences are not supported live by a single-event matcher; the detection engine "
        "(vigil rules) or a hunt runs them");
  if (std::holds_alternative<Sample>(query.body))
    return Fail(
        "samples are not supported live by a single-event matcher; the detection engine "
        "(vigil rules) or a hunt runs them");
  if (!query.pipes.empty())
    return Fail("pipes (" + std::string(PipeName(query.pipes.front().kind)) +
                ") are not supported live by a single-event matcher; the detection engine "
                "(vigil rules) or a hunt runs them");
  return Compile(std::get<EventFilter>(query.body));
}

bool Matcher::Matches(const v1::Event& event, const RelationOracle* oracle) const {
  auto category = schema::CategoryOf(event);
  if (!category) return false;
  if (category_ && *category_ != *category) return false;
  matcher_detail::Evaluator eval(event, *category, oracle);
  return eval.Test(*root_) == matcher_detail::Tri::True;
}

}  // namespace vigil::hunt
