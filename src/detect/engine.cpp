// The live engine's evaluation loop, sequence and sample state machines, relationships and pipes
// (see engine.hpp).
#include "detect/engine.hpp"

#include <algorithm>
#include <map>

#include "detect/prefilter.hpp"

namespace vigil::detect {

// Answers a rule's relationships from the engine's state (the matcher calls it).
class Engine::Oracle : public hunt::RelationOracle {
 public:
  Oracle(const Engine& engine, std::size_t rule) : engine_(engine), rule_(rule) {}
  std::optional<bool> Related(std::uint32_t slot, hunt::Relation relation,
                              const v1::Event& event) const override {
    return engine_.Related(rule_, slot, relation, event);
  }

 private:
  const Engine& engine_;
  std::size_t rule_;
};

Engine::Engine(EngineOptions options) : options_(options) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

bool Engine::BoundedSet::Insert(const std::string& s, std::size_t bound, std::uint64_t& evicted) {
  if (!items.insert(s).second) return false;
  order.push_back(s);
  while (items.size() > bound && !order.empty()) {
    items.erase(order.front());
    order.pop_front();
    ++evicted;
  }
  return true;
}

void Engine::ResetState(std::size_t index) {
  const LiveRule& rule = rules_[index];
  RuleState& st = state_[index];
  st = RuleState{};
  st.related.resize(rule.related.size());
  st.heads.assign(rule.pipes.size(), 0);
  st.uniques.resize(rule.pipes.size());
}

void Engine::Recount() {
  counters_.sequence_partials = 0;
  counters_.related_entities = 0;
  counters_.lineage_entries = 0;
  for (const auto& st : state_) {
    counters_.sequence_partials += st.partials;
    for (const auto& r : st.related) counters_.related_entities += r.items.size();
  }
  for (const auto& [host, lineage] : lineage_) counters_.lineage_entries += lineage.size();
}

void Engine::SetRules(std::vector<LiveRule> rules) {
  // Keep the state of rules that stay (same id, same source).
  std::map<std::pair<std::string, std::uint64_t>, RuleState> kept;
  for (std::size_t i = 0; i < rules_.size() && i < state_.size(); ++i)
    kept.emplace(std::pair{rules_[i].id, rules_[i].fingerprint}, std::move(state_[i]));
  rules_ = std::move(rules);
  state_.assign(rules_.size(), RuleState{});
  lineage_used_ = false;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    lineage_used_ |= !rules_[i].related.empty();
    auto it = kept.find({rules_[i].id, rules_[i].fingerprint});
    if (it != kept.end())
      state_[i] = std::move(it->second), kept.erase(it);
    else
      ResetState(i);
  }
  if (!lineage_used_) lineage_.clear();
  Recount();
  const std::size_t ncat = schema::Categories().size();
  by_category_.assign(ncat, {});
  for (std::uint32_t i = 0; i < rules_.size(); ++i) {
    const auto cats = rules_[i].Categories();
    for (std::size_t c = 0; c < ncat; ++c) {
      const bool wanted = std::ranges::any_of(
          cats, [&](const auto& cat) { return !cat || static_cast<std::size_t>(*cat) == c; });
      if (wanted) by_category_[c].push_back(i);
    }
  }
  prefilter_.reset();
  prefilter_error_.clear();
  if (options_.prefilter && !rules_.empty()) {
    auto built = Prefilter::Build(rules_);
    if (built)
      prefilter_ = std::move(*built);
    else
      prefilter_error_ = built.error().message;  // evaluate every rule: slower, same results
  }
}

std::size_t Engine::prefiltered_rules() const {
  return prefilter_ ? prefilter_->filtered_rules() : 0;
}

// ---------------------------------------------------------------- lineage and relationships

void Engine::SweepLineage(Lineage& host, std::int64_t now, bool full) {
  for (auto it = host.begin(); it != host.end();) {
    if (it->second.exited && now - it->second.exited > options_.lineage_exit_grace_ns) {
      it = host.erase(it);
      ++counters_.lineage_exited, --counters_.lineage_entries;
    } else {
      ++it;
    }
  }
  if (!full || host.size() < options_.max_lineage_per_host) return;
  // Still full: forget the least recently seen tenth.
  std::vector<std::int64_t> seen;
  seen.reserve(host.size());
  for (const auto& [entity, e] : host) seen.push_back(e.seen);
  const std::size_t drop = std::max<std::size_t>(1, host.size() / 10);
  std::nth_element(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(drop - 1), seen.end());
  const std::int64_t cutoff = seen[drop - 1];
  for (auto it = host.begin(); it != host.end();) {
    if (it->second.seen <= cutoff) {
      it = host.erase(it);
      ++counters_.lineage_evicted, --counters_.lineage_entries;
    } else {
      ++it;
    }
  }
}

// Process events give the lineage: entity -> parent, per host; an exit marks the entry, which
// goes after the grace period (its children may still need it to reach their ancestors).
void Engine::Track(const v1::Event& event) {
  const std::string& entity = event.process_entity_id();
  if (entity.empty()) return;
  Lineage& host = lineage_[event.host_id()];
  auto it = host.find(entity);
  if (it == host.end()) {
    if (host.size() >= options_.max_lineage_per_host)
      SweepLineage(host, event.timestamp(), /*full=*/true);
    it = host.emplace(entity, LineageEntry{}).first;
    ++counters_.lineage_entries;
  }
  if (!event.process_parent_entity_id().empty())
    it->second.parent = event.process_parent_entity_id();
  it->second.seen = event.timestamp();
  if (event.event_action() == "exit") it->second.exited = event.timestamp();
}

// Endgame semantics as the SQL path (hunt/compiler.cpp RelationshipSql): event of — the event's
// process matched; child of — its parent did (process events carry the parent; other events find
// their process's through the lineage, as SQL through the process table); descendant of — an
// ancestor did. Null without a process to relate.
std::optional<bool> Engine::Related(std::size_t rule, std::uint32_t slot, hunt::Relation relation,
                                    const v1::Event& event) const {
  const BoundedSet& set = state_[rule].related[slot];
  const std::string& self = event.process_entity_id();
  if (relation == hunt::Relation::EventOf) {
    if (self.empty()) return std::nullopt;
    return set.Contains(self);
  }
  auto host = lineage_.find(event.host_id());
  auto parent_of = [&](const std::string& entity) -> const std::string* {
    if (host == lineage_.end()) return nullptr;
    auto it = host->second.find(entity);
    return it == host->second.end() || it->second.parent.empty() ? nullptr : &it->second.parent;
  };
  const std::string* parent = nullptr;
  if (schema::CategoryOf(event) == schema::Category::Process) {
    if (event.process_parent_entity_id().empty()) return std::nullopt;
    parent = &event.process_parent_entity_id();
  } else {
    if (self.empty()) return std::nullopt;
    parent = parent_of(self);
    if (!parent) return false;
  }
  if (relation == hunt::Relation::ChildOf) return set.Contains(*parent);
  for (int depth = 0; parent && depth < 1024; ++depth) {  // the depth bounds a corrupt cycle
    if (set.Contains(*parent)) return true;
    parent = parent_of(*parent);
  }
  return false;
}

// ---------------------------------------------------------------- evaluation

void Engine::Evaluate(const v1::Event& event, std::vector<EngineMatch>& out) {
  ++counters_.events;
  ++seen_;
  auto category = schema::CategoryOf(event);
  if (!category) return;
  if (lineage_used_) {
    if (seen_ % 65536 == 0)
      for (auto& [host, lineage] : lineage_) SweepLineage(lineage, event.timestamp(), false);
    if (*category == schema::Category::Process) Track(event);
  }
  if (prefilter_) prefilter_->Scan(event);
  for (std::uint32_t index : by_category_[static_cast<std::size_t>(*category)]) {
    const LiveRule& rule = rules_[index];
    std::optional<Oracle> oracle;
    if (!rule.related.empty()) {
      // The inner queries first (innermost first): this event's own process counts too.
      oracle.emplace(*this, index);
      RuleState& st = state_[index];
      for (std::size_t r = 0; r < rule.related.size(); ++r) {
        const RelatedQuery& q = rule.related[r];
        if (q.category && *q.category != *category) continue;
        ++counters_.rule_evaluations;
        if (event.process_entity_id().empty() || !q.matcher.Matches(event, &*oracle)) continue;
        const std::uint64_t evicted = counters_.related_evicted;
        if (st.related[r].Insert(event.process_entity_id(), options_.max_related_per_rule,
                                 counters_.related_evicted))
          counters_.related_entities += 1 - (counters_.related_evicted - evicted);
      }
    }
    if (rule.kind == LiveKind::Event && rule.category && *rule.category != *category)
      continue;  // here for its relationships only
    if (prefilter_ && !prefilter_->Candidate(index)) {
      ++counters_.prefilter_skipped;
      continue;
    }
    const hunt::RelationOracle* o = oracle ? &*oracle : nullptr;
    switch (rule.kind) {
      case LiveKind::Sequence:
        if (rule.count) {
          EvaluateCount(index, event, o, out);
        } else {
          EvaluateSequence(index, event, o, out);
        }
        break;
      case LiveKind::Sample:
        EvaluateSample(index, event, o, out);
        break;
      case LiveKind::Event:
        ++counters_.rule_evaluations;
        if (rule.matcher->Matches(event, o)) Emit(index, {event}, out);
        break;
    }
  }
  if (prefilter_) prefilter_->Unmark();
}

// The rule's pipes, in order, on a match (as hunt/executor.cpp's MatchOutput and the SQL of
// single-event pipes): filter, head, unique.
void Engine::Emit(std::size_t index, std::vector<v1::Event> events, std::vector<EngineMatch>& out) {
  const LiveRule& rule = rules_[index];
  RuleState& st = state_[index];
  for (std::size_t p = 0; p < rule.pipes.size(); ++p) {
    const LivePipe& pipe = rule.pipes[p];
    switch (pipe.kind) {
      case hunt::PipeKind::Filter: {
        std::optional<Oracle> oracle;
        if (!rule.related.empty()) oracle.emplace(*this, index);
        const bool pass = std::ranges::any_of(events, [&](const v1::Event& e) {
          return pipe.filter->Matches(e, oracle ? &*oracle : nullptr);
        });
        if (!pass) return;
        break;
      }
      case hunt::PipeKind::Head:
        if (st.heads[p] >= pipe.count) return;
        ++st.heads[p];
        break;
      case hunt::PipeKind::Unique: {
        // The key's values with a null marker (SQL partitions nulls together).
        std::string key;
        for (const hunt::Expr* k : pipe.keys) {
          auto v = KeyValue(*k, events.front());
          key += v ? "v" + *v : std::string("n");
          key += '\x1f';
        }
        if (!st.uniques[p].Insert(key, options_.max_related_per_rule, counters_.keys_evicted))
          return;
        break;
      }
      default:
        return;  // CompileLive refuses the others
    }
  }
  ++counters_.matches;
  out.push_back(EngineMatch{&rule, std::move(events)});
}

namespace {

// The join key of an event for a step: the values, unit-separated; nullopt when any is null (a
// null key joins nothing, as in the SQL path).
std::optional<std::string> JoinKey(const SequenceStep& step, const v1::Event& event) {
  std::string key;
  for (const hunt::Expr* k : step.keys) {
    auto v = KeyValue(*k, event);
    if (!v) return std::nullopt;
    key += *v;
    key += '\x1f';
  }
  return key;
}

bool InCategory(const SequenceStep& step, std::optional<schema::Category> category) {
  return !step.category || step.category == category;
}

}  // namespace

std::unordered_map<std::string, Engine::KeyState>::iterator Engine::AddKey(RuleState& state,
                                                                           const std::string& key,
                                                                           std::size_t stages) {
  if (state.keys.size() >= options_.max_partials_per_rule) {
    auto oldest = state.keys.find(state.order.front());
    for (auto& slot : oldest->second.stages) counters_.sequence_evicted += slot.has_value();
    DropKey(state, oldest);
  }
  state.order.push_back(key);
  return state.keys
      .emplace(key,
               KeyState{std::vector<std::optional<Partial>>(stages), std::prev(state.order.end())})
      .first;
}

void Engine::DropKey(RuleState& state, std::unordered_map<std::string, KeyState>::iterator it) {
  for (auto& slot : it->second.stages)
    if (slot) --state.partials, --counters_.sequence_partials;
  state.order.erase(it->second.lru);
  state.keys.erase(it);
}

// Elastic EQL semantics, as hunt/executor.cpp's RunSequence: per join key at most one partial
// sequence per stage; an event matching step i moves stage i-1 to stage i (steps tried last to
// first so one event never advances a sequence twice); step 1 starts a new one; maxspan bounds
// last - first; until drops the key's partial sequences; a missing-event step drops the key's
// partial sequence of the stage before it; `runs=N` steps are N plain steps.
void Engine::EvaluateSequence(std::size_t index, const v1::Event& event,
                              const hunt::RelationOracle* oracle, std::vector<EngineMatch>& out) {
  const LiveRule& rule = rules_[index];
  RuleState& state = state_[index];
  const std::size_t steps = rule.steps.size();
  const std::int64_t ts = event.timestamp();
  const auto category = schema::CategoryOf(event);
  auto expired = [&](const Partial& p) {
    return rule.maxspan_ns && ts - p.start > rule.maxspan_ns;
  };

  if (rule.maxspan_ns && seen_ % 65536 == 0) {
    for (auto it = state.keys.begin(); it != state.keys.end();) {
      bool any = false;
      for (auto& slot : it->second.stages) {
        if (slot && expired(*slot)) {
          slot.reset();
          --state.partials, --counters_.sequence_partials, ++counters_.sequence_expired;
        }
        any |= slot.has_value();
      }
      if (any) {
        ++it;
      } else {
        state.order.erase(it->second.lru);
        it = state.keys.erase(it);
      }
    }
  }

  matched_.clear();
  for (std::size_t i = 0; i < steps; ++i) {
    if (!InCategory(rule.steps[i], category)) continue;
    ++counters_.rule_evaluations;
    if (rule.steps[i].matcher.Matches(event, oracle))
      if (auto key = JoinKey(rule.steps[i], event)) matched_.emplace_back(i, std::move(*key));
  }
  if (rule.until && InCategory(*rule.until, category)) {
    ++counters_.rule_evaluations;
    if (rule.until->matcher.Matches(event, oracle))
      if (auto key = JoinKey(*rule.until, event)) matched_.emplace_back(steps, std::move(*key));
  }

  auto empty = [](const KeyState& k) {
    return std::ranges::none_of(k.stages, [](const auto& s) { return s.has_value(); });
  };
  for (auto m = matched_.rbegin(); m != matched_.rend(); ++m) {
    const auto& [listed, key] = *m;
    auto it = state.keys.find(key);
    if (listed == steps) {  // until
      if (it != state.keys.end()) DropKey(state, it);
      continue;
    }
    const SequenceStep& step = rule.steps[listed];
    if (step.missing) {
      if (it != state.keys.end() && it->second.stages[step.stage]) {
        it->second.stages[step.stage].reset();
        --state.partials, --counters_.sequence_partials;
        if (empty(it->second)) DropKey(state, it);
      }
      continue;
    }
    const std::size_t stage = step.stage;
    if (stage == 0) {
      if (rule.stages == 1) {
        Emit(index, {event}, out);
        continue;
      }
      if (it == state.keys.end()) it = AddKey(state, key, rule.stages);
      auto& slot = it->second.stages[0];
      if (!slot) ++state.partials, ++counters_.sequence_partials;
      slot = Partial{{event}, ts};
    } else if (it != state.keys.end() && it->second.stages[stage - 1]) {
      Partial p = std::move(*it->second.stages[stage - 1]);
      it->second.stages[stage - 1].reset();
      --state.partials, --counters_.sequence_partials;
      if (expired(p)) {
        ++counters_.sequence_expired;
      } else {
        p.events.push_back(event);
        if (stage + 1 == rule.stages) {
          Emit(index, std::move(p.events), out);
        } else {
          if (!it->second.stages[stage]) ++state.partials, ++counters_.sequence_partials;
          it->second.stages[stage] = std::move(p);
        }
      }
      if (empty(it->second)) DropKey(state, it);
    }
  }
}

// As hunt/executor.cpp's RunSample: per join key, the first event of each filter (an event fills
// one slot); each key gives at most one sample, when every filter has an event. The keys that gave
// theirs are remembered up to max_related_per_rule (the oldest is forgotten first, counted).
// `sequence [q] with runs=N`: the same matches as N plain steps (each stage holding the newest
// partial sequence, so a match is the newest N events within maxspan, and every further event
// within it matches again), kept as one window of at most N events per join key: O(N) memory per
// key instead of the O(N²) of N stages.
void Engine::EvaluateCount(std::size_t index, const v1::Event& event,
                           const hunt::RelationOracle* oracle, std::vector<EngineMatch>& out) {
  const LiveRule& rule = rules_[index];
  RuleState& state = state_[index];
  const SequenceStep& step = rule.steps[0];
  if (!InCategory(step, schema::CategoryOf(event))) return;
  ++counters_.rule_evaluations;
  if (!step.matcher.Matches(event, oracle)) return;
  auto key = JoinKey(step, event);
  if (!key) return;
  auto it = state.keys.find(*key);
  if (it == state.keys.end()) it = AddKey(state, *key, 1);
  auto& slot = it->second.stages[0];
  if (!slot) {
    slot = Partial{};
    ++state.partials, ++counters_.sequence_partials;
  }
  auto& events = slot->events;
  events.push_back(event);
  const std::int64_t ts = event.timestamp();
  std::size_t drop = events.size() > rule.count ? events.size() - rule.count : 0;
  while (rule.maxspan_ns && drop + 1 < events.size() &&
         ts - events[drop].timestamp() > rule.maxspan_ns) {
    ++drop;
    ++counters_.sequence_expired;
  }
  events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(drop));
  slot->start = events.front().timestamp();
  if (events.size() == rule.count) Emit(index, events, out);
}

void Engine::EvaluateSample(std::size_t index, const v1::Event& event,
                            const hunt::RelationOracle* oracle, std::vector<EngineMatch>& out) {
  const LiveRule& rule = rules_[index];
  RuleState& state = state_[index];
  const auto category = schema::CategoryOf(event);
  matched_.clear();
  for (std::size_t i = 0; i < rule.steps.size(); ++i) {
    if (!InCategory(rule.steps[i], category)) continue;
    ++counters_.rule_evaluations;
    if (rule.steps[i].matcher.Matches(event, oracle))
      if (auto key = JoinKey(rule.steps[i], event)) matched_.emplace_back(i, std::move(*key));
  }
  for (const auto& [step, key] : matched_) {
    if (state.done.Contains(key)) continue;
    auto it = state.keys.find(key);
    if (it == state.keys.end()) it = AddKey(state, key, rule.stages);
    auto& slots = it->second.stages;
    if (slots[step]) continue;
    slots[step] = Partial{{event}, event.timestamp()};
    ++state.partials, ++counters_.sequence_partials;
    if (std::ranges::all_of(slots, [](const auto& s) { return s.has_value(); })) {
      std::vector<v1::Event> events;
      for (auto& s : slots) events.push_back(std::move(s->events.front()));
      DropKey(state, it);
      state.done.Insert(key, options_.max_related_per_rule, counters_.keys_evicted);
      Emit(index, std::move(events), out);
    }
    break;
  }
}

}  // namespace vigil::detect
