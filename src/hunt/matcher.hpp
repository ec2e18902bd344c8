// The live (streaming) matcher: evaluates a single-event EQL query (`<category> where expr`,
// `any where expr`) on one event in memory, with the same semantics as the SQL path
// (hunt/compiler.cpp): SQL three-valued logic for nulls, case-sensitive ==, ASCII
// case-insensitive `:`/like~/in~, anchored RE2 regexes, list fields matching on any element.
// Fields are resolved at compile time to schema ids or extra-map keys. See docs/detection.md.
#pragma once

#include <memory>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "hunt/ast.hpp"

namespace vigil::hunt {

namespace matcher_detail {
struct Node;
}

class Matcher {
 public:
  // Fails for sequences, samples, relationships and pipes (not supported live yet).
  static Result<Matcher> Compile(const Query& query);
  static Result<Matcher> Compile(const EventFilter& filter);

  bool Matches(const v1::Event& event) const;

  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

 private:
  Matcher();
  std::optional<schema::Category> category_;  // nullopt: any
  std::unique_ptr<matcher_detail::Node> root_;
};

}  // namespace vigil::hunt
