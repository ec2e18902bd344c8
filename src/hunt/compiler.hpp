// Compiles the typed AST to SQLite SQL over the store's tables (one per category, FTS5 trigram
// tables for text fields). Event queries with their pipes become one statement; sequences and
// samples become one candidate statement per step, matched in C++ (see executor.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hunt/hunt.hpp"

namespace vigil::hunt {

// A postings prefilter (the store's text or term index, server/store/text_index.hpp) that is a
// top-level conjunct of one table's WHERE, or such a conjunct that is a relationship (`child of
// [...]`: an IN-subquery over an entity-id index). SQLite knows nothing of a prefilter's size, so
// it may drive with a common value's id list; the executor counts each prefilter's candidates
// (`SELECT 1 FROM vigil_...(...) LIMIT n`), lets the rarest drive, and leaves the others out (the
// exact check beside each decides): a common one is never worth building its id list for.
struct IndexTerm {
  enum class Kind { Text, Terms, Relationship } kind = Kind::Terms;
  int group = 0;       // the SELECT it belongs to: terms of one group compete
  std::string source;  // the vigil_text(...) / vigil_terms(...) call; empty for a relationship
};

struct Plan {
  enum class Kind { Events, Count, Sequence, Sample } kind = Kind::Events;
  // Events: columns tbl, id, ts [, count when unique_count]; Count: c0..cN-1, count.
  std::string sql;
  std::vector<std::string> count_keys;  // Count: output names of the keys
  std::vector<bool> count_key_bool;     // Count: the key is a boolean (0/1 in SQL)
  std::string unique_count_column;      // Events after unique_count: the count column
  // Sequence/Sample: per step, columns tbl, id, ts, k0..kN-1, ending " ORDER BY ts, tbl, id".
  std::vector<std::string> step_sql;  // `runs=N` steps appear N times
  std::vector<bool> step_missing;     // Sequence: per step_sql, a missing-event step (`![...]`)
  bool has_until = false;
  std::size_t key_count = 0;
  std::optional<std::int64_t> maxspan_ns;
  std::size_t limit = 0;  // results after pipes; 0: none (sequences: HuntOptions::limit applied)
  // Sequence/Sample pipes, applied in C++ in order.
  std::vector<const Pipe*> pipes;
  // Per pipe: for `filter`, per table name, `SELECT 1 FROM t WHERE id = ?1 AND <condition>`
  // (a match passes when one of its events satisfies it); empty for other pipes.
  std::vector<std::map<std::string, std::string>> pipe_filter_sql;
  // Per pipe, per key (sort, unique, unique_count, count: events[N].<expr>), per table name,
  // `SELECT <expr> FROM t WHERE id = ?1`: the key's value on the match's N-th event.
  std::vector<std::vector<std::map<std::string, std::string>>> pipe_key_sql;
  // Sequence/Sample: per step_sql, the same step restricted to windows, one statement for all:
  // ?1 is a JSON array of [k0, ..., kN-1, from_ns, to_ns] (see executor.cpp, RunSequence); empty
  // when the step reads more than one table.
  std::vector<std::string> step_keyed_sql;
  // sql and step(_keyed)_sql wrap index_terms[i] in MarkIndexTerm(i, ...): RenderSql.
  std::vector<IndexTerm> index_terms;
};

Result<Plan> Compile(const Query& query, const HuntOptions& options);

// The statements of the plan, as Explain shows them.
std::string ExplainPlan(const Plan& plan);

std::string MarkIndexTerm(std::size_t term, std::string_view sql);
// The SQL without markers; a prefilter whose `disabled` entry is true, and in keyed statements
// every prefilter, becomes 1 (the exact check beside it decides). Relationships stay.
std::string RenderSql(std::string_view sql, const std::vector<IndexTerm>& terms,
                      const std::vector<bool>& disabled, bool keyed);

}  // namespace vigil::hunt
