// Hunting with EQL over the server's event store: parse a query into a typed AST, compile it to
// SQL for the SQLite store (indexes and FTS5 do the filtering) and stream the results as JSON.
// This is the module's public interface; see docs/hunting.md for the language and its semantics.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "hunt/ast.hpp"

namespace vigil::hunt {

// A syntax or semantic error in a query, at 1-based line and column.
struct QueryError {
  int line = 1, column = 1;
  std::string message;
  std::string Format() const;  // "1:17: expected ..."
};

// Bounds on untrusted query text.
inline constexpr std::size_t kMaxQueryBytes = 64 * 1024;
inline constexpr int kMaxNesting = 64;

std::expected<Query, QueryError> ParseQuery(std::string_view text);
// Same, with the error formatted as "line:column: message".
Result<Query> Parse(std::string_view text);

struct HuntOptions {
  std::int64_t since_ns = 0;                                         // inclusive
  std::int64_t until_ns = std::numeric_limits<std::int64_t>::max();  // exclusive
  std::string host;          // host.id or host.name; empty: every host
  std::size_t limit = 1000;  // result rows (events, sequences, samples or count rows); 0: none
  std::chrono::milliseconds timeout{30000};
};

struct HuntStats {
  std::uint64_t rows = 0;        // results given to the sink
  std::uint64_t candidates = 0;  // rows read from SQL (events, or sequence candidates)
  bool truncated = false;        // stopped at HuntOptions::limit
  std::chrono::milliseconds elapsed{0};
};

// The SQL the query runs (for sequences and samples: one statement per step, and for sequences
// each step restricted to the driver step's keys, see docs/hunting.md).
Result<std::string> Explain(const Query& query, const HuntOptions& options);
// The same as Run executes it on this database: with the index choices made by measuring the
// candidates of competing index terms (unary + on the columns whose index is not used).
Result<std::string> Explain(const std::filesystem::path& db, const Query& query,
                            const HuntOptions& options);

// Runs the query on the database file (opened read-only) and streams every result to sink, which
// returns false to stop early. Events are JSON objects with ECS dotted names; sequences are
// {"sequence": [events]}, samples {"sample": [events]}, count rows {keys..., "count": N}.
Result<HuntStats> Run(const std::filesystem::path& db, const Query& query,
                      const HuntOptions& options,
                      const std::function<bool(const nlohmann::ordered_json&)>& sink);

}  // namespace vigil::hunt
