// Compiles the typed AST to SQLite SQL over the store's tables (one per category, FTS5 trigram
// tables for text fields). Event queries with their pipes become one statement; sequences and
// samples become one candidate statement per step, matched in C++ (see executor.cpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hunt/hunt.hpp"

namespace vigil::hunt {

struct Plan {
  enum class Kind { Events, Count, Sequence, Sample } kind = Kind::Events;
  // Events: columns tbl, id, ts [, count when unique_count]; Count: c0..cN-1, count.
  std::string sql;
  std::vector<std::string> count_keys;  // Count: output names of the keys
  std::vector<bool> count_key_bool;     // Count: the key is a boolean (0/1 in SQL)
  std::string unique_count_column;      // Events after unique_count: the count column
  // Sequence/Sample: per step, columns tbl, id, ts, k0..kN-1, ordered by ts, tbl, id.
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
};

Result<Plan> Compile(const Query& query, const HuntOptions& options);

}  // namespace vigil::hunt
