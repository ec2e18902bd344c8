// The live engine's evaluation loop and sequence state machines (see engine.hpp).
#include "detect/engine.hpp"

#include <algorithm>

#include "detect/prefilter.hpp"

namespace vigil::detect {

Engine::Engine(EngineOptions options) : options_(options) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

void Engine::SetRules(std::vector<LiveRule> rules) {
  rules_ = std::move(rules);
  sequences_.clear();
  sequences_.resize(rules_.size());
  counters_.sequence_partials = 0;
  const std::size_t ncat = schema::Categories().size();
  by_category_.assign(ncat, {});
  for (std::uint32_t i = 0; i < rules_.size(); ++i) {
    for (std::size_t c = 0; c < ncat; ++c) {
      const bool wanted = std::ranges::any_of(rules_[i].categories, [&](const auto& cat) {
        return !cat || static_cast<std::size_t>(*cat) == c;
      });
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

void Engine::Evaluate(const v1::Event& event, std::vector<EngineMatch>& out) {
  ++counters_.events;
  ++seen_;
  auto category = schema::CategoryOf(event);
  if (!category) return;
  if (prefilter_) prefilter_->Scan(event);
  for (std::uint32_t index : by_category_[static_cast<std::size_t>(*category)]) {
    if (prefilter_ && !prefilter_->Candidate(index)) {
      ++counters_.prefilter_skipped;
      continue;
    }
    const LiveRule& rule = rules_[index];
    if (rule.IsSequence()) {
      EvaluateSequence(index, event, out);
      continue;
    }
    ++counters_.rule_evaluations;
    if (rule.matcher->Matches(event)) {
      ++counters_.matches;
      out.push_back(EngineMatch{&rule, {event}});
    }
  }
  if (prefilter_) prefilter_->Unmark();
}

namespace {

// The join key of an event for a step: the values with their kind, unit-separated; nullopt when
// any is null (a null key joins nothing, as in the SQL path).
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

}  // namespace

void Engine::DropKey(SequenceState& state, std::unordered_map<std::string, KeyState>::iterator it) {
  for (auto& slot : it->second.stages)
    if (slot) --state.partials, --counters_.sequence_partials;
  state.order.erase(it->second.lru);
  state.keys.erase(it);
}

// Elastic EQL semantics, as hunt/executor.cpp's RunSequence: per join key at most one partial
// sequence per stage; an event matching step i moves stage i-1 to stage i (steps tried last to
// first so one event never advances a sequence twice); step 1 starts a new one; maxspan bounds
// last - first; until drops the key's partial sequences.
void Engine::EvaluateSequence(std::size_t index, const v1::Event& event,
                              std::vector<EngineMatch>& out) {
  const LiveRule& rule = rules_[index];
  SequenceState& state = sequences_[index];
  const std::size_t steps = rule.steps.size();
  const std::int64_t ts = event.timestamp();
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
    if (!rule.categories[i] || rule.categories[i] == schema::CategoryOf(event)) {
      ++counters_.rule_evaluations;
      if (rule.steps[i].matcher.Matches(event))
        if (auto key = JoinKey(rule.steps[i], event)) matched_.emplace_back(i, std::move(*key));
    }
  }
  if (rule.until &&
      (!rule.categories[steps] || rule.categories[steps] == schema::CategoryOf(event))) {
    ++counters_.rule_evaluations;
    if (rule.until->matcher.Matches(event))
      if (auto key = JoinKey(*rule.until, event)) matched_.emplace_back(steps, std::move(*key));
  }

  for (auto m = matched_.rbegin(); m != matched_.rend(); ++m) {
    const auto& [step, key] = *m;
    auto it = state.keys.find(key);
    if (step == steps) {  // until
      if (it != state.keys.end()) DropKey(state, it);
      continue;
    }
    if (step == 0) {
      if (steps == 1) {
        ++counters_.matches;
        out.push_back(EngineMatch{&rule, {event}});
        continue;
      }
      if (it == state.keys.end()) {
        if (state.keys.size() >= options_.max_partials_per_rule) {
          auto oldest = state.keys.find(state.order.front());
          for (auto& slot : oldest->second.stages) counters_.sequence_evicted += slot.has_value();
          DropKey(state, oldest);
        }
        state.order.push_back(key);
        it = state.keys
                 .emplace(key, KeyState{std::vector<std::optional<Partial>>(steps),
                                        std::prev(state.order.end())})
                 .first;
      }
      auto& slot = it->second.stages[0];
      if (!slot) ++state.partials, ++counters_.sequence_partials;
      slot = Partial{{event}, ts};
    } else if (it != state.keys.end() && it->second.stages[step - 1]) {
      Partial p = std::move(*it->second.stages[step - 1]);
      it->second.stages[step - 1].reset();
      --state.partials, --counters_.sequence_partials;
      if (expired(p)) {
        ++counters_.sequence_expired;
      } else {
        p.events.push_back(event);
        if (step + 1 == steps) {
          ++counters_.matches;
          out.push_back(EngineMatch{&rule, std::move(p.events)});
        } else {
          if (!it->second.stages[step]) ++state.partials, ++counters_.sequence_partials;
          it->second.stages[step] = std::move(p);
        }
      }
      if (std::ranges::none_of(it->second.stages, [](const auto& s) { return s.has_value(); }))
        DropKey(state, it);
    }
  }
}

}  // namespace vigil::detect
