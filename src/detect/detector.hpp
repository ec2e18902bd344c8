// The server's live detection service: loads the enabled rules from the registry (and installs
// the built-in pack) and, in a worker thread, reads the events the store has committed from the
// store itself, after a durable cursor per event table (the last row id evaluated), evaluates
// each once and turns matches into alerts (stored with suppression of repeats, then pushed to
// subscribers such as the SSE stream). A chunk's alerts and the cursors past its events commit in
// one transaction, so a server that dies anywhere resumes exactly where it stopped: no event is
// skipped, none raises its alert twice. Ingest is never slowed (the store's commit observer only
// wakes the worker) and nothing is dropped. The engine's state (partial sequences, relationships)
// is saved every few seconds with the cursors of the events it has seen; a restarted server
// restores it and re-evaluates the events from there to the alert cursors without raising their
// alerts again, so sequences continue across a crash. See docs/detection.md.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "detect/engine.hpp"
#include "server/store/detection_state_store.hpp"
#include "server/store/detection_store.hpp"
#include "server/store/store.hpp"

namespace vigil::detect {

struct DetectorOptions {
  std::size_t chunk_events = 1024;                     // events read per table per store read
  std::int64_t suppress_window_ns = 3600'000'000'000;  // repeats of rule+host+entity fold into one
  EngineOptions engine{};
  // Tests only (the server's VIGIL_TEST_DETECTION_PAUSED): rules load, nothing is evaluated, so
  // events are acknowledged and stored but wait for a later server to evaluate them.
  bool paused = false;
  // Where the engine's state is saved (none: it is lost with the server), and how often.
  store::DetectionStateStore* state_store = nullptr;
  std::int64_t state_save_interval_ns = 5'000'000'000;
};

struct DetectorCounters {
  std::uint64_t queued = 0;      // events newly committed since start
  std::uint64_t evaluated = 0;   // events evaluated since start
  std::uint64_t dropped = 0;     // always 0: events are read from the store, never dropped
  std::uint64_t alerts = 0;      // new alerts
  std::uint64_t suppressed = 0;  // repeats counted on an open alert
  std::uint64_t alert_errors = 0;
  std::uint64_t rules = 0;        // rules loaded
  std::uint64_t queue_depth = 0;  // stored events after the cursors (by row id), at the last read
  std::uint64_t replayed = 0;     // events re-evaluated after a restart to rebuild the state
  std::uint64_t state_saves = 0;
  std::uint64_t state_errors = 0;  // saves or restores that failed (logged)
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
  // events: the store detection reads (after the cursors kept in `store`).
  Detector(DetectorOptions options, store::DetectionStore& store, store::Store& events);
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Installs or updates the built-in rules (keeping their enabled flags).
  Result<std::size_t> InstallBuiltinRules();
  // (Re)loads the enabled rules from the registry. A stored rule that no longer compiles is
  // skipped with a warning naming it.
  Result<std::size_t> Reload();
  // Loads the cursors (a table without one starts at its current last row: a new database at
  // 0) and starts the worker.
  Result<void> Start();
  void Stop();  // finishes the chunk being evaluated, then stops (a restart resumes after it)

  // The store's commit observer: wakes the worker (the events are read back from the store).
  void OnCommitted(std::span<const store::IngestBatch> batches,
                   std::span<const store::AppendResult> results);
  // Waits until every event committed so far has been evaluated (tests, imports).
  void Drain();

  DetectorCounters Counters() const;

  // Alert subscribers (the SSE stream): called from the worker thread for each new alert.
  using AlertFn = std::function<void(const store::AlertRecord&)>;
  std::uint64_t Subscribe(AlertFn fn);
  void Unsubscribe(std::uint64_t id);

 private:
  void Run();
  // Reads and evaluates one chunk from the store; false when there was nothing to read.
  Result<bool> EvaluateChunk();
  std::vector<store::AlertRecord> Alerts(const std::vector<EngineMatch>& matches) const;
  // Saves the engine's state with the worker's cursors (when due, or always with force).
  void SaveState(bool force);
  void Publish(const std::vector<std::pair<store::AlertRecord, bool>>& raised);

  DetectorOptions options_;
  store::DetectionStore& store_;
  store::Store& events_;

  mutable std::mutex mu_;
  std::condition_variable cv_, drained_cv_;
  bool woken_ = false;                                // commits since the worker last looked
  std::uint64_t drain_asked_ = 0, drain_done_ = 0;    // Drain's generations
  std::map<std::string, std::int64_t> cursors_;       // category -> last row id evaluated (worker)
  std::map<std::string, std::int64_t> replay_until_;  // ... whose alerts are stored already
  std::int64_t last_save_ns_ = 0;                     // worker
  bool state_ahead_ = false;  // the engine saw events whose cursors are not stored: never save it
  std::atomic<std::uint64_t> state_saves_{0}, state_errors_{0};
  std::vector<LiveRule> pending_rules_;  // set by Reload, picked up by the worker
  bool rules_changed_ = false;
  std::int64_t next_expiry_ns_ = 0;  // earliest expiry of a loaded IOC set (0: none)
  bool stopping_ = false;
  DetectorCounters counters_;

  std::mutex subscribers_mu_;
  std::map<std::uint64_t, AlertFn> subscribers_;
  std::uint64_t next_subscriber_ = 1;

  Engine engine_;  // worker thread only
  std::thread worker_;
};

}  // namespace vigil::detect
