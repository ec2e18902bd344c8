// The live (streaming) matcher: evaluates a single-event EQL query (`<category> where expr`,
// `any where expr`) on one event in memory, with the same semantics as the SQL path
// (hunt/compiler.cpp): SQL three-valued logic for nulls, case-sensitive ==, ASCII
// case-insensitive `:`/like~/in~, anchored RE2 regexes, list fields matching on any element.
// Fields are resolved at compile time to schema ids or extra-map keys. See docs/detection.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "hunt/ast.hpp"

namespace vigil::hunt {

namespace matcher_detail {
struct Node;
}

// Relationships (`child of`, `descendant of`, `event of`) need state across events: the process
// lineage and the processes that matched the inner query. Whoever compiles a matcher with
// relationships gives each one a slot (and evaluates its inner query itself); at evaluation the
// oracle answers per slot. nullopt is SQL's NULL (no process to relate).
class RelationOracle {
 public:
  virtual ~RelationOracle() = default;
  virtual std::optional<bool> Related(std::uint32_t slot, Relation relation,
                                      const v1::Event& event) const = 0;
};
using RelationSlots = std::function<Result<std::uint32_t>(const Relationship&)>;

class Matcher {
 public:
  // Fails for sequences, samples and pipes (whole-query constructs), and for relationships
  // unless slots are given.
  static Result<Matcher> Compile(const Query& query);
  static Result<Matcher> Compile(const EventFilter& filter, const RelationSlots& slots = {});
  // A condition on events of the category (a `| filter` pipe's).
  static Result<Matcher> Compile(const Expr& where, std::optional<schema::Category> category,
                                 const RelationSlots& slots = {});

  // A relationship without an oracle is null (so false at the top).
  bool Matches(const v1::Event& event, const RelationOracle* oracle = nullptr) const;

  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

 private:
  Matcher();
  std::optional<schema::Category> category_;  // nullopt: any
  std::unique_ptr<matcher_detail::Node> root_;
};

}  // namespace vigil::hunt
