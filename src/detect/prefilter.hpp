// The literal prefilter of the live engine (Vectorscan). For every single-event rule it extracts a
// set of literals of which at least one must occur in a matching event (from ==, in, `:`/like
// wildcard patterns, startsWith/endsWith/stringContains; through and/or; ASCII case-insensitive).
// One Vectorscan literal database holds them all; per event one scan over the event's string
// values says which rules can match, and only those are evaluated. Rules without such a set
// (regexes, negations, numbers only) are always evaluated. The prefilter never changes results,
// only skips rules that cannot match (tests: same matches with and without it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "hunt/ast.hpp"

namespace vigil::detect {

struct LiveRule;

// The literals one of which must occur for expr to be true; nullopt when there is no such set.
std::optional<std::vector<std::string>> RequiredLiterals(const hunt::Expr& expr);

class Prefilter {
 public:
  static Result<std::unique_ptr<Prefilter>> Build(const std::vector<LiveRule>& rules);
  ~Prefilter();

  // Marks (marks[i] = 1) every filtered rule i with a literal in the event; returns how many
  // rules were marked. The caller clears the marks it reads (Unmark).
  void Scan(const v1::Event& event);
  bool Candidate(std::uint32_t rule) const { return !filtered_[rule] || marks_[rule]; }
  void Unmark();
  std::size_t filtered_rules() const { return filtered_count_; }
  std::size_t literals() const { return pattern_rules_.size(); }

 private:
  Prefilter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::vector<std::uint32_t>> pattern_rules_;  // literal id -> rules
  std::vector<std::uint8_t> filtered_, marks_;
  std::vector<std::uint32_t> touched_;
  std::size_t filtered_count_ = 0;
  std::string haystack_;
  std::vector<std::uint16_t> fields_;  // string fields put in the haystack
};

}  // namespace vigil::detect
