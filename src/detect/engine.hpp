// The live detection engine: evaluates each event once against every loaded rule (single-event
// matchers and sequence state machines) and reports matches. Single-threaded and deterministic:
// the same events in the same order give the same matches. Sequence state is bounded (per rule:
// max_partials keys; the oldest key is evicted first, counted). See docs/detection.md.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/schema.hpp"
#include "detect/rule.hpp"

namespace vigil::detect {

class Prefilter;

struct EngineOptions {
  std::size_t max_partials_per_rule = 100'000;  // partial sequences (join keys) kept per rule
  bool prefilter = true;  // Vectorscan literal prefilter (prefilter.hpp); results are the same
};

struct EngineCounters {
  std::uint64_t events = 0;
  std::uint64_t rule_evaluations = 0;   // matcher calls
  std::uint64_t prefilter_skipped = 0;  // rule evaluations the prefilter avoided
  std::uint64_t matches = 0;
  std::uint64_t sequence_partials = 0;  // live partial sequences now
  std::uint64_t sequence_evicted = 0;   // partial sequences dropped because a rule hit its bound
  std::uint64_t sequence_expired = 0;   // partial sequences dropped by maxspan
};

struct EngineMatch {
  const LiveRule* rule = nullptr;
  std::vector<v1::Event> events;  // one event, or every event of a sequence in order
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Replaces the rule set (sequence state of rules that stay, by id and version, is dropped too:
  // a reload starts sequences afresh).
  void SetRules(std::vector<LiveRule> rules);
  const std::vector<LiveRule>& rules() const { return rules_; }

  // Evaluates one event; appends the matches to out.
  void Evaluate(const v1::Event& event, std::vector<EngineMatch>& out);
  const EngineCounters& counters() const { return counters_; }
  // Rules the prefilter covers (0 without it) and why it is off, if it failed to build.
  std::size_t prefiltered_rules() const;
  const std::string& prefilter_error() const { return prefilter_error_; }

 private:
  struct Partial {
    std::vector<v1::Event> events;
    std::int64_t start = 0;
  };
  struct KeyState {
    std::vector<std::optional<Partial>> stages;
    std::list<std::string>::iterator lru;
  };
  struct SequenceState {
    std::unordered_map<std::string, KeyState> keys;
    std::list<std::string> order;  // least recently started first
    std::size_t partials = 0;
  };
  void EvaluateSequence(std::size_t index, const v1::Event& event, std::vector<EngineMatch>& out);
  void DropKey(SequenceState& state, std::unordered_map<std::string, KeyState>::iterator it);

  EngineOptions options_;
  std::vector<LiveRule> rules_;
  std::vector<SequenceState> sequences_;  // per rule (empty for single-event rules)
  std::unique_ptr<Prefilter> prefilter_;
  std::string prefilter_error_;
  std::vector<std::vector<std::uint32_t>> by_category_;       // rule indexes per event category
  std::vector<std::pair<std::size_t, std::string>> matched_;  // scratch: (step, key)
  std::uint64_t seen_ = 0;
  EngineCounters counters_;
};

}  // namespace vigil::detect
