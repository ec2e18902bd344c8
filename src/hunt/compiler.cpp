// AST -> SQL. Conditions become WHERE clauses on the category tables (indexes on equality, GLOB
// prefixes, the store's text index (vigil_text) for substring wildcards on text fields),
// relationships become IN-subqueries over the process table (a recursive CTE for descendants),
// pipes become nested SELECTs with window functions and GROUP BY.
#include "hunt/compiler.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/utf8.hpp"
#include "hunt/fields.hpp"
#include "hunt/functions.hpp"
#include "server/store/text_index.hpp"

namespace vigil::hunt {
namespace {

using schema::Category;

std::string QuoteIdent(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteString(std::string_view s) {
  // NUL cannot appear in SQL text, and \x01 \x02 mark index terms (MarkIndexTerm): use a blob.
  if (s.find_first_of(std::string_view("\0\x01\x02", 3)) != std::string_view::npos) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "CAST(X'";
    for (unsigned char c : s) out += kHex[c >> 4], out += kHex[c & 15];
    return out + "' AS TEXT)";
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string Real(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // stays REAL (n: nan/inf)
  if (s == "inf") return "9e999";
  if (s == "-inf") return "-9e999";
  if (s.find("nan") != std::string::npos) return "NULL";
  return s;
}

bool HasWildcard(std::string_view p) { return p.find_first_of("*?") != std::string_view::npos; }

std::string ToLike(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '*')
      out += '%';
    else if (c == '?')
      out += '_';
    else {
      if (c == '%' || c == '_' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

std::string ToGlob(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '[')
      out += "[[]";
    else
      out += c;
  }
  return out;
}

std::size_t Utf8Length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The values as a JSON array for vigil_text / vigil_terms, or nullopt when one is not UTF-8 (JSON
// cannot carry it; the prefilter is then left out and the exact check alone decides).
std::optional<std::string> JsonArray(const std::vector<std::string>& values) {
  if (!std::ranges::all_of(values, [](const std::string& v) { return IsValidUtf8(v); }))
    return std::nullopt;
  return nlohmann::json(values).dump();
}

// Whether the wildcard pattern has a literal run of 3+ characters (the text index needs one).
bool HasTrigramRun(const std::string& pattern) {
  std::size_t start = 0;
  while (start <= pattern.size()) {
    std::size_t end = pattern.find_first_of("*?", start);
    if (end == std::string::npos) end = pattern.size();
    if (Utf8Length(std::string_view(pattern).substr(start, end - start)) >= 3) return true;
    start = end + 1;
  }
  return false;
}

const std::string_view kTimestampColumn = "timestamp";

struct Scope {
  std::optional<Category> table;  // base scope: the table's columns; nullopt with pipe
  std::string qualifier;          // how subqueries refer to this row
  bool pipe = false;              // fields are projected columns named after FieldDef::column
};

class Compiler {
 public:
  explicit Compiler(const HuntOptions& options) : options_(options) {}

  Result<Plan> Compile(const Query& q) {
    auto plan = CompileBody(q);
    if (plan) plan->index_terms = std::move(terms_);
    return plan;
  }

 private:
  Result<Plan> CompileBody(const Query& q) {
    Plan plan;
    if (const auto* f = std::get_if<EventFilter>(&q.body)) return CompileEvents(*f, q.pipes);
    if (const auto* s = std::get_if<Sequence>(&q.body)) {
      plan.kind = Plan::Kind::Sequence;
      for (const auto& step : s->steps) {
        std::string keyed;
        std::string sql = StepSql(step, &keyed);
        for (int r = 0; r < step.runs; ++r) {
          plan.step_sql.push_back(sql);
          plan.step_keyed_sql.push_back(keyed);
          plan.step_missing.push_back(step.missing);
        }
      }
      if (s->until) {
        std::string keyed;
        plan.step_sql.push_back(StepSql(*s->until, &keyed));
        plan.step_keyed_sql.push_back(keyed);
        plan.step_missing.push_back(false);
        plan.has_until = true;
      }
      plan.key_count = s->steps[0].keys.size();
      plan.maxspan_ns = s->maxspan_ns;
    } else {
      const auto& sample = std::get<Sample>(q.body);
      plan.kind = Plan::Kind::Sample;
      for (const auto& step : sample.steps) {
        std::string keyed;
        plan.step_sql.push_back(StepSql(step, &keyed));
        plan.step_keyed_sql.push_back(keyed);
      }
      plan.key_count = sample.steps[0].keys.size();
    }
    for (const auto& p : q.pipes) {
      plan.pipes.push_back(&p);
      std::map<std::string, std::string> filter;
      if (p.kind == PipeKind::Filter)
        for (const auto& c : schema::Categories()) {
          std::string name(c.name);
          Scope scope{c.category, QuoteIdent(name), false};
          filter[name] =
              "SELECT 1 FROM " + QuoteIdent(name) + " WHERE id = ?1 AND " + Expr(*p.args[0], scope);
        }
      plan.pipe_filter_sql.push_back(std::move(filter));
      std::vector<std::map<std::string, std::string>> keys;
      if (p.kind != PipeKind::Filter)
        for (const auto& k : p.args) {
          auto& per_table = keys.emplace_back();
          for (const auto& c : schema::Categories()) {
            std::string name(c.name);
            Scope scope{c.category, QuoteIdent(name), false};
            per_table[name] =
                "SELECT " + Expr(*k, scope) + " FROM " + QuoteIdent(name) + " WHERE id = ?1";
          }
        }
      plan.pipe_key_sql.push_back(std::move(keys));
    }
    plan.limit = options_.limit;
    return plan;
  }

  // ---------------------------------------------------------------- statements
  std::vector<Category> TablesOf(const EventFilter& f) const {
    std::vector<Category> out;
    if (f.category) {
      out.push_back(*f.category);
    } else {
      for (const auto& c : schema::Categories()) out.push_back(c.category);
    }
    return out;
  }

  // host.name has no B-tree index: its term index finds the rows (host ids have one).
  std::string Bounds(const std::string& table, const std::string& qualifier) const {
    std::string out;
    if (options_.since_ns > 0) out += " AND timestamp >= " + std::to_string(options_.since_ns);
    if (options_.until_ns != std::numeric_limits<std::int64_t>::max())
      out += " AND timestamp < " + std::to_string(options_.until_ns);
    if (!options_.host.empty()) {
      std::string host = QuoteString(options_.host);
      auto names = TermsSource(table, "host_name", false, {options_.host});
      out += " AND (host_id = " + host + " OR (host_name = " + host +
             (names ? " AND " + qualifier + ".id IN (SELECT id FROM " + *names + ")" : "") + "))";
    }
    return out;
  }

  static std::optional<std::string> TermsSource(const std::string& table, std::string_view column,
                                                bool prefix,
                                                const std::vector<std::string>& values) {
    auto json = JsonArray(values);
    if (!json) return std::nullopt;
    return "vigil_terms(" + QuoteString(table) + ", " + QuoteString(column) + ", " +
           (prefix ? "'prefix'" : "'eq'") + ", " + QuoteString(*json) + ")";
  }

  std::string Column(Category table, const schema::FieldDef& f) const {
    return f.In(table) ? std::string(f.column) : "NULL";
  }

  // SELECT '<t>' AS tbl, id, ts, <extra projections> FROM t WHERE ... for each table, UNION ALL.
  std::string Source(const EventFilter& f,
                     const std::function<std::string(Category, const Scope&)>& projections) {
    std::string out;
    for (Category t : TablesOf(f)) {
      std::string name(schema::CategoryName(t));
      Scope scope{t, QuoteIdent(name), false};
      if (!out.empty()) out += "\n  UNION ALL\n";
      ++group_;
      conjunct_ = true;  // the WHERE's top-level conjuncts may steer the index choice
      std::string where = Expr(*f.where, scope);
      out += "SELECT " + QuoteString(name) + " AS tbl, " + scope.qualifier + ".id AS id, " +
             scope.qualifier + ".timestamp AS ts" + projections(t, scope) + " FROM " +
             QuoteIdent(name) + " WHERE " + where + Bounds(name, scope.qualifier);
    }
    return out;
  }

  // keyed (when given and the step reads one table): the step's events in windows of a join key
  // and time, ?1 = [[k0, ..., from_ns, to_ns], ...]; the windows drive (CROSS JOIN keeps them
  // outside), so the key's index (host_id, entity ids) searches each one.
  std::string StepSql(const Step& step, std::string* keyed = nullptr) {
    std::string body = Source(step.filter, [&](Category, const Scope& scope) {
      std::string out;
      for (std::size_t k = 0; k < step.keys.size(); ++k)
        out += ", " + Expr(*step.keys[k], scope) + " AS k" + std::to_string(k);
      return out;
    });
    if (keyed && TablesOf(step.filter).size() == 1 && !step.keys.empty()) {
      auto at = [](std::size_t i) {
        return "json_extract(w.value, '$[" + std::to_string(i) + "]')";
      };
      std::string where;
      for (std::size_t k = 0; k < step.keys.size(); ++k)
        where += "b.k" + std::to_string(k) + " = " + at(k) + " AND ";
      *keyed = "SELECT b.* FROM json_each(?1) AS w CROSS JOIN (" + body + ") AS b WHERE " + where +
               "b.ts >= " + at(step.keys.size()) + " AND b.ts <= " + at(step.keys.size() + 1) +
               " ORDER BY b.ts, b.tbl, b.id";
    }
    return "SELECT * FROM (" + body + ") ORDER BY ts, tbl, id";
  }

  static void CollectFields(const hunt::Expr& e, std::set<const schema::FieldDef*>& out) {
    std::visit(
        [&](const auto& n) {
          using T = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<T, FieldRef>) {
            out.insert(n.field);
          } else if constexpr (std::is_same_v<T, Compare> || std::is_same_v<T, Arith>) {
            CollectFields(*n.left, out), CollectFields(*n.right, out);
          } else if constexpr (std::is_same_v<T, Match>) {
            CollectFields(*n.subject, out);
          } else if constexpr (std::is_same_v<T, InList>) {
            CollectFields(*n.subject, out);
            for (const auto& i : n.items) CollectFields(*i, out);
          } else if constexpr (std::is_same_v<T, Logic> || std::is_same_v<T, Call>) {
            if constexpr (std::is_same_v<T, Logic>)
              for (const auto& o : n.operands) CollectFields(*o, out);
            else
              for (const auto& o : n.args) CollectFields(*o, out);
          } else if constexpr (std::is_same_v<T, Not> || std::is_same_v<T, IsNull> ||
                               std::is_same_v<T, Negate>) {
            CollectFields(*n.operand, out);
          } else if constexpr (std::is_same_v<T, Relationship>) {
            out.insert(schema::FindField("process.entity_id"));
            out.insert(schema::FindField("process.parent.entity_id"));
          }
        },
        e.node);
  }

  Result<Plan> CompileEvents(const EventFilter& f, const std::vector<Pipe>& pipes) {
    Plan plan;
    std::set<const schema::FieldDef*> fields;
    for (const auto& p : pipes)
      for (const auto& a : p.args) CollectFields(*a, fields);
    std::string cur = Source(f, [&](Category t, const Scope&) {
      std::string out;
      for (const auto* field : fields)  // nullptr: a key of the extra map
        out += field ? ", " + Column(t, *field) + " AS " + QuoteIdent(field->column)
                     : std::string(", extra AS ") + QuoteIdent("extra");
      return out;
    });
    std::string order = "ts, tbl, id";
    std::string reverse = "ts DESC, tbl DESC, id DESC";
    int stage = 0;
    auto alias = [&] { return "s" + std::to_string(++stage); };
    bool counted = false;
    for (const auto& p : pipes) {
      std::string a = alias();
      Scope scope{std::nullopt, a, true};
      auto keys = [&](const char* sep) {
        std::string out;
        for (const auto& k : p.args) out += (out.empty() ? "" : sep) + Expr(*k, scope);
        return out;
      };
      switch (p.kind) {
        case PipeKind::Filter:
          cur = "SELECT * FROM (" + cur + ") AS " + a + " WHERE " + Expr(*p.args[0], scope);
          break;
        case PipeKind::Head:
          cur = "SELECT * FROM (" + cur + ") AS " + a + " ORDER BY " + order + " LIMIT " +
                std::to_string(p.count);
          break;
        case PipeKind::Tail:
          cur = "SELECT * FROM (SELECT * FROM (" + cur + ") AS " + a + " ORDER BY " + reverse +
                " LIMIT " + std::to_string(p.count) + ")";
          break;
        case PipeKind::Sort: {
          std::string k, kd;
          for (std::size_t i = 0; i < p.args.size(); ++i) {
            bool desc = i < p.descending.size() && p.descending[i];
            std::string e = Expr(*p.args[i], scope);
            k += (k.empty() ? "" : ", ") + e + (desc ? " DESC" : "");
            kd += (kd.empty() ? "" : ", ") + e + (desc ? "" : " DESC");
          }
          order = k + ", " + order;
          reverse = kd + ", " + reverse;
          break;
        }
        case PipeKind::Unique:
        case PipeKind::UniqueCount: {
          std::string rn = "_rn" + std::to_string(stage);
          std::string extra;
          if (p.kind == PipeKind::UniqueCount) {
            plan.unique_count_column = "_count" + std::to_string(stage);
            extra =
                ", count(*) OVER (PARTITION BY " + keys(", ") + ") AS " + plan.unique_count_column;
          }
          cur = "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY " + keys(", ") +
                " ORDER BY " + order + ") AS " + rn + extra + " FROM (" + cur + ") AS " + a +
                ") WHERE " + rn + " = 1";
          break;
        }
        case PipeKind::Count: {
          std::string select, group;
          for (std::size_t k = 0; k < p.args.size(); ++k) {
            std::string e = Expr(*p.args[k], scope);
            select += e + " AS c" + std::to_string(k) + ", ";
            group += (group.empty() ? "" : ", ") + std::string("c") + std::to_string(k);
            plan.count_keys.push_back(p.arg_names[k]);
            plan.count_key_bool.push_back(p.args[k]->type == ValueType::Bool);
          }
          cur = "SELECT " + select + "count(*) AS count FROM (" + cur + ") AS " + a +
                (group.empty() ? "" : " GROUP BY " + group);
          order = "count";
          reverse = "count DESC";
          for (std::size_t k = 0; k < p.args.size(); ++k) {
            order += ", c" + std::to_string(k);
            reverse += ", c" + std::to_string(k) + " DESC";
          }
          counted = true;
          break;
        }
      }
    }
    plan.kind = counted ? Plan::Kind::Count : Plan::Kind::Events;
    std::string limit = options_.limit ? " LIMIT " + std::to_string(options_.limit + 1) : "";
    plan.sql = "SELECT * FROM (" + cur + ") AS " + alias() + " ORDER BY " + order + limit;
    plan.limit = options_.limit;
    return plan;
  }

  // ---------------------------------------------------------------- expressions
  std::string Field(const schema::FieldDef& f, const Scope& scope) const {
    if (scope.pipe) return QuoteIdent(f.column);
    return Column(*scope.table, f);
  }

  // A key of the extra map (a JSON object column; absent: NULL). SQLite 3.40's JSON paths cannot
  // name a key holding '"' or control characters (it compares the path with the stored, escaped
  // label and ends a quoted label at the first '"'): such keys are looked up with json_each.
  static std::string ExtraField(const std::string& key, const Scope& scope) {
    std::string col = scope.pipe ? QuoteIdent("extra") : scope.qualifier + ".extra";
    bool path_safe = std::ranges::none_of(
        key, [](char c) { return c == '"' || static_cast<unsigned char>(c) < 0x20; });
    if (!path_safe)
      return "(SELECT value FROM json_each(" + col + ") WHERE key = " + QuoteString(key) + ")";
    std::string path = "$.\"";
    for (char c : key) {
      if (c == '\\') path += '\\';  // stored escaped: the path must match the escaped label
      path += c;
    }
    return "json_extract(" + col + ", " + QuoteString(path + "\"") + ")";
  }

  // Applies pred to the subject's value, or to any element when it is a list field (JSON array).
  std::string AnyElement(const hunt::Expr& subject, const Scope& scope,
                         const std::function<std::string(const std::string&)>& pred) {
    if (const auto* f = std::get_if<FieldRef>(&subject.node); f && f->IsList()) {
      std::string col = Field(*f->field, scope);
      if (col == "NULL") return "0";
      return "EXISTS (SELECT 1 FROM json_each(" + col + ") WHERE " + pred("value") + ")";
    }
    return pred(Expr(subject, scope));
  }

  std::string Literal(const hunt::Literal& l) const {
    return std::visit(
        [&](const auto& v) -> std::string {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>)
            return "NULL";
          else if constexpr (std::is_same_v<T, bool>)
            return v ? "1" : "0";
          else if constexpr (std::is_same_v<T, std::int64_t>)
            return std::to_string(v);
          else if constexpr (std::is_same_v<T, double>)
            return Real(v);
          else
            return QuoteString(v);
        },
        l.value);
  }

  static const char* OpSql(CompareOp op) {
    switch (op) {
      case CompareOp::Eq:
        return "=";
      case CompareOp::Ne:
        return "!=";
      case CompareOp::Lt:
        return "<";
      case CompareOp::Le:
        return "<=";
      case CompareOp::Gt:
        return ">";
      case CompareOp::Ge:
        return ">=";
    }
    return "=";
  }

  // The text index's prefilter for the patterns (the ids of the rows whose text holds every
  // literal run of 3+ characters of one pattern), or "" when it cannot be used.
  std::string FtsFilter(const hunt::Expr& subject, const std::vector<std::string>& patterns,
                        const Scope& scope, bool top) {
    const auto* f = std::get_if<FieldRef>(&subject.node);
    if (!f || !f->field || scope.pipe) return "";
    if (!TextIndexed(*f->field, *scope.table) || !FullTextServes(*f->field, patterns)) return "";
    if (!std::ranges::all_of(patterns, HasTrigramRun)) return "";
    auto json = JsonArray(patterns);
    if (!json) return "";
    std::string source = "vigil_text(" + QuoteString(schema::CategoryName(*scope.table)) + ", " +
                         QuoteString(f->field->column) + ", " + QuoteString(*json) + ")";
    std::string id = scope.qualifier + ".id";
    std::string in = " IN (SELECT id FROM " + source + ")";
    if (!top) return id + in;
    terms_.push_back({IndexTerm::Kind::Text, group_, source});
    return MarkIndexTerm(terms_.size() - 1, id + in);
  }

  // The term index's prefilter (server/store/text_index.hpp) for values of a term-indexed keyword
  // field (exact, or prefixes), or "" when the field has none. Never under NOT (where "false" for
  // a null value would differ from the exact check's NULL); as a top-level conjunct of a table's
  // WHERE it is recorded as an IndexTerm the executor may steer like the others.
  std::string TermsFilter(const hunt::Expr& subject, bool prefix,
                          const std::vector<std::string>& values, const Scope& scope, bool top) {
    const auto* f = std::get_if<FieldRef>(&subject.node);
    if (negated_ > 0 || !f || !f->field || f->IsList() || scope.pipe || !scope.table ||
        values.empty())
      return "";
    if (!store::text_index::TermIndexed(*f->field, *scope.table)) return "";
    auto source = TermsSource(std::string(schema::CategoryName(*scope.table)), f->field->column,
                              prefix, values);
    if (!source) return "";
    std::string in = scope.qualifier + ".id IN (SELECT id FROM " + *source + ")";
    if (!top) return in;
    terms_.push_back({IndexTerm::Kind::Terms, group_, *source});
    return MarkIndexTerm(terms_.size() - 1, in);
  }

  // The literal prefixes of wildcard patterns for the term index ("" when one has none).
  static std::optional<std::vector<std::string>> LiteralPrefixes(
      const std::vector<std::string>& patterns) {
    std::vector<std::string> out;
    for (const auto& p : patterns) {
      std::string prefix = p.substr(0, p.find_first_of("*?"));
      if (prefix.empty()) return std::nullopt;
      out.push_back(std::move(prefix));
    }
    return out;
  }

  std::string Wildcard(const hunt::Expr& subject, const std::vector<std::string>& patterns, bool ci,
                       const Scope& scope, bool top = false) {
    std::string check = AnyElement(subject, scope, [&](const std::string& v) {
      std::string out;
      for (const auto& p : patterns) {
        std::string one;
        if (ci)
          one = v + " LIKE " + QuoteString(ToLike(p)) + " ESCAPE '\\'";
        else if (HasWildcard(p))
          one = v + " GLOB " + QuoteString(ToGlob(p));
        else
          one = v + " = " + QuoteString(p);
        out += (out.empty() ? "" : " OR ") + one;
      }
      return patterns.size() > 1 ? "(" + out + ")" : out;
    });
    std::string fts = FtsFilter(subject, patterns, scope, top);
    if (fts.empty()) {
      const bool exact = std::ranges::none_of(patterns, HasWildcard);
      auto prefixes = exact ? std::optional(patterns) : LiteralPrefixes(patterns);
      if (prefixes) fts = TermsFilter(subject, !exact, *prefixes, scope, top);
    }
    if (fts.empty()) return check;
    return "(" + fts + " AND " + check + ")";
  }

  // GLOB prefixes covering IPv4 CIDRs ("10.0.0.0/8" → "10.*", "172.16.0.0/12" → "172.16.*" ...
  // "172.31.*"); nullopt when one is not IPv4, is /0, or the expansion grows past 256 prefixes.
  static std::optional<std::vector<std::string>> Ipv4GlobPrefixes(
      const std::vector<std::string>& cidrs) {
    std::vector<std::string> out;
    for (const auto& cidr : cidrs) {
      unsigned a[4], len = 32;
      char tail = 0;
      int n =
          std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u%c", &a[0], &a[1], &a[2], &a[3], &len, &tail);
      if ((n != 4 && n != 5) || len == 0 || len > 32 || a[0] > 255 || a[1] > 255 || a[2] > 255 ||
          a[3] > 255)
        return std::nullopt;
      unsigned octets = len / 8, rest = len % 8;
      std::string base;
      for (unsigned i = 0; i < octets; ++i) base += std::to_string(a[i]) + ".";
      if (len == 32) {
        base.pop_back();
        out.push_back(base);  // GLOB without wildcards: an exact match
        continue;
      }
      if (rest == 0) {
        out.push_back(base + "*");
        continue;
      }
      unsigned first = a[octets] & (0xFFu << (8 - rest) & 0xFFu), count = 1u << (8 - rest);
      for (unsigned v = first; v < first + count; ++v)
        out.push_back(base + std::to_string(v) + (octets == 3 ? "" : ".*"));
      if (out.size() > 256) return std::nullopt;
    }
    return out;
  }

  static std::optional<std::string> StringLiteral(const hunt::Expr& e) {
    const auto* l = std::get_if<hunt::Literal>(&e.node);
    const auto* s = l ? std::get_if<std::string>(&l->value) : nullptr;
    if (!s) return std::nullopt;
    return *s;
  }

  std::string CallSql(const Call& c, const Scope& scope, bool top = false) {
    auto arg = [&](std::size_t i) {
      return i < c.args.size() ? Expr(*c.args[i], scope) : std::string("NULL");
    };
    std::string ci = c.case_insensitive ? "1" : "0";
    auto binary = [&](const char* op) { return "(" + arg(0) + " " + op + " " + arg(1) + ")"; };
    switch (c.function) {
      case Function::Add:
        return binary("+");
      case Function::Subtract:
        return binary("-");
      case Function::Multiply:
        return binary("*");
      case Function::Divide:
        return binary("/");
      case Function::Modulo:
        return binary("%");
      case Function::Length: {
        if (const auto* f = std::get_if<FieldRef>(&c.args[0]->node); f && f->IsList())
          return "json_array_length(" + Field(*f->field, scope) + ")";
        return "length(" + arg(0) + ")";
      }
      case Function::String:
        return "eql_string(" + arg(0) + ")";
      case Function::Number:
        return "eql_number(" + arg(0) + ", " + arg(1) + ")";
      case Function::Concat: {
        std::string out = "eql_concat(";
        for (std::size_t i = 0; i < c.args.size(); ++i) out += (i ? ", " : "") + arg(i);
        return out + ")";
      }
      case Function::Between:
        return "eql_between(" + arg(0) + ", " + arg(1) + ", " + arg(2) + ", " +
               (c.args.size() > 3 ? "coalesce(" + arg(3) + ", 0)" : "0") + ", " + ci + ")";
      case Function::CidrMatch: {
        std::string exact = AnyElement(*c.args[0], scope, [&](const std::string& v) {
          std::string out = "eql_cidr_match(" + v;
          for (std::size_t i = 1; i < c.args.size(); ++i) out += ", " + arg(i);
          return out + ")";
        });
        // IPs are text: IPv4 CIDRs become GLOB prefixes ('10.1.*') that the IP index serves;
        // eql_cidr_match stays the exact check.
        const auto* f = std::get_if<FieldRef>(&c.args[0]->node);
        if (!f || !f->field || f->IsList() || Field(*f->field, scope) == "NULL") return exact;
        std::vector<std::string> cidrs;
        for (std::size_t i = 1; i < c.args.size(); ++i) {
          auto lit = StringLiteral(*c.args[i]);
          if (!lit) return exact;
          cidrs.push_back(*lit);
        }
        auto prefixes = Ipv4GlobPrefixes(cidrs);
        if (!prefixes) return exact;
        std::string col = Field(*f->field, scope), any;
        std::vector<std::string> literal;
        for (const auto& p : *prefixes) {
          any += (any.empty() ? "" : " OR ") + col + " GLOB " + QuoteString(p);
          literal.push_back(p.ends_with('*') ? p.substr(0, p.size() - 1) : p);
        }
        std::string terms = TermsFilter(*c.args[0], true, literal, scope, top);
        return "((" + any + ") AND " + (terms.empty() ? "" : terms + " AND ") + exact + ")";
      }
      case Function::StartsWith:
      case Function::EndsWith:
      case Function::StringContains: {
        // A literal without wildcard characters becomes a pattern (indexes, FTS).
        if (auto lit = StringLiteral(*c.args[1]); lit && !HasWildcard(*lit) && !lit->empty()) {
          std::string p = c.function == Function::StartsWith ? *lit + "*"
                          : c.function == Function::EndsWith ? "*" + *lit
                                                             : "*" + *lit + "*";
          return Wildcard(*c.args[0], {p}, c.case_insensitive, scope);
        }
        const char* fn = c.function == Function::StartsWith ? "eql_starts_with"
                         : c.function == Function::EndsWith ? "eql_ends_with"
                                                            : "eql_contains";
        return AnyElement(*c.args[0], scope, [&](const std::string& v) {
          return std::string(fn) + "(" + v + ", " + arg(1) + ", " + ci + ")";
        });
      }
      case Function::IndexOf:
        return "eql_index_of(" + arg(0) + ", " + arg(1) + ", " + arg(2) + ", " + ci + ")";
      case Function::Substring:
        return "eql_substring(" + arg(0) + ", " + arg(1) + ", " + arg(2) + ")";
      case Function::Wildcard:
        break;  // the parser turns wildcard() into a Match
    }
    return "NULL";
  }

  // The entity ids of the processes behind events matching the filter.
  std::string EntityIds(const EventFilter& f) {
    std::string out;
    std::string r = "r" + std::to_string(++subquery_);
    for (Category t : TablesOf(f)) {
      std::string name(schema::CategoryName(t));
      Scope inner{t, r, false};
      if (!out.empty()) out += " UNION ALL ";
      out += "SELECT " + r + ".process_entity_id AS eid FROM " + QuoteIdent(name) + " AS " + r +
             " WHERE " + Expr(*f.where, inner);
    }
    return out;
  }

  std::string RelationshipSql(const Relationship& rel, const Scope& scope) {
    std::string self = scope.qualifier + "." +
                       (scope.pipe ? QuoteIdent("process_entity_id") : "process_entity_id");
    std::string parent =
        scope.qualifier + "." +
        (scope.pipe ? QuoteIdent("process_parent_entity_id") : "process_parent_entity_id");
    std::string ids = EntityIds(*rel.filter);
    // Process events carry their parent: test it directly. Other events (and the mixed rows of
    // pipes) find their process's children/descendants through the process table.
    bool own_parent = !scope.pipe && scope.table == Category::Process;
    std::string n = std::to_string(++subquery_);
    std::string c = "c" + n, d = "d" + n, r = "x" + n;
    switch (rel.relation) {
      case Relation::EventOf:
        return self + " IN (" + ids + ")";
      case Relation::ChildOf:
        if (own_parent) return parent + " IN (" + ids + ")";
        return self + " IN (SELECT " + c + ".process_entity_id FROM process AS " + c + " WHERE " +
               c + ".process_parent_entity_id IN (" + ids + "))";
      case Relation::DescendantOf: {
        std::string closure = " UNION SELECT " + r + ".process_entity_id FROM process AS " + r +
                              " JOIN " + d + " ON " + r + ".process_parent_entity_id = " + d +
                              ".eid) SELECT eid FROM " + d + ")";
        if (own_parent)  // the parent is an ancestor or one of its descendants
          return parent + " IN (WITH RECURSIVE " + d + "(eid) AS (SELECT eid FROM (" + ids + ")" +
                 closure;
        return self + " IN (WITH RECURSIVE " + d + "(eid) AS (SELECT " + c +
               ".process_entity_id FROM process AS " + c + " WHERE " + c +
               ".process_parent_entity_id IN (" + ids + ")" + closure;
      }
    }
    return "0";
  }

 public:
  std::string Expr(const hunt::Expr& e, const Scope& scope) {
    bool top = std::exchange(conjunct_, false);  // a top-level conjunct of a source's WHERE
    return std::visit(
        [&](const auto& n) -> std::string {
          using T = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<T, hunt::Literal>) {
            return Literal(n);
          } else if constexpr (std::is_same_v<T, FieldRef>) {
            if (!n.field) return ExtraField(n.extra, scope);
            return Field(*n.field, scope);
          } else if constexpr (std::is_same_v<T, Compare>) {
            if (const auto* lf = std::get_if<FieldRef>(&n.left->node); n.op == CompareOp::Eq && lf)
              if (auto lit = StringLiteral(*n.right))
                if (std::string terms = TermsFilter(*n.left, false, {*lit}, scope, top);
                    !terms.empty())
                  return "(" + Expr(*n.left, scope) + " = " + QuoteString(*lit) + " AND " + terms +
                         ")";
            std::string op = OpSql(n.op);
            std::string right = Expr(*n.right, scope);
            if (const auto* rf = std::get_if<FieldRef>(&n.right->node);
                rf && rf->IsList() && !std::get_if<FieldRef>(&n.left->node)) {
              std::string left = Expr(*n.left, scope);
              return AnyElement(*n.right, scope, [&](const std::string& v) {
                return "(" + left + " " + op + " " + v + ")";
              });
            }
            return AnyElement(*n.left, scope, [&](const std::string& v) {
              return "(" + v + " " + op + " " + right + ")";
            });
          } else if constexpr (std::is_same_v<T, Match>) {
            if (n.kind == MatchKind::Wildcard)
              return Wildcard(*n.subject, n.patterns, n.case_insensitive, scope, top);
            return AnyElement(*n.subject, scope, [&](const std::string& v) {
              std::string out;
              for (const auto& p : n.patterns)
                out += (out.empty() ? "" : " OR ") + std::string("eql_regex(") + v + ", " +
                       QuoteString(p) + ", " + (n.case_insensitive ? "1" : "0") + ")";
              return n.patterns.size() > 1 ? "(" + out + ")" : out;
            });
          } else if constexpr (std::is_same_v<T, InList>) {
            std::string items;
            for (const auto& i : n.items) {
              std::string item;
              if (n.case_insensitive) {
                if (auto lit = StringLiteral(*i))
                  item = QuoteString(AsciiLower(*lit));
                else
                  item = "lower(" + Expr(*i, scope) + ")";
              } else {
                item = Expr(*i, scope);
              }
              items += (items.empty() ? "" : ", ") + item;
            }
            // NOCASE folds ASCII like lower() and lets a NOCASE index serve in~.
            auto pred = [&](const std::string& v) {
              return v + (n.case_insensitive ? " COLLATE NOCASE" : "") + " IN (" + items + ")";
            };
            const auto* f = std::get_if<FieldRef>(&n.subject->node);
            if (f && f->IsList() && n.negated) return "NOT " + AnyElement(*n.subject, scope, pred);
            std::string in = AnyElement(*n.subject, scope, pred);
            if (!n.negated) {
              std::vector<std::string> values;
              for (const auto& i : n.items)
                if (auto lit = StringLiteral(*i)) values.push_back(*lit);
              if (values.size() == n.items.size())
                if (std::string terms = TermsFilter(*n.subject, false, values, scope, top);
                    !terms.empty())
                  return "(" + in + " AND " + terms + ")";
              return in;
            }
            return Expr(*n.subject, scope) + (n.case_insensitive ? " COLLATE NOCASE" : "") +
                   " NOT IN (" + items + ")";
          } else if constexpr (std::is_same_v<T, Logic>) {
            std::string out = "(";
            for (std::size_t i = 0; i < n.operands.size(); ++i) {
              conjunct_ = top && n.op == LogicOp::And;
              out += (i ? (n.op == LogicOp::And ? " AND " : " OR ") : "") +
                     Expr(*n.operands[i], scope);
            }
            return out + ")";
          } else if constexpr (std::is_same_v<T, Not>) {
            ++negated_;
            std::string operand = Expr(*n.operand, scope);
            --negated_;
            return "NOT (" + operand + ")";
          } else if constexpr (std::is_same_v<T, IsNull>) {
            return "(" + Expr(*n.operand, scope) + (n.negated ? " IS NOT NULL)" : " IS NULL)");
          } else if constexpr (std::is_same_v<T, Arith>) {
            const char* op = n.op == ArithOp::Add   ? "+"
                             : n.op == ArithOp::Sub ? "-"
                             : n.op == ArithOp::Mul ? "*"
                             : n.op == ArithOp::Div ? "/"
                                                    : "%";
            return "(" + Expr(*n.left, scope) + " " + op + " " + Expr(*n.right, scope) + ")";
          } else if constexpr (std::is_same_v<T, Negate>) {
            return "(- " + Expr(*n.operand, scope) + ")";
          } else if constexpr (std::is_same_v<T, Call>) {
            return CallSql(n, scope, top);
          } else {
            std::string sql = RelationshipSql(n, scope);
            if (!top || scope.pipe || !scope.table) return sql;
            terms_.push_back({IndexTerm::Kind::Relationship, group_, ""});
            return MarkIndexTerm(terms_.size() - 1, sql);
          }
        },
        e.node);
  }

 private:
  const HuntOptions& options_;
  int subquery_ = 0;
  int group_ = 0;          // the current source SELECT (IndexTerm::group)
  bool conjunct_ = false;  // the next Expr is a top-level conjunct of its source's WHERE
  int negated_ = 0;        // how many NOTs the current Expr is under
  std::vector<IndexTerm> terms_;
};

}  // namespace

std::string MarkIndexTerm(std::size_t term, std::string_view sql) {
  return "\x01" + std::to_string(term) + "\x01" + std::string(sql) + "\x02";
}

std::string RenderSql(std::string_view sql, const std::vector<IndexTerm>& terms,
                      const std::vector<bool>& disabled, bool keyed) {
  std::string out;
  out.reserve(sql.size());
  std::vector<bool> dropping;  // per open term: its text is left out (nested terms cannot occur)
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '\x01') {
      std::size_t end = sql.find('\x01', i + 1);
      std::size_t term = std::stoul(std::string(sql.substr(i + 1, end - i - 1)));
      i = end;
      // In keyed statements a prefilter only costs (its id list is built per statement over the
      // whole table); the exact check next to it decides alone.
      bool relationship = term < terms.size() && terms[term].kind == IndexTerm::Kind::Relationship;
      bool drop = !relationship && (keyed || (term < disabled.size() && disabled[term]));
      dropping.push_back(drop);
      if (drop) out += '1';
      continue;
    }
    if (sql[i] == '\x02') {
      dropping.pop_back();
      continue;
    }
    if (dropping.empty() || !dropping.back()) out += sql[i];
  }
  return out;
}

Result<Plan> Compile(const Query& query, const HuntOptions& options) {
  return Compiler(options).Compile(query);
}

std::string ExplainPlan(const Plan& plan) {
  auto sql = [&](const std::string& text) { return RenderSql(text, plan.index_terms, {}, false); };
  if (plan.kind == Plan::Kind::Events || plan.kind == Plan::Kind::Count) return sql(plan.sql) + ";";
  std::string out;
  for (std::size_t i = 0; i < plan.step_sql.size(); ++i) {
    bool until = plan.has_until && i + 1 == plan.step_sql.size();
    std::string name = until ? std::string("until") : "step " + std::to_string(i + 1);
    out += "-- " + name + "\n" + sql(plan.step_sql[i]) + ";\n";
    if (i < plan.step_keyed_sql.size() && !plan.step_keyed_sql[i].empty())
      out += "-- " + name + ", keyed: within the driver step's join keys and maxspan windows\n" +
             RenderSql(plan.step_keyed_sql[i], plan.index_terms, {}, true) + ";\n";
  }
  return out;
}

Result<std::string> Explain(const Query& query, const HuntOptions& options) {
  auto plan = Compile(query, options);
  if (!plan) return std::unexpected(plan.error());
  return ExplainPlan(*plan);
}

}  // namespace vigil::hunt
