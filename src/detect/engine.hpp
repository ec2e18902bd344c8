// The live detection engine: evaluates each event once against every loaded rule (single-event
// matchers, sequence and sample state machines, relationships through a process lineage) and
// reports matches. Single-threaded and deterministic: the same events in the same order give the
// same matches. All state is bounded, evictions are counted: per rule max_partials keys of
// partial sequences/samples (the oldest key first), max_related entity ids per relationship, per
// host max_lineage processes (exited ones go after lineage_exit_grace_ns). The state can be saved
// and restored (SaveState/RestoreState) so a restarted server continues sequences. See
// docs/detection.md.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "detect/rule.hpp"

namespace vigil::detect {

class Prefilter;

struct EngineOptions {
  std::size_t max_partials_per_rule = 100'000;  // partial sequences/samples (join keys) per rule
  bool prefilter = true;  // Vectorscan literal prefilter (prefilter.hpp); results are the same
  std::size_t max_related_per_rule = 100'000;  // entity ids per relationship (and unique keys)
  std::size_t max_lineage_per_host = 200'000;  // processes in a host's lineage table
  std::int64_t lineage_exit_grace_ns = 600'000'000'000;  // an exited process stays this long
};

struct EngineCounters {
  std::uint64_t events = 0;
  std::uint64_t rule_evaluations = 0;   // matcher calls
  std::uint64_t prefilter_skipped = 0;  // rule evaluations the prefilter avoided
  std::uint64_t matches = 0;
  std::uint64_t sequence_partials = 0;  // live partial sequences and samples now
  std::uint64_t sequence_evicted = 0;   // partial sequences/samples dropped: a rule hit its bound
  std::uint64_t sequence_expired = 0;   // partial sequences dropped by maxspan
  std::uint64_t related_entities = 0;   // entity ids held for relationships now
  std::uint64_t related_evicted = 0;    // ... dropped because a relationship hit its bound
  std::uint64_t lineage_entries = 0;    // processes in the lineage tables now
  std::uint64_t lineage_exited = 0;     // processes dropped after their exit (grace passed)
  std::uint64_t lineage_evicted = 0;    // processes dropped because a host hit its bound
  std::uint64_t keys_evicted = 0;       // sample/unique keys forgotten because of the bound
};

struct EngineMatch {
  const LiveRule* rule = nullptr;
  std::vector<v1::Event> events;  // one event, or every event of a sequence/sample in order
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Replaces the rule set. The state of a rule that stays (same id and fingerprint) is kept; the
  // others start afresh.
  void SetRules(std::vector<LiveRule> rules);
  const std::vector<LiveRule>& rules() const { return rules_; }

  // Evaluates one event; appends the matches to out.
  void Evaluate(const v1::Event& event, std::vector<EngineMatch>& out);
  const EngineCounters& counters() const { return counters_; }
  // Rules the prefilter covers (0 without it) and why it is off, if it failed to build.
  std::size_t prefiltered_rules() const;
  const std::string& prefilter_error() const { return prefilter_error_; }

  // The state (partial sequences and samples, relationships, lineage, pipe state) as bytes, and
  // back. Restore keeps the state of the loaded rules whose id and fingerprint it names; it fails
  // (leaving the engine empty of state) on bytes it cannot read.
  std::string SaveState() const;
  Result<void> RestoreState(std::string_view bytes);

 private:
  struct Partial {
    std::vector<v1::Event> events;
    std::int64_t start = 0;
  };
  struct KeyState {
    std::vector<std::optional<Partial>> stages;
    std::list<std::string>::iterator lru;
  };
  // A set of strings bounded by insertion order (the oldest is forgotten first).
  struct BoundedSet {
    std::unordered_set<std::string> items;
    std::deque<std::string> order;
    bool Contains(const std::string& s) const { return items.contains(s); }
    // False when it was there; evicted counts what the bound pushed out.
    bool Insert(const std::string& s, std::size_t bound, std::uint64_t& evicted);
  };
  struct RuleState {
    std::unordered_map<std::string, KeyState> keys;  // sequences and samples
    std::list<std::string> order;                    // least recently started first
    std::size_t partials = 0;
    BoundedSet done;                  // samples: keys that gave their sample
    std::vector<BoundedSet> related;  // per relationship slot: matching entity ids
    std::vector<std::int64_t> heads;  // per pipe: matches passed by head
    std::vector<BoundedSet> uniques;  // per pipe: keys seen by unique
  };
  struct LineageEntry {
    std::string parent;
    std::int64_t seen = 0, exited = 0;
  };
  using Lineage = std::unordered_map<std::string, LineageEntry>;  // entity -> parent
  class Oracle;

  void Track(const v1::Event& event);
  void SweepLineage(Lineage& host, std::int64_t now, bool full);
  std::optional<bool> Related(std::size_t rule, std::uint32_t slot, hunt::Relation relation,
                              const v1::Event& event) const;
  void Emit(std::size_t index, std::vector<v1::Event> events, std::vector<EngineMatch>& out);
  void EvaluateSequence(std::size_t index, const v1::Event& event, const hunt::RelationOracle* o,
                        std::vector<EngineMatch>& out);
  void EvaluateCount(std::size_t index, const v1::Event& event, const hunt::RelationOracle* o,
                     std::vector<EngineMatch>& out);
  void EvaluateSample(std::size_t index, const v1::Event& event, const hunt::RelationOracle* o,
                      std::vector<EngineMatch>& out);
  std::unordered_map<std::string, KeyState>::iterator AddKey(RuleState& state,
                                                             const std::string& key,
                                                             std::size_t stages);
  void DropKey(RuleState& state, std::unordered_map<std::string, KeyState>::iterator it);
  void ResetState(std::size_t index);
  void Recount();

  EngineOptions options_;
  std::vector<LiveRule> rules_;
  std::vector<RuleState> state_;                      // per rule
  std::unordered_map<std::string, Lineage> lineage_;  // per host id
  bool lineage_used_ = false;                         // some rule has relationships
  std::unique_ptr<Prefilter> prefilter_;
  std::string prefilter_error_;
  std::vector<std::vector<std::uint32_t>> by_category_;       // rule indexes per event category
  std::vector<std::pair<std::size_t, std::string>> matched_;  // scratch: (step, key)
  std::uint64_t seen_ = 0;
  EngineCounters counters_;
};

}  // namespace vigil::detect
