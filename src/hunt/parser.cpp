// The EQL parser: recursive descent over the lexer's tokens, resolving fields against the schema
// and checking types as it builds the AST, so every error has a position and says what was
// expected.
#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/event_json.hpp"
#include "common/time.hpp"
#include "hunt/fields.hpp"
#include "hunt/hunt.hpp"
#include "hunt/lexer.hpp"

namespace vigil::hunt {
namespace {

constexpr std::size_t kMaxSteps = 32;
constexpr std::size_t kMaxListItems = 10000;

struct ParseFailure {
  QueryError error;
};

std::string TypeName(ValueType t) {
  switch (t) {
    case ValueType::Null:
      return "null";
    case ValueType::Bool:
      return "boolean";
    case ValueType::Number:
      return "number";
    case ValueType::String:
      return "string";
    case ValueType::Any:
      return "value";
  }
  return "value";
}

// How a key of the extra map is written back: extra.KEY when that lexes as one name, else
// extra["KEY"].
std::string ExtraName(const std::string& key) {
  bool plain = !key.empty() && key.front() != '.' && key.back() != '.';
  for (char c : key)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
  if (plain) return "extra." + key;
  return "extra[" +
         nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "]";
}

// What an expression is, for messages: "process.pid (long)", "string \"x\"", "number".
std::string DescribeExpr(const Expr& e) {
  if (const auto* f = std::get_if<FieldRef>(&e.node)) {
    std::string event = f->event < 0 ? "" : "events[" + std::to_string(f->event) + "].";
    if (!f->field) return event + ExtraName(f->extra) + " (string, extra map)";
    return event + std::string(f->field->name) + " (" +
           std::string(schema::TypeName(f->field->type)) + ")";
  }
  if (const auto* l = std::get_if<Literal>(&e.node)) {
    if (const auto* s = std::get_if<std::string>(&l->value)) return "string \"" + *s + "\"";
    if (std::holds_alternative<std::monostate>(l->value)) return "null";
    if (const auto* b = std::get_if<bool>(&l->value)) return *b ? "true" : "false";
    if (const auto* i = std::get_if<std::int64_t>(&l->value)) return "number " + std::to_string(*i);
    return "number";
  }
  return "a " + TypeName(e.type) + " expression";
}

bool Compatible(ValueType a, ValueType b) {
  return a == b || a == ValueType::Any || b == ValueType::Any || a == ValueType::Null ||
         b == ValueType::Null;
}

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens) : text_(text), t_(std::move(tokens)) {}

  Query ParseQuery() {
    Query q;
    if (IsKw("sequence")) {
      q.body = ParseSequence();
    } else if (IsKw("sample")) {
      q.body = ParseSample();
    } else {
      q.body = ParseFilter();
    }
    std::optional<schema::Category> pipe_category;
    if (auto* f = std::get_if<EventFilter>(&q.body)) pipe_category = f->category;
    bool events = std::holds_alternative<EventFilter>(q.body);
    // The events of a match, for events[N]: the category of each.
    match_events_.clear();
    if (const auto* seq = std::get_if<Sequence>(&q.body)) {
      for (const auto& step : seq->steps)
        for (int r = 0; !step.missing && r < step.runs; ++r)
          match_events_.push_back(step.filter.category);
    } else if (const auto* sample = std::get_if<Sample>(&q.body)) {
      for (const auto& step : sample->steps) match_events_.push_back(step.filter.category);
    }
    bool after_count = false;
    while (Peek().kind == Tok::Pipe) {
      Next();
      Pipe p = ParsePipe(pipe_category);
      if (after_count && p.kind != PipeKind::Head && p.kind != PipeKind::Tail)
        Fail(p.line, p.column, "only head and tail can follow count");
      if (!events) CheckMatchPipe(p, std::holds_alternative<Sequence>(q.body));
      if (p.kind == PipeKind::Count) after_count = true;
      q.pipes.push_back(std::move(p));
    }
    if (Peek().kind != Tok::End) Expected("'|' or end of query");
    return q;
  }

 private:
  // ---------------------------------------------------------------- tokens
  const Token& Peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool IsKw(std::string_view kw, std::size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.kind == Tok::Ident && !t.quoted_ident && t.text == kw;
  }
  bool Adjacent(std::size_t ahead) const { return Peek(ahead - 1).end == Peek(ahead).begin; }

  [[noreturn]] void Fail(int line, int column, std::string message) {
    throw ParseFailure{QueryError{line, column, std::move(message)}};
  }
  [[noreturn]] void FailAt(const Token& t, std::string message) {
    Fail(t.line, t.column, std::move(message));
  }
  [[noreturn]] void Expected(std::string what) {
    FailAt(Peek(), "expected " + what + ", got " + Describe(Peek()));
  }
  const Token& Expect(Tok kind, std::string_view what = {}) {
    if (Peek().kind != kind)
      Expected(what.empty() ? std::string(TokName(kind)) : std::string(what));
    return Next();
  }
  void ExpectKw(std::string_view kw) {
    if (!IsKw(kw)) Expected("'" + std::string(kw) + "'");
    Next();
  }

  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxNesting)
        p.FailAt(at, "query is nested too deeply (the limit is " + std::to_string(kMaxNesting) +
                         " levels)");
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr Make(const Token& at, ValueType type) {
    auto e = std::make_unique<Expr>();
    e->type = type;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // ---------------------------------------------------------------- queries
  EventFilter ParseFilter() {
    const Token& at = Peek();
    DepthGuard guard(*this, at);
    EventFilter f;
    f.line = at.line;
    f.column = at.column;
    if (at.kind != Tok::Ident && at.kind != Tok::String)
      Expected("an event category (" + CategoryList() + ") or 'any'");
    if (at.kind == Tok::Ident && at.text == "any") {
      Next();
    } else {
      auto c = schema::ParseCategory(at.text);
      if (!c) {
        if (at.kind == Tok::Ident && !IsKw("where", 1))
          FailAt(at, "expected an event category (" + CategoryList() + ") or 'any', got " +
                         Describe(at));
        FailAt(at, "unknown event category '" + at.text + "' (known: " + CategoryList() + ", any)");
      }
      f.category = *c;
      Next();
    }
    ExpectKw("where");
    auto saved = category_;
    category_ = f.category;
    f.where = ParseCondition();
    category_ = saved;
    return f;
  }

  static std::string CategoryList() {
    std::string out;
    for (const auto& c : schema::Categories())
      out += (out.empty() ? "" : ", ") + std::string(c.name);
    return out;
  }

  ExprPtr ParseCondition() {
    const Token& at = Peek();
    ExprPtr e = ParseOr();
    RequireBool(*e, at);
    return e;
  }

  void RequireBool(const Expr& e, const Token& at) {
    if (e.type == ValueType::Bool || e.type == ValueType::Any || e.type == ValueType::Null) return;
    Fail(e.line ? e.line : at.line, e.column ? e.column : at.column,
         "expected a condition, got " + DescribeExpr(e));
  }

  // `by` keys: comma-separated expressions.
  std::vector<ExprPtr> ParseKeys() {
    std::vector<ExprPtr> keys;
    do {
      std::size_t first = i_;
      keys.push_back(ParseOr());
      std::size_t last = i_ > first ? i_ - 1 : first;
      key_text_[keys.back().get()] =
          std::string(text_.substr(t_[first].begin, t_[last].end - t_[first].begin));
    } while (Peek().kind == Tok::Comma && (Next(), true));
    return keys;
  }

  // `[filter] [by keys] [with runs=N]` (by and with in either order); runs only in sequences.
  Step ParseStep(bool allow_runs = false) {
    Expect(Tok::LBracket, "'['");
    Step s;
    s.filter = ParseFilter();
    Expect(Tok::RBracket, "']'");
    bool keys = false, runs = false;
    for (int round = 0; round < 2; ++round) {
      if (IsKw("by") && !keys) {
        Next();
        auto saved = category_;
        category_ = s.filter.category;
        s.keys = ParseKeys();
        category_ = saved;
        keys = true;
      } else if (IsKw("with") && IsKw("runs", 1) && !runs) {
        const Token& at = Peek(1);
        if (!allow_runs) FailAt(at, "runs is only allowed on sequence steps");
        Next(), Next();
        Expect(Tok::Assign, "'='");
        const Token& n = Peek();
        if (n.kind != Tok::Integer) Expected("a number of runs");
        Next();
        if (n.integer < 1 || n.integer > static_cast<std::int64_t>(kMaxSteps))
          FailAt(n, "runs must be between 1 and " + std::to_string(kMaxSteps));
        s.runs = static_cast<int>(n.integer);
        runs = true;
      }
    }
    return s;
  }

  // Shared keys are re-parsed per step so short names resolve in that step's category.
  void ApplySharedKeys(std::size_t keys_at, std::vector<Step*> steps) {
    std::size_t end = i_;
    for (Step* s : steps) {
      i_ = keys_at;
      auto saved = category_;
      category_ = s->filter.category;
      auto shared = ParseKeys();
      category_ = saved;
      for (auto& k : s->keys) shared.push_back(std::move(k));
      s->keys = std::move(shared);
    }
    i_ = end;
  }

  void CheckKeyCounts(const std::vector<Step*>& steps, const std::vector<const Token*>& at) {
    for (std::size_t i = 1; i < steps.size(); ++i)
      if (steps[i]->keys.size() != steps[0]->keys.size())
        FailAt(*at[i], "this step has " + std::to_string(steps[i]->keys.size()) +
                           " join key(s) but the first has " +
                           std::to_string(steps[0]->keys.size()));
  }

  Sequence ParseSequence() {
    const Token& start = Next();
    Sequence seq;
    std::optional<std::size_t> keys_at;
    std::size_t shared = 0;
    for (int round = 0; round < 2; ++round) {
      if (IsKw("by") && !keys_at) {
        Next();
        keys_at = i_;
        defer_fields_ = true;
        seq.keys = ParseKeys();  // syntax only; resolved per step below
        defer_fields_ = false;
        shared = seq.keys.size();
      } else if (IsKw("with") && !seq.maxspan_ns) {
        Next();
        ExpectKw("maxspan");
        Expect(Tok::Assign, "'='");
        seq.maxspan_ns = ParseDuration();
      }
    }
    std::vector<const Token*> at;
    std::size_t expanded = 0;  // steps after `runs`
    while (Peek().kind == Tok::LBracket || Peek().kind == Tok::Bang) {
      const Token& step_at = Peek();
      bool missing = step_at.kind == Tok::Bang;
      if (missing) {
        Next();
        if (Peek().kind != Tok::LBracket) Expected("'[' after '!' (a missing-event step)");
      }
      at.push_back(&step_at);
      seq.steps.push_back(ParseStep(!missing));
      seq.steps.back().missing = missing;
      expanded += static_cast<std::size_t>(seq.steps.back().runs);
      if (expanded > kMaxSteps)
        FailAt(step_at,
               "a sequence has at most " + std::to_string(kMaxSteps) + " steps (runs included)");
    }
    if (seq.steps.empty()) Expected("'[' (a sequence step)");
    std::size_t positive = 0;
    for (const auto& s : seq.steps) positive += s.missing ? 0 : static_cast<std::size_t>(s.runs);
    // Missing-event steps before the first or after the last positive step (Elastic): they need
    // a maxspan, the window in which the event must not occur.
    const Token* edge = nullptr;
    for (std::size_t i = 0; i < seq.steps.size() && !edge; ++i) {
      if (!seq.steps[i].missing) continue;
      bool before = false, after = false;
      for (std::size_t j = 0; j < seq.steps.size(); ++j)
        (j < i ? before : after) |= j != i && !seq.steps[j].missing;
      if (!before || !after) edge = at[i];
    }
    if (positive == 0)
      FailAt(start, "a sequence needs a step that is not a missing-event step (![...])");
    if (positive < 2 && !edge) FailAt(start, "a sequence needs at least two steps");
    if (edge && !seq.maxspan_ns)
      FailAt(*edge,
             "a missing-event step (![...]) first or last in a sequence needs `with maxspan` "
             "(the window in which the event must not occur)");
    if (IsKw("until")) {
      Next();
      at.push_back(&Peek());
      seq.until = ParseStep();
    }
    std::vector<Step*> steps;
    for (auto& s : seq.steps) steps.push_back(&s);
    if (seq.until) steps.push_back(&*seq.until);
    if (keys_at) ApplySharedKeys(*keys_at, steps);
    (void)shared;
    CheckKeyCounts(steps, at);
    return seq;
  }

  Sample ParseSample() {
    const Token& start = Next();
    Sample sample;
    std::optional<std::size_t> keys_at;
    if (IsKw("by")) {
      Next();
      keys_at = i_;
      defer_fields_ = true;
      sample.keys = ParseKeys();
      defer_fields_ = false;
    }
    std::vector<const Token*> at;
    if (Peek().kind == Tok::Bang)
      FailAt(Peek(), "missing-event steps (![...]) are only allowed in sequences");
    while (Peek().kind == Tok::LBracket) {
      if (sample.steps.size() == kMaxSteps)
        FailAt(Peek(), "a sample has at most " + std::to_string(kMaxSteps) + " filters");
      at.push_back(&Peek());
      sample.steps.push_back(ParseStep());
    }
    if (sample.steps.size() < 2) {
      if (sample.steps.empty()) Expected("'[' (a sample filter)");
      FailAt(start, "a sample needs at least two filters");
    }
    std::vector<Step*> steps;
    for (auto& s : sample.steps) steps.push_back(&s);
    if (keys_at) ApplySharedKeys(*keys_at, steps);
    CheckKeyCounts(steps, at);
    if (steps[0]->keys.empty()) FailAt(start, "a sample needs join keys ('sample by ...')");
    return sample;
  }

  std::int64_t ParseDuration() {
    const Token& num = Peek();
    std::string text;
    if (num.kind == Tok::String) {
      text = Next().text;
    } else if (num.kind == Tok::Integer) {
      Next();
      text = num.text;
      if (Peek().kind == Tok::Ident && Peek().begin == num.end) text += Next().text;
    } else {
      Expected("a duration like 30s, 5m, 1h");
    }
    auto ns = ParseDurationNs(text);
    if (!ns)
      FailAt(num, "bad maxspan '" + text + "': expected a duration like 500ms, 30s, 5m, 1h, 1d");
    if (*ns <= 0) FailAt(num, "maxspan must be greater than zero");
    return *ns;
  }

  // The events[N] an expression reads (relationships' inner queries aside); plain: it also reads
  // a field without events[N].
  static void EventsOf(const Expr& e, std::set<int>& out, bool& plain) {
    std::visit(
        [&](const auto& n) {
          using T = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<T, FieldRef>) {
            if (n.event < 0)
              plain = true;
            else
              out.insert(n.event);
          } else if constexpr (std::is_same_v<T, Compare> || std::is_same_v<T, Arith>) {
            EventsOf(*n.left, out, plain), EventsOf(*n.right, out, plain);
          } else if constexpr (std::is_same_v<T, Match>) {
            EventsOf(*n.subject, out, plain);
          } else if constexpr (std::is_same_v<T, InList>) {
            EventsOf(*n.subject, out, plain);
            for (const auto& i : n.items) EventsOf(*i, out, plain);
          } else if constexpr (std::is_same_v<T, Logic>) {
            for (const auto& o : n.operands) EventsOf(*o, out, plain);
          } else if constexpr (std::is_same_v<T, Call>) {
            for (const auto& o : n.args) EventsOf(*o, out, plain);
          } else if constexpr (std::is_same_v<T, Not> || std::is_same_v<T, IsNull> ||
                               std::is_same_v<T, Negate>) {
            EventsOf(*n.operand, out, plain);
          }
        },
        e.node);
  }

  // Pipes after a sequence or sample (Endgame EQL): sort, unique, unique_count and count keys
  // each read one event's fields, events[N].field; a filter reads events[N] of one N, or fields
  // without events[N] (true when one of the match's events satisfies it).
  void CheckMatchPipe(Pipe& p, bool sequence) {
    const std::string name(PipeName(p.kind));
    for (std::size_t k = 0; k < p.args.size(); ++k) {
      const Expr& arg = *p.args[k];
      std::set<int> used;
      bool plain = false;
      EventsOf(arg, used, plain);
      if (used.size() > 1 || (used.size() == 1 && plain))
        Fail(arg.line, arg.column,
             "this " + name + (p.kind == PipeKind::Filter ? " condition" : " key") +
                 " reads several events of the match (events[N] of one N, or fields without "
                 "events[N] in a filter)");
      if (p.kind != PipeKind::Filter && used.empty())
        Fail(arg.line, arg.column,
             name + " after a " + (sequence ? "sequence" : "sample") +
                 " needs the event each key reads: events[N].field (N from 0 to " +
                 std::to_string(match_events_.size() - 1) + ")");
      p.arg_event.push_back(used.empty() ? -1 : *used.begin());
    }
  }

  Pipe ParsePipe(std::optional<schema::Category> category) {
    const Token& at = Peek();
    Pipe p;
    p.line = at.line;
    p.column = at.column;
    if (at.kind != Tok::Ident)
      Expected("a pipe (head, tail, count, unique, unique_count, sort, filter)");
    std::string name = at.text;
    Next();
    auto saved = category_;
    category_ = category;
    if (name == "head" || name == "tail") {
      p.kind = name == "head" ? PipeKind::Head : PipeKind::Tail;
      p.count = 10;
      if (Peek().kind == Tok::Integer) {
        p.count = Next().integer;
        if (p.count <= 0) FailAt(at, name + " needs a positive number");
      } else if (Peek().kind != Tok::Pipe && Peek().kind != Tok::End) {
        Expected("a number of results");
      }
    } else if (name == "count") {
      p.kind = PipeKind::Count;
      if (Peek().kind != Tok::Pipe && Peek().kind != Tok::End) p.args = ParseKeys();
    } else if (name == "sort") {
      p.kind = PipeKind::Sort;
      if (Peek().kind == Tok::Pipe || Peek().kind == Tok::End) Expected("a field");
      // `-key` or `key desc` sorts descending, `key asc` (the default) ascending.
      do {
        bool minus = Peek().kind == Tok::Minus;
        if (minus) Next();
        std::size_t first = i_;
        p.args.push_back(ParseOr());
        std::size_t last = i_ > first ? i_ - 1 : first;
        key_text_[p.args.back().get()] =
            std::string(text_.substr(t_[first].begin, t_[last].end - t_[first].begin));
        bool desc = minus;
        if (IsKw("desc") || IsKw("asc")) {
          if (minus) FailAt(Peek(), "use either -key or key " + Peek().text + ", not both");
          desc = Next().text == "desc";
        }
        p.descending.push_back(desc);
      } while (Peek().kind == Tok::Comma && (Next(), true));
    } else if (name == "unique" || name == "unique_count") {
      p.kind = name == "unique" ? PipeKind::Unique : PipeKind::UniqueCount;
      if (Peek().kind == Tok::Pipe || Peek().kind == Tok::End) Expected("a field");
      p.args = ParseKeys();
    } else if (name == "filter") {
      p.kind = PipeKind::Filter;
      p.args.push_back(ParseCondition());
    } else {
      FailAt(at, "unknown pipe '" + name +
                     "' (known: head, tail, count, unique, unique_count, sort, filter)");
    }
    category_ = saved;
    for (std::size_t k = 0; k < p.args.size(); ++k) p.arg_names.push_back(NameOf(*p.args[k], k));
    return p;
  }

  // A key's output name: the field's name, or the expression's source text.
  std::string NameOf(const Expr& e, std::size_t k) const {
    auto it = key_text_.find(&e);
    if (const auto* f = std::get_if<FieldRef>(&e.node); f && f->field && f->event < 0)
      return std::string(f->field->name);
    return it != key_text_.end() ? it->second : "key" + std::to_string(k);
  }

  // ---------------------------------------------------------------- expressions
  ExprPtr ParseOr() {
    const Token& at = Peek();
    ExprPtr first = ParseAnd();
    if (!IsKw("or")) return first;
    auto e = Make(at, ValueType::Bool);
    e->line = first->line, e->column = first->column;
    Logic logic{LogicOp::Or, {}};
    RequireBool(*first, at);
    logic.operands.push_back(std::move(first));
    while (IsKw("or")) {
      Next();
      const Token& op_at = Peek();
      auto operand = ParseAnd();
      RequireBool(*operand, op_at);
      logic.operands.push_back(std::move(operand));
    }
    e->node = std::move(logic);
    return e;
  }

  ExprPtr ParseAnd() {
    const Token& at = Peek();
    ExprPtr first = ParseNot();
    if (!IsKw("and")) return first;
    auto e = Make(at, ValueType::Bool);
    e->line = first->line, e->column = first->column;
    Logic logic{LogicOp::And, {}};
    RequireBool(*first, at);
    logic.operands.push_back(std::move(first));
    while (IsKw("and")) {
      Next();
      const Token& op_at = Peek();
      auto operand = ParseNot();
      RequireBool(*operand, op_at);
      logic.operands.push_back(std::move(operand));
    }
    e->node = std::move(logic);
    return e;
  }

  ExprPtr ParseNot() {
    if (IsKw("not") && !IsKw("in", 1)) {
      const Token& at = Next();
      DepthGuard guard(*this, at);
      const Token& operand_at = Peek();
      auto operand = ParseNot();
      RequireBool(*operand, operand_at);
      auto e = Make(at, ValueType::Bool);
      e->node = Not{std::move(operand)};
      return e;
    }
    return ParsePredicate();
  }

  static std::optional<CompareOp> CompareOpOf(Tok k) {
    switch (k) {
      case Tok::Eq:
        return CompareOp::Eq;
      case Tok::Ne:
        return CompareOp::Ne;
      case Tok::Lt:
        return CompareOp::Lt;
      case Tok::Le:
        return CompareOp::Le;
      case Tok::Gt:
        return CompareOp::Gt;
      case Tok::Ge:
        return CompareOp::Ge;
      default:
        return std::nullopt;
    }
  }

  bool TakeTilde() {
    if (Peek().kind == Tok::Tilde && i_ > 0 && t_[i_ - 1].end == Peek().begin) {
      Next();
      return true;
    }
    if (Peek().kind == Tok::Tilde) FailAt(Peek(), "'~' must directly follow the operator");
    return false;
  }

  ExprPtr ParsePredicate() {
    ExprPtr left = ParseAdditive();
    const Token& op = Peek();
    if (auto cmp = CompareOpOf(op.kind)) {
      Next();
      ExprPtr right = ParseAdditive();
      return BuildCompare(op, *cmp, std::move(left), std::move(right));
    }
    if (op.kind == Tok::Assign) FailAt(op, "use == to compare ('=' is not an operator)");
    if (op.kind == Tok::Colon) {
      Next();
      auto patterns = ParsePatternList(":");
      return BuildWildcard(op, std::move(left), std::move(patterns), true, ":");
    }
    if (IsKw("like") || IsKw("regex")) {
      bool regex = op.text == "regex";
      Next();
      bool ci = TakeTilde();
      std::string name = op.text + (ci ? "~" : "");
      auto patterns = ParsePatternList(name);
      if (regex) return BuildRegex(op, std::move(left), std::move(patterns), ci);
      return BuildWildcard(op, std::move(left), std::move(patterns), ci, name);
    }
    bool negated = false;
    if (IsKw("not") && IsKw("in", 1)) {
      Next();
      negated = true;
    }
    if (IsKw("in")) {
      Next();
      bool ci = TakeTilde();
      return BuildIn(op, std::move(left), negated, ci);
    }
    return left;
  }

  // A pattern or a parenthesised list of patterns (string literals).
  std::vector<std::pair<std::string, const Token*>> ParsePatternList(const std::string& op) {
    std::vector<std::pair<std::string, const Token*>> out;
    auto one = [&] {
      if (Peek().kind != Tok::String) Expected("a string pattern after " + op);
      const Token& t = Next();
      out.emplace_back(t.text, &t);
    };
    if (Peek().kind == Tok::LParen) {
      Next();
      do {
        if (out.size() == kMaxListItems) FailAt(Peek(), "too many patterns");
        one();
      } while (Peek().kind == Tok::Comma && (Next(), true));
      Expect(Tok::RParen, "',' or ')'");
    } else {
      one();
    }
    return out;
  }

  void RequireStringSubject(const Token& op, const Expr& subject, const std::string& what) {
    if (subject.type == ValueType::String || subject.type == ValueType::Any ||
        subject.type == ValueType::Null)
      return;
    FailAt(op, what + " needs a string, got " + DescribeExpr(subject));
  }

  ExprPtr BuildWildcard(const Token& op, ExprPtr subject,
                        std::vector<std::pair<std::string, const Token*>> patterns, bool ci,
                        const std::string& name) {
    // `:` on a number or boolean is equality (EQL).
    if (name == ":" && (subject->type == ValueType::Number || subject->type == ValueType::Bool))
      FailAt(op, "':' needs a string field, got " + DescribeExpr(*subject) + "; use == or in");
    RequireStringSubject(op, *subject, name);
    auto e = Make(op, ValueType::Bool);
    e->line = subject->line, e->column = subject->column;
    Match m{MatchKind::Wildcard, ci, std::move(subject), {}};
    for (auto& [p, t] : patterns) m.patterns.push_back(std::move(p));
    e->node = std::move(m);
    return e;
  }

  ExprPtr BuildRegex(const Token& op, ExprPtr subject,
                     std::vector<std::pair<std::string, const Token*>> patterns, bool ci) {
    RequireStringSubject(op, *subject, ci ? "regex~" : "regex");
    for (auto& [p, t] : patterns) {
      std::string error;
      if (!ValidRegex(p, error)) FailAt(*t, "bad regular expression: " + error);
    }
    auto e = Make(op, ValueType::Bool);
    e->line = subject->line, e->column = subject->column;
    Match m{MatchKind::Regex, ci, std::move(subject), {}};
    for (auto& [p, t] : patterns) m.patterns.push_back(std::move(p));
    e->node = std::move(m);
    return e;
  }

  static bool ValidRegex(const std::string& pattern, std::string& error);

  // Timestamps compare with RFC 3339 strings too: convert the literal.
  void CoerceTimestamp(const Expr& field_side, Expr& other) {
    const auto* f = std::get_if<FieldRef>(&field_side.node);
    auto* l = std::get_if<Literal>(&other.node);
    if (!f || !l || !f->field || f->field->type != schema::FieldType::Timestamp) return;
    const auto* s = std::get_if<std::string>(&l->value);
    if (!s) return;
    auto ns = ParseTimestamp(nlohmann::json(*s));
    if (!ns) Fail(other.line, other.column, "bad timestamp \"" + *s + "\": expected RFC 3339");
    l->value = *ns;
    other.type = ValueType::Number;
  }

  ExprPtr BuildCompare(const Token& op, CompareOp cmp, ExprPtr left, ExprPtr right) {
    bool left_null = left->type == ValueType::Null, right_null = right->type == ValueType::Null;
    if (left_null && !right_null) std::swap(left, right), right_null = true, left_null = false;
    if (right_null) {
      if (cmp != CompareOp::Eq && cmp != CompareOp::Ne)
        FailAt(op, "only == and != can compare with null");
      auto e = Make(op, ValueType::Bool);
      e->line = left->line, e->column = left->column;
      e->node = IsNull{std::move(left), cmp == CompareOp::Ne};
      return e;
    }
    CoerceTimestamp(*left, *right);
    CoerceTimestamp(*right, *left);
    if (!Compatible(left->type, right->type))
      FailAt(op, "cannot compare " + DescribeExpr(*left) + " with " + DescribeExpr(*right));
    if (left->type == ValueType::Bool && cmp != CompareOp::Eq && cmp != CompareOp::Ne)
      FailAt(op, "booleans can only be compared with == and !=");
    auto e = Make(op, ValueType::Bool);
    e->line = left->line, e->column = left->column;
    e->node = Compare{cmp, std::move(left), std::move(right)};
    return e;
  }

  ExprPtr BuildIn(const Token& op, ExprPtr subject, bool negated, bool ci) {
    Expect(Tok::LParen, "'(' after in");
    InList in{std::move(subject), {}, negated, ci};
    if (ci) RequireStringSubject(op, *in.subject, "in~");
    do {
      if (in.items.size() == kMaxListItems) FailAt(Peek(), "too many values in the list");
      const Token& at = Peek();
      ExprPtr item = ParseAdditive();
      CoerceTimestamp(*in.subject, *item);
      if (!Compatible(in.subject->type, item->type))
        FailAt(at, "cannot compare " + DescribeExpr(*in.subject) + " with " + DescribeExpr(*item));
      in.items.push_back(std::move(item));
    } while (Peek().kind == Tok::Comma && (Next(), true));
    Expect(Tok::RParen, "',' or ')'");
    auto e = Make(op, ValueType::Bool);
    e->line = in.subject->line, e->column = in.subject->column;
    e->node = std::move(in);
    return e;
  }

  ExprPtr BuildArith(const Token& op, ArithOp kind, ExprPtr left, ExprPtr right) {
    for (const Expr* side : {left.get(), right.get()})
      if (side->type != ValueType::Number && side->type != ValueType::Any &&
          side->type != ValueType::Null)
        FailAt(op, "arithmetic needs numbers, got " + DescribeExpr(*side));
    auto e = Make(op, ValueType::Number);
    e->line = left->line, e->column = left->column;
    e->node = Arith{kind, std::move(left), std::move(right)};
    return e;
  }

  ExprPtr ParseAdditive() {
    ExprPtr left = ParseMultiplicative();
    while (Peek().kind == Tok::Plus || Peek().kind == Tok::Minus) {
      const Token& op = Next();
      ExprPtr right = ParseMultiplicative();
      left = BuildArith(op, op.kind == Tok::Plus ? ArithOp::Add : ArithOp::Sub, std::move(left),
                        std::move(right));
    }
    return left;
  }

  ExprPtr ParseMultiplicative() {
    ExprPtr left = ParseUnary();
    while (Peek().kind == Tok::Star || Peek().kind == Tok::Slash || Peek().kind == Tok::Percent) {
      const Token& op = Next();
      ArithOp kind = op.kind == Tok::Star    ? ArithOp::Mul
                     : op.kind == Tok::Slash ? ArithOp::Div
                                             : ArithOp::Mod;
      ExprPtr right = ParseUnary();
      left = BuildArith(op, kind, std::move(left), std::move(right));
    }
    return left;
  }

  ExprPtr ParseUnary() {
    if (Peek().kind == Tok::Minus) {
      const Token& op = Next();
      DepthGuard guard(*this, op);
      // A negative number literal stays a literal.
      if ((Peek().kind == Tok::Integer || Peek().kind == Tok::Float) && Adjacent(1)) {
        const Token& n = Next();
        auto e = Make(op, ValueType::Number);
        if (n.kind == Tok::Integer)
          e->node = Literal{-n.integer};
        else
          e->node = Literal{-n.real};
        return e;
      }
      ExprPtr operand = ParseUnary();
      if (operand->type != ValueType::Number && operand->type != ValueType::Any &&
          operand->type != ValueType::Null)
        FailAt(op, "'-' needs a number, got " + DescribeExpr(*operand));
      auto e = Make(op, ValueType::Number);
      e->node = Negate{std::move(operand)};
      return e;
    }
    return ParsePrimary();
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    DepthGuard guard(*this, t);
    switch (t.kind) {
      case Tok::LParen: {
        Next();
        ExprPtr inner = ParseOr();
        Expect(Tok::RParen, "')'");
        return inner;
      }
      case Tok::String: {
        Next();
        auto e = Make(t, ValueType::String);
        e->node = Literal{t.text};
        return e;
      }
      case Tok::Integer: {
        Next();
        auto e = Make(t, ValueType::Number);
        e->node = Literal{t.integer};
        return e;
      }
      case Tok::Float: {
        Next();
        auto e = Make(t, ValueType::Number);
        e->node = Literal{t.real};
        return e;
      }
      case Tok::Ident:
        break;
      case Tok::Bang:
        FailAt(t,
               "unexpected '!' (did you mean != or not? '!' only marks a missing-event "
               "sequence step, ![...])");
      default:
        Expected("a field, value, function or '('");
    }
    if (!t.quoted_ident) {
      if (t.text == "true" || t.text == "false") {
        Next();
        auto e = Make(t, ValueType::Bool);
        e->node = Literal{t.text == "true"};
        return e;
      }
      if (t.text == "null") {
        Next();
        auto e = Make(t, ValueType::Null);
        e->node = Literal{};
        return e;
      }
      if ((t.text == "child" || t.text == "descendant" || t.text == "event") && IsKw("of", 1))
        return ParseRelationship();
      if (Peek(1).kind == Tok::LParen && Adjacent(1)) return ParseCall(false);
      if (Peek(1).kind == Tok::Tilde && Adjacent(1) && Peek(2).kind == Tok::LParen && Adjacent(2))
        return ParseCall(true);
      static constexpr std::string_view kReserved[] = {
          "and",   "or",   "not",   "in",       "where",  "by", "with",
          "until", "like", "regex", "sequence", "sample", "of", "maxspan"};
      for (auto kw : kReserved)
        if (t.text == kw) Expected("a field, value, function or '('");
    }
    if (!t.quoted_ident && t.text.starts_with("events[")) return ParseEventField();
    if (!t.quoted_ident && (t.text == "extra" || t.text.starts_with("extra."))) {
      Next();
      return ParseExtraField(t, t.text);
    }
    Next();
    if (defer_fields_) {  // shared join keys: resolved per step later
      auto e = Make(t, ValueType::Any);
      e->node = Literal{};
      return e;
    }
    auto lookup = ResolveField(t.text, category_);
    if (!lookup.field) FailAt(t, lookup.error);
    auto e = Make(t, TypeOf(*lookup.field));
    e->node = FieldRef{lookup.field, {}};
    return e;
  }

  // A key of the event's extra map (imported fields the schema does not name): `extra.Key`
  // (the rest of the dotted name is the key, dots included) or `extra["any key"]`. The values are
  // strings; a missing key is null.
  ExprPtr ParseExtraField(const Token& t, std::string_view name) {
    std::string key;
    if (name == "extra") {
      if (Peek().kind != Tok::LBracket)
        FailAt(t,
               "extra is the map of fields outside the schema: write extra.NAME or "
               "extra[\"NAME\"]");
      Next();
      const Token& k = Peek();
      if (k.kind != Tok::String) Expected("a string key in extra[...]");
      Next();
      Expect(Tok::RBracket, "']' after the extra key");
      key = k.text;
      if (key.empty()) FailAt(k, "empty extra key");
    } else {
      key = std::string(name.substr(6));
      if (key.empty() || key.back() == '.')
        FailAt(t, "expected a key after 'extra.' (extra.NAME or extra[\"NAME\"])");
    }
    auto e = Make(t, ValueType::String);
    e->node = FieldRef{nullptr, std::move(key)};
    return e;
  }

  // `events[N].field` (one token, see the lexer): the field of the match's N-th event, resolved
  // in that event's category.
  ExprPtr ParseEventField() {
    const Token& t = Next();
    std::size_t close = t.text.find(']');
    std::string digits = t.text.substr(7, close - 7);
    if (match_events_.empty())
      FailAt(t,
             "events[N] names an event of a sequence or sample match: it is only allowed in "
             "pipes after one");
    std::size_t n = digits.size() > 4 ? kMaxSteps : std::stoul(digits);
    if (n >= match_events_.size())
      FailAt(t, "events[" + digits + "]: a match has " + std::to_string(match_events_.size()) +
                    " events (events[0] to events[" + std::to_string(match_events_.size() - 1) +
                    "])");
    std::string name = t.text.substr(close + 2);
    ExprPtr e;
    if (name == "extra" || name.starts_with("extra.")) {
      e = ParseExtraField(t, name);
    } else {
      auto lookup = ResolveField(name, match_events_[n]);
      if (!lookup.field) FailAt(t, "events[" + digits + "]: " + lookup.error);
      e = Make(t, TypeOf(*lookup.field));
      e->node = FieldRef{lookup.field, {}};
    }
    std::get<FieldRef>(e->node).event = static_cast<int>(n);
    return e;
  }

  ExprPtr ParseRelationship() {
    const Token& kw = Next();
    Next();  // of
    Relation r = kw.text == "child"        ? Relation::ChildOf
                 : kw.text == "descendant" ? Relation::DescendantOf
                                           : Relation::EventOf;
    Expect(Tok::LBracket, "'[' after '" + kw.text + " of'");
    auto match_events = std::exchange(match_events_, {});  // no events[N] in the inner query
    auto filter = std::make_unique<EventFilter>(ParseFilter());
    match_events_ = std::move(match_events);
    Expect(Tok::RBracket, "']'");
    auto e = Make(kw, ValueType::Bool);
    e->node = Relationship{r, std::move(filter)};
    return e;
  }

  ExprPtr ParseCall(bool ci) {
    const Token& name = Next();
    if (ci) Next();  // ~
    Next();          // (
    const FunctionSig* sig = FindFunction(name.text);
    if (!sig) {
      auto near = SuggestFunctions(name.text);
      std::string msg = "unknown function " + name.text;
      if (!near.empty()) {
        msg += " (did you mean ";
        for (std::size_t i = 0; i < near.size(); ++i) msg += (i ? ", " : "") + near[i];
        msg += "?)";
      }
      FailAt(name, msg);
    }
    if (ci && !sig->has_insensitive)
      FailAt(name, "function " + std::string(sig->name) + " has no case-insensitive (~) variant");
    Call call{sig->function, ci, {}};
    std::vector<const Token*> arg_at;
    if (Peek().kind != Tok::RParen) {
      do {
        if (call.args.size() == kMaxListItems) FailAt(Peek(), "too many arguments");
        arg_at.push_back(&Peek());
        call.args.push_back(ParseOr());
      } while (Peek().kind == Tok::Comma && (Next(), true));
    }
    Expect(Tok::RParen, "',' or ')'");
    int n = static_cast<int>(call.args.size());
    if (n < sig->min_args || (sig->max_args >= 0 && n > sig->max_args)) {
      std::string want = sig->max_args < 0 ? "at least " + std::to_string(sig->min_args)
                         : sig->min_args == sig->max_args ? std::to_string(sig->min_args)
                                                          : std::to_string(sig->min_args) + " to " +
                                                                std::to_string(sig->max_args);
      FailAt(name,
             std::string(sig->name) + " takes " + want + " argument(s), got " + std::to_string(n));
    }
    for (int i = 0; i < n; ++i) {
      char want = sig->arg_types[std::min<std::size_t>(i, sig->arg_types.size() - 1)];
      ValueType got = call.args[i]->type;
      ValueType need = want == 'S'   ? ValueType::String
                       : want == 'N' ? ValueType::Number
                                     : ValueType::Any;
      if (!Compatible(need, got))
        FailAt(*arg_at[i], "argument " + std::to_string(i + 1) + " of " + std::string(sig->name) +
                               " must be a " + TypeName(need) + ", got " +
                               DescribeExpr(*call.args[i]));
    }
    // Patterns and CIDR blocks must be literals, checked now.
    if (sig->function == Function::Wildcard || sig->function == Function::CidrMatch) {
      for (int i = 1; i < n; ++i) {
        const auto* l = std::get_if<Literal>(&call.args[i]->node);
        const auto* s = l ? std::get_if<std::string>(&l->value) : nullptr;
        if (!s)
          FailAt(*arg_at[i],
                 std::string(sig->name) + " needs string literals after the first argument");
        if (sig->function == Function::CidrMatch && !ValidCidr(*s))
          FailAt(*arg_at[i], "bad CIDR block \"" + *s + "\": expected like 10.0.0.0/8 or fd00::/8");
      }
    }
    if (sig->function == Function::Wildcard) {  // same as `like` / `like~`
      auto e = Make(name, ValueType::Bool);
      Match m{MatchKind::Wildcard, ci, std::move(call.args[0]), {}};
      for (int i = 1; i < n; ++i)
        m.patterns.push_back(std::get<std::string>(std::get<Literal>(call.args[i]->node).value));
      e->node = std::move(m);
      return e;
    }
    auto e = Make(name, sig->result);
    e->node = std::move(call);
    return e;
  }

  static bool ValidCidr(const std::string& cidr);

  std::string_view text_;
  std::vector<Token> t_;
  std::size_t i_ = 0;
  int depth_ = 0;
  std::optional<schema::Category> category_;
  std::map<const Expr*, std::string> key_text_;
  std::vector<std::optional<schema::Category>> match_events_;  // pipes after a sequence/sample
  bool defer_fields_ = false;
};

}  // namespace
}  // namespace vigil::hunt

// RE2 and CIDR validation live with the SQL functions that evaluate them.
#include "hunt/functions.hpp"

namespace vigil::hunt {
namespace {
bool Parser::ValidRegex(const std::string& pattern, std::string& error) {
  return CheckRegex(pattern, error);
}
bool Parser::ValidCidr(const std::string& cidr) { return ParseCidr(cidr).has_value(); }
}  // namespace

std::string QueryError::Format() const {
  return std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string_view PipeName(PipeKind kind) {
  switch (kind) {
    case PipeKind::Head:
      return "head";
    case PipeKind::Tail:
      return "tail";
    case PipeKind::Count:
      return "count";
    case PipeKind::Unique:
      return "unique";
    case PipeKind::UniqueCount:
      return "unique_count";
    case PipeKind::Sort:
      return "sort";
    case PipeKind::Filter:
      return "filter";
  }
  return "?";
}

std::expected<Query, QueryError> ParseQuery(std::string_view text) {
  auto tokens = Lex(text);
  if (!tokens) return std::unexpected(tokens.error());
  try {
    return Parser(text, std::move(*tokens)).ParseQuery();
  } catch (const ParseFailure& f) {
    return std::unexpected(f.error);
  }
}

Result<Query> Parse(std::string_view text) {
  auto q = ParseQuery(text);
  if (!q) return vigil::Fail(q.error().Format());
  return std::move(*q);
}

}  // namespace vigil::hunt
