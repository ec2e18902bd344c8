// The server's storage: events of every category, plus the fleet's control data (enrolled agents,
// enrollment and API tokens). Append is durable on return (the gateway acks only then) and
// exactly-once per (agent, spool epoch, sequence). The embedded implementation is SQLite (WAL);
// see docs/store.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"

namespace vigil::store {

struct IngestBatch {
  std::string agent_id;  // empty for imports
  std::uint64_t spool_epoch = 0;
  // Event i carries sequence first_sequence + i; 0 means unsequenced (imports): never deduplicated.
  std::uint64_t first_sequence = 0;
  std::vector<v1::Event> events;
};

struct AppendResult {
  std::uint64_t stored = 0;
  std::uint64_t duplicates = 0;          // already stored earlier (resent after a lost ack)
  std::uint64_t rejected = 0;            // no or unknown event.category: counted, not stored
  std::uint64_t committed_sequence = 0;  // highest sequence of (agent, epoch) now stored
};

struct EventQuery {
  std::int64_t since_ns = 0;
  std::int64_t until_ns = std::numeric_limits<std::int64_t>::max();
  std::optional<schema::Category> category;  // nullopt: every category
  std::string host;                          // host.id or host.name; empty: every host
  std::size_t limit = 100;
  bool newest_first = true;
};

struct RetentionPolicy {
  std::int64_t max_age_ns = 0;  // 0: keep regardless of age
  std::uint64_t max_bytes = 0;  // 0: no size bound; else delete oldest events until under it
};

struct RetentionResult {
  std::uint64_t deleted_events = 0;
  std::uint64_t bytes_after = 0;
};

// What the hosts list shows about one enrolled agent.
struct HostRecord {
  std::string agent_id;
  std::string host_id;
  std::string hostname;
  std::string os;
  std::string agent_version;
  std::string sensor_kind;
  std::int64_t enrolled_ns = 0;
  std::int64_t last_seen_ns = 0;
  std::uint64_t events_received = 0;
  std::uint64_t events_dropped =
      0;  // sensor + spool drops reported by the agent, + rejected by the server
  std::uint64_t batches_rejected = 0;
};

struct AgentStatusUpdate {
  std::uint64_t sensor_dropped = 0;
  std::uint64_t spool_dropped = 0;
  std::uint64_t sensor_parse_errors = 0;
  std::uint64_t spool_discarded_bytes = 0;
  std::string sensor_kind;
};

enum class Role { Viewer, Analyst, Admin };

// Who an API token belongs to.
struct ApiPrincipal {
  std::string name;
  Role role = Role::Viewer;
};

// A hunt kept by name so the team can run it again.
struct SavedHunt {
  std::string name;
  std::string query;  // EQL
  std::string description;
  std::string owner;  // the API token's name that saved it
  std::int64_t created_ns = 0;
  std::int64_t updated_ns = 0;
};

struct DiskStatus {
  std::string dir;     // the directory holding the store
  bool known = false;  // statvfs answered
  std::uint64_t free_bytes = 0;
  std::uint64_t min_free_bytes = 0;
  bool ingest_paused = false;  // free_bytes < min_free_bytes: Append refuses batches
};

// Group commit at work: how many transactions stored how many batches since the store opened.
struct CommitStats {
  std::uint64_t transactions = 0;
  std::uint64_t batches = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- events
  // Stores all batches in one transaction (group commit): durable when this returns. Thread-safe;
  // concurrent callers are coalesced into one commit. One result per batch, in order.
  virtual Result<std::vector<AppendResult>> Append(std::span<const IngestBatch> batches) = 0;
  virtual Result<std::uint64_t> CommittedSequence(const std::string& agent_id,
                                                  std::uint64_t spool_epoch) = 0;
  // Streams matching events to sink (which returns false to stop early).
  virtual Result<void> QueryEvents(const EventQuery& query,
                                   const std::function<bool(v1::Event&&)>& sink) = 0;
  virtual Result<RetentionResult> ApplyRetention(const RetentionPolicy& policy) = 0;
  // Live detection's durable feed: the events of one category stored after row id after_id, in
  // row-id (commit) order, at most limit; sink gets each row id and event (false stops). Row ids
  // only grow: retention never deletes a table's last row, so an id is never used twice.
  virtual Result<void> ReadEventsAfter(
      schema::Category category, std::int64_t after_id, std::size_t limit,
      const std::function<bool(std::int64_t, v1::Event&&)>& sink) = 0;
  virtual Result<std::int64_t> LastEventId(schema::Category category) = 0;  // 0: none yet
  virtual Result<std::uint64_t> CountEvents(std::optional<schema::Category> category) = 0;
  // Free space where the store lives, and whether ingest is paused for lack of it.
  virtual DiskStatus Disk() const = 0;
  virtual CommitStats Commits() const = 0;

  // ---- agents
  virtual Result<void> RegisterAgent(const std::string& agent_id, const std::string& hostname) = 0;
  virtual Result<bool> AgentExists(const std::string& agent_id) = 0;
  virtual Result<void> UpdateAgentHello(const std::string& agent_id, const HostRecord& hello) = 0;
  virtual Result<void> UpdateAgentStatus(const std::string& agent_id,
                                         const AgentStatusUpdate& status) = 0;
  virtual Result<void> CountRejectedBatch(const std::string& agent_id, std::uint64_t events) = 0;
  virtual Result<std::vector<HostRecord>> ListHosts() = 0;

  // ---- enrollment tokens (single use; only a hash of the secret is stored)
  virtual Result<std::string> CreateEnrollmentToken(std::int64_t ttl_ns) = 0;
  // Marks the token used. Errors say "unknown", "already used" or "expired".
  virtual Result<void> ConsumeEnrollmentToken(const std::string& secret) = 0;

  // ---- API bearer tokens (only a hash of the secret is stored)
  virtual Result<std::string> CreateApiToken(const std::string& name, Role role) = 0;
  virtual Result<Role> VerifyApiToken(const std::string& secret) = 0;
  virtual Result<ApiPrincipal> AuthenticateApiToken(const std::string& secret) = 0;

  // ---- saved hunts (by name; saving a name again replaces its query and description)
  virtual Result<void> SaveHunt(const SavedHunt& hunt) = 0;
  virtual Result<std::vector<SavedHunt>> ListHunts() = 0;
  virtual Result<std::optional<SavedHunt>> GetHunt(const std::string& name) = 0;
  virtual Result<bool> DeleteHunt(const std::string& name) = 0;  // false: no such hunt

  // ---- commit listeners (live views, detection): called on the appending thread after the
  // transaction holding one Append call's batches committed. Add them before the first Append.
  using CommitListener =
      std::function<void(std::span<const IngestBatch>, const std::vector<AppendResult>&)>;
  void AddCommitListener(CommitListener listener) {
    commit_listeners_.push_back(std::move(listener));
  }

 protected:
  void NotifyCommitted(std::span<const IngestBatch> batches,
                       const std::vector<AppendResult>& results) const {
    for (const auto& listener : commit_listeners_) listener(batches, results);
  }

 private:
  std::vector<CommitListener> commit_listeners_;
};

struct SqliteOptions {
  std::filesystem::path path;    // the database file, e.g. DATA_DIR/vigil.db
  bool synchronous_full = true;  // fsync on every commit (durable against power loss)
  // The row layout of a new database: rows (false) or column blocks (docs/store.md, *Rows as
  // column blocks*; what vigil-server and vigil up choose unless told otherwise). An existing
  // database keeps its own.
  bool column_blocks = false;
};

// What a deployment bounds (vigil-server run flags).
struct StoreLimits {
  // Append fails (retryably) while the database's filesystem has less free than this; nullopt:
  // 1 GiB or 5 % of the filesystem, whichever is smaller (free_space.hpp).
  std::optional<std::uint64_t> min_free_bytes;
};

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               const StoreLimits& limits = {});

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

}  // namespace vigil::store
