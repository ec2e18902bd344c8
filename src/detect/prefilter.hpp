// The literal prefilter of the live engine (Vectorscan). For every single-event rule it extracts a
// requirement: an and/or formula over literals that must occur in a matching event (from ==, in,
// `:`/like wildcard patterns (every run of 3+ characters), startsWith/endsWith/stringContains,
// and the literal runs of regexes; ASCII case-insensitive). One Vectorscan literal database holds
// all literals; per event one scan over the event's string values finds the literals present, and
// a rule is evaluated only when its formula holds over them. Rules without a requirement
// (negations, numbers only) are always evaluated. The prefilter never changes results, only skips
// rules that cannot match (tests: same matches with and without it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "hunt/ast.hpp"

namespace vigil::detect {

struct LiveRule;

// What must hold for an expression to be true, as literals that must occur in the event's string
// values: True (nothing known), one literal (lower case), or and/or of requirements.
struct Requirement {
  enum class Kind : std::uint8_t { True, Literal, And, Or } kind = Kind::True;
  std::string literal;
  std::vector<Requirement> kids;
};
// used (when given) gets every field a literal was taken from.
Requirement RequiredLiterals(const hunt::Expr& expr,
                             std::vector<const hunt::FieldRef*>* used = nullptr);
// The requirement of a regular expression (RE2 syntax) on one value; True for constructs the
// extraction does not know. case_insensitive: the regex ignores case (so Unicode case folding
// could match other bytes than the literal's).
Requirement RegexRequirement(std::string_view regex, bool case_insensitive);

class Prefilter {
 public:
  static Result<std::unique_ptr<Prefilter>> Build(const std::vector<LiveRule>& rules);
  ~Prefilter();

  // Marks (marks[i] = 1) every filtered rule i whose requirement holds on the event. The caller
  // clears the marks it reads (Unmark).
  void Scan(const v1::Event& event);
  bool Candidate(std::uint32_t rule) const { return !filtered_[rule] || marks_[rule] == 1; }
  void Unmark();
  std::size_t filtered_rules() const { return filtered_count_; }
  std::size_t literals() const { return pattern_rules_.size(); }

 private:
  // A requirement flattened: Literal (a = literal id) or And/Or (kids are kid_index_[a, b)).
  struct Node {
    Requirement::Kind kind;
    std::uint32_t a = 0, b = 0;
  };
  Prefilter() = default;
  std::uint32_t Flatten(const Requirement& r, std::map<std::string, std::uint32_t>& ids,
                        std::uint32_t rule);
  bool Holds(std::uint32_t node) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::vector<std::uint32_t>> pattern_rules_;  // literal id -> rules
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> kid_index_, roots_;      // roots_: per rule, its formula's node
  std::vector<std::uint8_t> filtered_, marks_, hit_;  // hit_: literal id seen in this event
  std::vector<std::uint32_t> touched_, hits_;
  std::size_t filtered_count_ = 0;
  std::string haystack_;
  std::vector<std::uint16_t> fields_;  // string fields put in the haystack (those with literals)
  std::vector<std::string> extras_;    // extra-map keys put in the haystack
};

}  // namespace vigil::detect
