// The server's live detection service: loads the enabled rules from the registry (and installs
// the built-in pack), receives every event the store has durably committed (OnCommitted, wired to
// the store's commit observer by the server's main), evaluates each once in a worker thread and
// turns matches into alerts (stored with suppression of repeats, then pushed to subscribers such
// as the SSE stream). Ingest is never slowed: committed events wait in a bounded queue; agent
// events that do not fit are dropped and counted, imports wait for room. See docs/detection.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "detect/engine.hpp"
#include "server/store/detection_store.hpp"
#include "server/store/store.hpp"

namespace vigil::detect {

struct DetectorOptions {
  std::size_t queue_events = 200'000;                  // committed events waiting for evaluation
  std::int64_t suppress_window_ns = 3600'000'000'000;  // repeats of rule+host+entity fold into one
  EngineOptions engine{};
};

struct DetectorCounters {
  std::uint64_t queued = 0;      // events handed over
  std::uint64_t evaluated = 0;   // events evaluated
  std::uint64_t dropped = 0;     // events not evaluated: the queue was full
  std::uint64_t alerts = 0;      // new alerts
  std::uint64_t suppressed = 0;  // repeats counted on an open alert
  std::uint64_t alert_errors = 0;
  std::uint64_t rules = 0;  // rules loaded
  std::uint64_t queue_depth = 0;
  EngineCounters engine;
};

// The outcome of adding one rule source to the registry.
struct RuleAddResult {
  std::string id;
  store::UpsertOutcome outcome = store::UpsertOutcome::Added;
};

// Validates a rule (it must parse and run live) and turns it into a registry record.
Result<store::RuleRecord> ValidateRule(std::string_view source, RuleKind kind,
                                       std::string_view default_id, std::string_view origin);

// The built-in Linux rule pack (rules/linux/*.eql, compiled into the binary): file name and text.
struct BuiltinRule {
  std::string_view file;
  std::string_view source;
};
std::span<const BuiltinRule> BuiltinRules();

// An alert as JSON (the API's and the SSE stream's shape).
nlohmann::json AlertJson(const store::AlertRecord& alert);

class Detector {
 public:
  Detector(DetectorOptions options, store::DetectionStore& store);
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Installs or updates the built-in rules (keeping their enabled flags).
  Result<std::size_t> InstallBuiltinRules();
  // (Re)loads the enabled rules from the registry. A stored rule that no longer compiles is
  // skipped with a warning naming it.
  Result<std::size_t> Reload();
  void Start();
  void Stop();  // evaluates what is queued, then stops

  // The store's commit observer: copies the events that were newly stored (not duplicates).
  void OnCommitted(std::span<const store::IngestBatch> batches,
                   std::span<const store::AppendResult> results);
  // Waits until every event handed over so far has been evaluated (tests, imports).
  void Drain();

  DetectorCounters Counters() const;

  // Alert subscribers (the SSE stream): called from the worker thread for each new alert.
  using AlertFn = std::function<void(const store::AlertRecord&)>;
  std::uint64_t Subscribe(AlertFn fn);
  void Unsubscribe(std::uint64_t id);

 private:
  void Run();
  void Raise(const std::vector<EngineMatch>& matches);

  DetectorOptions options_;
  store::DetectionStore& store_;

  mutable std::mutex mu_;
  std::condition_variable cv_, room_cv_, drained_cv_;
  std::deque<v1::Event> queue_;
  std::vector<LiveRule> pending_rules_;  // set by Reload, picked up by the worker
  bool rules_changed_ = false;
  std::int64_t next_expiry_ns_ = 0;  // earliest expiry of a loaded IOC set (0: none)
  bool stopping_ = false;
  bool busy_ = false;
  DetectorCounters counters_;

  std::mutex subscribers_mu_;
  std::map<std::uint64_t, AlertFn> subscribers_;
  std::uint64_t next_subscriber_ = 1;

  Engine engine_;  // worker thread only
  std::thread worker_;
};

}  // namespace vigil::detect
