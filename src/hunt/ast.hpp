// The typed abstract syntax tree of an EQL query: what the parser produces and the SQL compiler
// (and later the live matcher) consume. Fields are resolved against the schema at parse time, so
// every FieldRef names a schema::FieldDef and every expression carries its value type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/schema.hpp"

namespace vigil::hunt {

enum class ValueType : std::uint8_t { Null, Bool, Number, String, Any };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
struct EventFilter;

struct Literal {
  std::variant<std::monostate, bool, std::int64_t, double, std::string> value;
};

// A schema field, or (field == nullptr) a key of the event's extra map: imported events keep
// fields the schema does not name there (Sysmon's OriginalFileName, ...); Sigma rules match them.
struct FieldRef {
  const schema::FieldDef* field = nullptr;
  std::string extra;  // the extra-map key when field is nullptr
  // Pipes after a sequence or sample: `events[N].field`, the field of the match's N-th event
  // (runs counted, missing-event steps not); -1 otherwise.
  int event = -1;
  bool IsList() const { return field && field->type == schema::FieldType::Keywords; }
};

enum class CompareOp : std::uint8_t { Eq, Ne, Lt, Le, Gt, Ge };
struct Compare {
  CompareOp op;
  ExprPtr left, right;
};

// `:`, like, like~, wildcard(), regex, regex~: the subject against any of the patterns.
enum class MatchKind : std::uint8_t { Wildcard, Regex };
struct Match {
  MatchKind kind;
  bool case_insensitive;
  ExprPtr subject;
  std::vector<std::string> patterns;  // wildcard patterns use * and ? (no escapes)
};

struct InList {
  ExprPtr subject;
  std::vector<ExprPtr> items;
  bool negated = false;
  bool case_insensitive = false;
};

enum class LogicOp : std::uint8_t { And, Or };
struct Logic {
  LogicOp op;
  std::vector<ExprPtr> operands;
};

struct Not {
  ExprPtr operand;
};

struct IsNull {
  ExprPtr operand;
  bool negated = false;  // field != null
};

enum class ArithOp : std::uint8_t { Add, Sub, Mul, Div, Mod };
struct Arith {
  ArithOp op;
  ExprPtr left, right;
};

struct Negate {
  ExprPtr operand;
};

enum class Function : std::uint8_t {
  Add,
  Between,
  CidrMatch,
  Concat,
  Divide,
  EndsWith,
  IndexOf,
  Length,
  Modulo,
  Multiply,
  Number,
  StartsWith,
  String,
  StringContains,
  Substring,
  Subtract,
  Wildcard,
};
struct Call {
  Function function;
  bool case_insensitive = false;
  std::vector<ExprPtr> args;
};

// Endgame EQL process relationships, through process.entity_id / process.parent.entity_id.
enum class Relation : std::uint8_t { ChildOf, DescendantOf, EventOf };
struct Relationship {
  Relation relation;
  std::unique_ptr<EventFilter> filter;
};

struct Expr {
  std::variant<Literal, FieldRef, Compare, Match, InList, Logic, Not, IsNull, Arith, Negate, Call,
               Relationship>
      node;
  ValueType type = ValueType::Any;
  int line = 1, column = 1;
};

// `<category> where <expr>`; category nullopt is `any`.
struct EventFilter {
  std::optional<schema::Category> category;
  ExprPtr where;
  int line = 1, column = 1;
};

struct Step {
  EventFilter filter;
  std::vector<ExprPtr> keys;  // per-step `by` keys (appended to the shared keys)
  int runs = 1;               // `[q] with runs=N`: the step repeated N times (sequences)
  bool missing = false;       // `![q]`: no such event between the neighbouring steps
};

struct Sequence {
  std::vector<ExprPtr> keys;  // shared `sequence by` keys
  std::optional<std::int64_t> maxspan_ns;
  std::vector<Step> steps;
  std::optional<Step> until;
};

struct Sample {
  std::vector<ExprPtr> keys;
  std::vector<Step> steps;
};

enum class PipeKind : std::uint8_t { Head, Tail, Count, Unique, UniqueCount, Sort, Filter };
struct Pipe {
  PipeKind kind;
  std::int64_t count = 0;              // head/tail
  std::vector<ExprPtr> args;           // count/unique/unique_count/sort keys; filter: one condition
  std::vector<std::string> arg_names;  // per arg: the field name, or the expression's text
  std::vector<bool> descending;        // sort: per key, `-key` or `key desc`
  // After a sequence or sample: per arg, the event (N of events[N]) it reads; -1: a filter
  // without events[N], which a match passes when one of its events satisfies it.
  std::vector<int> arg_event;
  int line = 1, column = 1;
};

struct Query {
  std::variant<EventFilter, Sequence, Sample> body;
  std::vector<Pipe> pipes;
};

std::string_view PipeName(PipeKind kind);
std::string_view FunctionName(Function function);

}  // namespace vigil::hunt
