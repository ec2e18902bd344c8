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

Detector::Detector(DetectorOptions options, store::DetectionStore& store)
    : options_(options), store_(store), engine_(options.engine) {}

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

void Detector::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] {
    // Ingest and acks come first: the worker yields the CPU to the server's other threads.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    Run();
  });
}

void Detector::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  room_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Detector::OnCommitted(std::span<const store::IngestBatch> batches,
                           std::span<const store::AppendResult> results) {
  std::unique_lock lock(mu_);
  for (std::size_t b = 0; b < batches.size() && b < results.size(); ++b) {
    const auto& batch = batches[b];
    // Duplicates (resent after a lost ack) are the batch's first events: sequences only grow.
    const std::size_t first = batch.first_sequence ? results[b].duplicates : 0;
    const bool import = batch.agent_id.empty();
    for (std::size_t i = first; i < batch.events.size(); ++i) {
      if (queue_.size() >= options_.queue_events) {
        if (!import || stopping_ || !worker_.joinable()) {
          ++counters_.dropped;
          continue;
        }
        // Imports are not acked to an agent: they may wait for room.
        room_cv_.wait(lock, [&] { return queue_.size() < options_.queue_events || stopping_; });
        if (stopping_) {
          ++counters_.dropped;
          continue;
        }
      }
      queue_.push_back(batch.events[i]);
      ++counters_.queued;
    }
  }
  lock.unlock();
  cv_.notify_one();
}

void Detector::Drain() {
  std::unique_lock lock(mu_);
  drained_cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || !worker_.joinable(); });
}

DetectorCounters Detector::Counters() const {
  std::lock_guard lock(mu_);
  DetectorCounters c = counters_;
  c.queue_depth = queue_.size();
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
  constexpr std::size_t kChunk = 1024;
  std::vector<v1::Event> chunk;
  std::vector<EngineMatch> matches;
  std::unique_lock lock(mu_);
  while (true) {
    // Wakes for work, or when an IOC set expires (then the rules are reloaded without it).
    cv_.wait_for(lock, std::chrono::seconds(5),
                 [&] { return stopping_ || !queue_.empty() || rules_changed_; });
    if (next_expiry_ns_ && NowNs() >= next_expiry_ns_ && !stopping_) {
      next_expiry_ns_ = 0;
      lock.unlock();
      if (auto r = Reload(); !r) VLOG_WARN("reloading rules: {}", r.error().message);
      lock.lock();
    }
    if (rules_changed_) {
      engine_.SetRules(std::move(pending_rules_));
      rules_changed_ = false;
    }
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    chunk.clear();
    while (!queue_.empty() && chunk.size() < kChunk) {
      chunk.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    busy_ = true;
    lock.unlock();
    room_cv_.notify_all();
    // One transaction for the chunk's alerts: few commits, short holds of the write lock.
    matches.clear();
    for (const auto& event : chunk) engine_.Evaluate(event, matches);
    Raise(matches);
    lock.lock();
    busy_ = false;
    counters_.evaluated += chunk.size();
    counters_.engine = engine_.counters();
    if (queue_.empty()) drained_cv_.notify_all();
  }
  busy_ = false;
  drained_cv_.notify_all();
}

void Detector::Raise(const std::vector<EngineMatch>& matches) {
  if (matches.empty()) return;
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
  auto raised = store_.RaiseAlerts(alerts, options_.suppress_window_ns);
  std::lock_guard lock(mu_);
  if (!raised) {
    counters_.alert_errors += alerts.size();
    VLOG_WARN("{} alert(s) not stored: {}", alerts.size(), raised.error().message);
    return;
  }
  std::lock_guard subs(subscribers_mu_);
  for (const auto& [alert, is_new] : *raised) {
    if (!is_new) {
      ++counters_.suppressed;
      continue;
    }
    ++counters_.alerts;
    for (auto& [id, fn] : subscribers_) fn(alert);
  }
}

}  // namespace vigil::detect
