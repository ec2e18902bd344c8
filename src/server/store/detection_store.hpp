// Persistent state of live detection, next to the events in the same SQLite file (own connection,
// WAL): the rule registry (EQL and Sigma sources with their metadata and enabled flag), the
// alerts analysts triage (status, assignee, comments, suppressed repeats) and the IOC sets.
// See docs/detection.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

struct RuleRecord {
  std::string id;
  std::string name;
  std::string kind;  // "eql" or "sigma"
  std::string source;
  bool enabled = true;
  std::string severity;           // informational, low, medium, high, critical
  std::vector<std::string> tags;  // ATT&CK tags (attack.t1059.004, ...)
  std::string description;
  std::string origin;  // "builtin" or the file name it was added from
  std::int64_t version = 1;
  std::int64_t created_ns = 0;
  std::int64_t updated_ns = 0;
};

enum class UpsertOutcome { Added, Updated, Unchanged };

struct AlertComment {
  std::string author;
  std::string text;
  std::int64_t time_ns = 0;
};

struct AlertRecord {
  std::int64_t id = 0;
  std::string rule_id, rule_name, severity;
  std::vector<std::string> tags;
  std::string host_id, host_name;
  std::string entity_id;  // process.entity_id of the (last) matching event
  nlohmann::json events = nlohmann::json::array();  // the matching event(s), oldest first
  std::string status = "new";                       // new, acknowledged, closed
  std::string assignee;
  std::vector<AlertComment> comments;
  std::uint64_t count = 1;                 // 1 + suppressed repeats
  std::int64_t first_ns = 0, last_ns = 0;  // event times of the first and last repeat
  std::int64_t created_ns = 0, updated_ns = 0;
};

struct AlertFilter {
  std::string status;  // empty: any
  std::string rule_id;
  std::string host;  // host.id or host.name
  std::string severity;
  std::int64_t since_ns = 0;  // created at or after
  std::int64_t after_id = 0;  // id greater than
  std::size_t limit = 100;
};

struct AlertChange {
  std::optional<std::string> status;
  std::optional<std::string> assignee;
  std::optional<std::string> comment;
  std::string author;
};

struct IocSet {
  std::string name{};
  std::string source{};
  std::int64_t expires_ns = 0;  // 0: never
  std::int64_t created_ns = 0;
  std::vector<std::string> sha256{}, ips{}, domains{};  // ips may be CIDRs
};

bool ValidAlertStatus(std::string_view status);

class DetectionStore {
 public:
  static Result<std::unique_ptr<DetectionStore>> Open(const std::filesystem::path& db_path);
  ~DetectionStore();

  // ---- rules
  // Inserts or replaces by id. A changed source or metadata bumps the version; the enabled flag of
  // an existing rule is kept unless keep_enabled is false.
  Result<UpsertOutcome> UpsertRule(const RuleRecord& rule, bool keep_enabled = true);
  Result<std::vector<RuleRecord>> ListRules();
  Result<std::optional<RuleRecord>> GetRule(const std::string& id);
  Result<bool> SetRuleEnabled(const std::string& id, bool enabled);  // false: no such rule

  // ---- alerts
  // Stores a new alert, or, when an open alert (not closed) of the same rule, host and entity was
  // last seen within window_ns of this one's event time, counts a repeat on it. Returns the
  // stored alert and whether it is new.
  Result<std::pair<AlertRecord, bool>> RaiseAlert(const AlertRecord& alert, std::int64_t window_ns);
  // The same for several alerts in one transaction (one commit for a chunk of matches), which
  // also stores live detection's cursors (event category -> last row id evaluated): alerts and
  // the cursor past the events that raised them commit together, so after a crash detection
  // resumes exactly after the last events whose alerts are stored.
  Result<std::vector<std::pair<AlertRecord, bool>>> RaiseAlerts(
      const std::vector<AlertRecord>& alerts, std::int64_t window_ns,
      const std::map<std::string, std::int64_t>& cursors = {});
  // Live detection's cursors as stored (categories never evaluated are absent).
  Result<std::map<std::string, std::int64_t>> Cursors();
  Result<std::vector<AlertRecord>> ListAlerts(const AlertFilter& filter);
  Result<std::optional<AlertRecord>> GetAlert(std::int64_t id);
  Result<std::optional<AlertRecord>> UpdateAlert(std::int64_t id, const AlertChange& change);

  // ---- IOC sets (by name; adding a name again replaces it)
  Result<void> PutIocSet(const IocSet& set);
  Result<std::vector<IocSet>> ListIocSets();
  Result<bool> DeleteIocSet(const std::string& name);

 private:
  DetectionStore() = default;
  std::mutex mu_;
  sqlite::DbPtr db_;
};

}  // namespace vigil::store
