// The detection service: queue, worker, rule loading and alert raising (see detector.hpp).
#include "detect/detector.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "detect/ioc.hpp"

namespace vigil::detect {

using nlohmann::json;

Result<store::RuleRecord> ValidateRule(std::string_view source, RuleKind kind,
                                       std::string_view default_id, std::string_view origin) {
  auto spec = ParseRule(source, kind, default_id);
  if (!spec) return std::unexpected(spec.error());
  if (auto live = CompileLive(*spec); !live) return std::unexpected(live.error());
  store::RuleRecord record;
  record.id = spec->id;
  record.name = spec->name;
  record.kind = std::string(KindName(kind));
  record.source = std::string(source);
  record.enabled = true;
  record.severity = spec->severity;
  record.tags = spec->tags;
  record.description = spec->description;
  record.origin = std::string(origin);
  return record;
}

json AlertJson(const store::AlertRecord& a) {
  json comments = json::array();
  for (const auto& c : a.comments)
    comments.push_back(
        {{"author", c.author}, {"text", c.text}, {"time", FormatRfc3339(c.time_ns)}});
  return json{{"id", a.id},
              {"rule_id", a.rule_id},
              {"rule_name", a.rule_name},
              {"severity", a.severity},
              {"tags", a.tags},
              {"host.id", a.host_id},
              {"host.name", a.host_name},
              {"process.entity_id", a.entity_id},
              {"status", a.status},
              {"assignee", a.assignee},
              {"comments", comments},
              {"count", a.count},
              {"first_seen", FormatRfc3339(a.first_ns)},
              {"last_seen", FormatRfc3339(a.last_ns)},
              {"created", FormatRfc3339(a.created_ns)},
              {"updated", FormatRfc3339(a.updated_ns)},
              {"events", a.events}};
}

Detector::Detector(DetectorOptions options, store::DetectionStore& store, store::Store& events)
    : options_(options), store_(store), events_(events), engine_(options.engine) {}

Detector::~Detector() { Stop(); }

Result<std::size_t> Detector::InstallBuiltinRules() {
  std::size_t installed = 0;
  for (const BuiltinRule& b : BuiltinRules()) {
    std::string_view stem = b.file.substr(0, b.file.rfind('.'));
    auto record = ValidateRule(b.source, RuleKind::Eql, stem, "builtin");
    if (!record) return Fail("built-in rule " + std::string(b.file) + ":" + record.error().message);
    auto r = store_.UpsertRule(*record, /*keep_enabled=*/true);
    if (!r) return std::unexpected(r.error());
    ++installed;
  }
  return installed;
}

Result<std::size_t> Detector::Reload() {
  auto records = store_.ListRules();
  if (!records) return std::unexpected(records.error());
  std::vector<LiveRule> rules;
  for (const auto& r : *records) {
    if (!r.enabled) continue;
    auto kind = ParseKind(r.kind);
    auto spec = kind ? ParseRule(r.source, *kind, r.id)
                     : Result<RuleSpec>(Fail("unknown rule kind '" + r.kind + "'"));
    auto live = spec ? CompileLive(*spec) : Result<LiveRule>(std::unexpected(spec.error()));
    if (!live) {
      VLOG_WARN("rule {} does not compile and is not loaded: {}", r.id, live.error().message);
      continue;
    }
    // The registry's metadata wins (the id a rule was stored under, edited severity...).
    live->id = r.id;
    live->name = r.name;
    live->severity = r.severity;
    live->tags = r.tags;
    rules.push_back(std::move(*live));
  }
  // IOC sets that have not expired, one generated rule each.
  auto sets = store_.ListIocSets();
  if (!sets) return std::unexpected(sets.error());
  const std::int64_t now = NowNs();
  std::int64_t next_expiry = 0;
  for (const auto& set : *sets) {
    if (set.expires_ns && set.expires_ns <= now) continue;
    if (set.expires_ns && (!next_expiry || set.expires_ns < next_expiry))
      next_expiry = set.expires_ns;
    auto spec = ParseRule(IocQuery(set), RuleKind::Eql, IocRuleId(set));
    auto live = spec ? CompileLive(*spec) : Result<LiveRule>(std::unexpected(spec.error()));
    if (!live) {
      VLOG_WARN("IOC set {} is not loaded: {}", set.name, live.error().message);
      continue;
    }
    rules.push_back(std::move(*live));
  }
  const std::size_t n = rules.size();
  {
    std::lock_guard lock(mu_);
    next_expiry_ns_ = next_expiry;
    pending_rules_ = std::move(rules);
    rules_changed_ = true;
    counters_.rules = n;
    if (!worker_.joinable()) {  // not started: apply now
      engine_.SetRules(std::move(pending_rules_));
      rules_changed_ = false;
    }
  }
  cv_.notify_all();
  return n;
}

Result<void> Detector::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return {};
  auto stored = store_.Cursors();
  if (!stored) return Fail("detection cursors: " + stored.error().message);
  std::map<std::string, std::int64_t> fresh;
  for (const auto& def : schema::Categories()) {
    const std::string name(def.name);
    if (stored->contains(name)) continue;
    // A table detection never read (a new database, or one from before the cursors): from now.
    auto last = events_.LastEventId(def.category);
    if (!last) return Fail("detection cursors: " + last.error().message);
    fresh[name] = *last;
  }
  if (!fresh.empty())
    if (auto r = store_.RaiseAlerts({}, options_.suppress_window_ns, fresh); !r)
      return Fail("detection cursors: " + r.error().message);
  cursors_ = std::move(*stored);
  cursors_.merge(fresh);
  replay_until_ = cursors_;
  // The saved state continues where it was saved: the events after its cursors are evaluated
  // again, their alerts (up to the alert cursors) not raised again.
  bool restored = false;
  if (options_.state_store) {
    auto snapshot = options_.state_store->Load();
    auto r = !snapshot    ? Result<void>(std::unexpected(snapshot.error()))
             : !*snapshot ? Result<void>()
                          : engine_.RestoreState((*snapshot)->state);
    if (!r) {
      ++state_errors_;
      VLOG_WARN("live detection starts without its saved state: {}", r.error().message);
    } else if (snapshot && *snapshot) {
      restored = true;
      for (auto& [name, id] : cursors_) {
        auto it = (*snapshot)->cursors.find(name);
        if (it != (*snapshot)->cursors.end()) id = std::min(id, it->second);
      }
    }
  }
  if (options_.state_store && !restored) SaveState(/*force=*/true);  // the base to replay from
  stopping_ = false;
  worker_ = std::thread([this] {
    // Ingest and acks come first: the worker yields the CPU to the server's other threads.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    Run();
  });
  return {};
}

void Detector::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
    SaveState(/*force=*/true);  // a clean stop leaves nothing to replay
  }
  drained_cv_.notify_all();
}

void Detector::SaveState(bool force) {
  if (!options_.state_store || state_ahead_) return;
  const std::int64_t now = NowNs();
  if (!force && now - last_save_ns_ < options_.state_save_interval_ns) return;
  last_save_ns_ = now;
  auto r = options_.state_store->Save({engine_.SaveState(), cursors_, now});
  if (r) {
    ++state_saves_;
  } else {
    ++state_errors_;
    VLOG_WARN("saving the live detection state: {}", r.error().message);
  }
}

void Detector::OnCommitted(std::span<const store::IngestBatch> batches,
                           std::span<const store::AppendResult> results) {
  std::uint64_t stored = 0;
  for (std::size_t b = 0; b < batches.size() && b < results.size(); ++b)
    stored += results[b].stored;
  if (stored == 0) return;
  {
    std::lock_guard lock(mu_);
    counters_.queued += stored;
    woken_ = true;
  }
  cv_.notify_one();
}

void Detector::Drain() {
  std::unique_lock lock(mu_);
  if (!worker_.joinable() || options_.paused) return;
  const std::uint64_t mine = ++drain_asked_;
  cv_.notify_one();
  drained_cv_.wait(lock, [&] { return drain_done_ >= mine || !worker_.joinable() || stopping_; });
}

DetectorCounters Detector::Counters() const {
  std::lock_guard lock(mu_);
  DetectorCounters c = counters_;
  c.state_saves = state_saves_;
  c.state_errors = state_errors_;
  return c;
}

std::uint64_t Detector::Subscribe(AlertFn fn) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_[next_subscriber_] = std::move(fn);
  return next_subscriber_++;
}

void Detector::Unsubscribe(std::uint64_t id) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_.erase(id);
}

void Detector::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Wakes on commits, Drain and rule changes; every second anyway (a commit observed by
    // nobody, e.g. from another process) and for IOC set expiry (then the rules are reloaded).
    cv_.wait_for(lock, std::chrono::seconds(1), [&] {
      return stopping_ || woken_ || rules_changed_ || drain_asked_ > drain_done_;
    });
    if (stopping_) break;
    if (next_expiry_ns_ && NowNs() >= next_expiry_ns_) {
      next_expiry_ns_ = 0;
      lock.unlock();
      if (auto r = Reload(); !r) VLOG_WARN("reloading rules: {}", r.error().message);
      lock.lock();
    }
    if (rules_changed_) {
      engine_.SetRules(std::move(pending_rules_));
      rules_changed_ = false;
    }
    if (options_.paused) {
      woken_ = false;
      continue;
    }
    // Read until a pass finds nothing: then every event committed before it began is evaluated.
    const std::uint64_t asked = drain_asked_;
    woken_ = false;
    lock.unlock();
    bool more = true;
    while (more) {
      auto read = EvaluateChunk();
      if (!read) {
        VLOG_WARN("live detection: {}; retrying", read.error().message);
        lock.lock();
        cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
        if (stopping_) return;
        lock.unlock();
        continue;
      }
      more = *read;
      std::lock_guard check(mu_);
      if (stopping_) return;
      if (rules_changed_) {
        engine_.SetRules(std::move(pending_rules_));
        rules_changed_ = false;
      }
    }
    lock.lock();
    drain_done_ = asked;
    drained_cv_.notify_all();
  }
}

// One read per table (at most chunk_events rows after its cursor), merged by event time, and
// evaluated until a table whose read was cut off runs out (its next rows are unknown yet). The
// tables' evaluated rows are prefixes in row-id order, so each cursor is the last id evaluated.
Result<bool> Detector::EvaluateChunk() {
  struct Table {
    std::string name;
    std::vector<std::pair<std::int64_t, v1::Event>> rows;
    std::size_t next = 0;
    bool cut = false;
  };
  std::vector<Table> tables;
  std::size_t total = 0;
  for (const auto& def : schema::Categories()) {
    Table t;
    t.name = std::string(def.name);
    auto r = events_.ReadEventsAfter(def.category, cursors_[t.name], options_.chunk_events,
                                     [&](std::int64_t id, v1::Event&& e) {
                                       t.rows.emplace_back(id, std::move(e));
                                       return true;
                                     });
    if (!r) return std::unexpected(r.error());
    t.cut = t.rows.size() >= options_.chunk_events;
    total += t.rows.size();
    if (!t.rows.empty()) tables.push_back(std::move(t));
  }
  if (total == 0) {
    std::lock_guard lock(mu_);
    counters_.queue_depth = 0;
    return false;
  }
  std::map<std::string, std::int64_t> cursors, seen;
  std::vector<EngineMatch> matches, replayed_matches;
  std::uint64_t evaluated = 0, replayed = 0;
  while (true) {
    Table* first = nullptr;
    bool stop = false;
    for (Table& t : tables) {
      if (t.next == t.rows.size()) {
        stop |= t.cut;
        continue;
      }
      const v1::Event& e = t.rows[t.next].second;
      if (!first || e.timestamp() < first->rows[first->next].second.timestamp()) first = &t;
    }
    if (stop || !first) break;
    auto& [id, event] = first->rows[first->next++];
    seen[first->name] = id;
    if (id <= replay_until_[first->name]) {  // rebuilding the state: its alerts are stored
      engine_.Evaluate(event, replayed_matches);
      replayed_matches.clear();
      ++replayed;
      continue;
    }
    engine_.Evaluate(event, matches);
    cursors[first->name] = id;
    ++evaluated;
  }
  // Alerts and cursors in one transaction: after a crash, either both are stored or neither.
  // A failed write is retried as it is (the engine must not see these events twice).
  const auto alerts = Alerts(matches);
  for (int attempt = 0; !cursors.empty(); ++attempt) {
    auto raised = store_.RaiseAlerts(alerts, options_.suppress_window_ns, cursors);
    if (raised) {
      if (attempt > 0) VLOG_INFO("alerts and detection cursors stored after {} retries", attempt);
      Publish(*raised);
      break;
    }
    if (attempt % 60 == 0)  // once a minute while it lasts (a full disk can last long)
      VLOG_WARN("{} alert(s) and the detection cursors not stored: {}; retrying every second",
                alerts.size(), raised.error().message);
    std::unique_lock lock(mu_);
    ++counters_.alert_errors;
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    if (stopping_) {
      // Not stored: the next start evaluates these events again, so the engine's state (which
      // has seen them) must not be saved; the last saved one plus the replay rebuilds it.
      state_ahead_ = true;
      return false;
    }
  }
  for (const auto& [name, id] : seen) cursors_[name] = id;
  SaveState(/*force=*/false);
  std::uint64_t depth = 0;
  for (const auto& def : schema::Categories()) {
    const std::string name(def.name);
    if (auto last = events_.LastEventId(def.category); last && *last > cursors_[name])
      depth += static_cast<std::uint64_t>(*last - cursors_[name]);
  }
  std::lock_guard lock(mu_);
  counters_.evaluated += evaluated;
  counters_.replayed += replayed;
  counters_.engine = engine_.counters();
  counters_.queue_depth = depth;
  return true;
}

std::vector<store::AlertRecord> Detector::Alerts(const std::vector<EngineMatch>& matches) const {
  std::vector<store::AlertRecord> alerts;
  alerts.reserve(matches.size());
  for (const auto& match : matches) {
    const v1::Event& last = match.events.back();
    store::AlertRecord& alert = alerts.emplace_back();
    alert.rule_id = match.rule->id;
    alert.rule_name = match.rule->name;
    alert.severity = match.rule->severity;
    alert.tags = match.rule->tags;
    alert.host_id = last.host_id();
    alert.host_name = last.host_name();
    alert.entity_id = last.process_entity_id();
    for (const auto& e : match.events) alert.events.push_back(json::parse(EventToJson(e).dump()));
    alert.first_ns = match.events.front().timestamp();
    alert.last_ns = last.timestamp();
  }
  return alerts;
}

void Detector::Publish(const std::vector<std::pair<store::AlertRecord, bool>>& raised) {
  std::lock_guard lock(mu_);
  std::lock_guard subs(subscribers_mu_);
  for (const auto& [alert, is_new] : raised) {
    if (!is_new) {
      ++counters_.suppressed;
      continue;
    }
    ++counters_.alerts;
    for (auto& [id, fn] : subscribers_) fn(alert);
  }
}

}  // namespace vigil::detect
