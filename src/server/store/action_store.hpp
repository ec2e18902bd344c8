// Response actions on the server: the append-only audit log (who asked what of which hosts, when
// and why, and every status change after that) and the per-agent command queue that the gateway
// delivers over the agent's command channel. Same SQLite file as the event store, own connection
// (WAL), its own tables (docs/store.md). Safe to use from several threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

// One target host of an action: the command sent to its agent and where that command is.
struct ActionTarget {
  std::string agent_id;
  std::string command_id;
  std::string status;  // pending, sent, done, failed
  std::string error;
  std::string result;  // JSON text from the agent, may be empty
  std::int64_t sent_ns = 0;
  std::int64_t done_ns = 0;
};

struct ActionRecord {
  std::int64_t id = 0;
  std::int64_t created_ns = 0;
  std::string actor;   // the API token's name
  std::string type;    // e.g. kill, isolate
  std::string params;  // JSON object text
  std::string reason;
  std::vector<ActionTarget> targets;
  // pending until every target answered; failed when one failed; done when all are done. "sent"
  // when none is pending any more but some have not answered.
  std::string status;
  std::int64_t seq = 0;  // the last audit log entry about this action (for following the log)
};

struct NewAction {
  std::string actor;
  std::string type;
  std::string params;  // JSON object text; also the payload of every command
  std::string reason;
  std::vector<std::string> agent_ids;
  // The commands' payload when it differs from params (e.g. a scan's rule texts, which the audit
  // log only names); empty: params.
  std::string payload;
  // A standing order for the whole fleet (e.g. block-hash --hosts all): hosts that enroll later
  // get the same command when they first open their command channel (AdoptFleetWide).
  bool fleet_wide = false;
};

// What the gateway sends: one queued command.
struct QueuedCommand {
  std::string id;
  std::string type;
  std::string payload;
  std::int64_t action_id = 0;
  std::int64_t created_ns = 0;
};

class ActionStore {
 public:
  static Result<std::unique_ptr<ActionStore>> Open(const std::filesystem::path& db_path);
  ActionStore(const ActionStore&) = delete;
  ActionStore& operator=(const ActionStore&) = delete;

  // Records the action and queues one command per agent, in one durable transaction.
  Result<ActionRecord> Create(const NewAction& action);
  // Commands for agent_id not acknowledged yet (pending or sent), oldest first. only_pending:
  // those never sent.
  Result<std::vector<QueuedCommand>> Undelivered(const std::string& agent_id, bool only_pending);
  Result<void> MarkSent(const std::string& command_id);
  // Adds agent_id as a target of every fleet-wide action it is not a target of yet, in the order
  // the actions were taken (so a later unblock still follows its block). Returns how many.
  Result<int> AdoptFleetWide(const std::string& agent_id);
  // Stores an agent's answer. false: no such command for that agent. An answer for a command
  // already answered is ignored (the first one stands).
  Result<bool> Complete(const std::string& agent_id, const std::string& command_id, bool ok,
                        const std::string& error, const std::string& result);

  // Actions, oldest first: those whose log changed after after_seq (0: all), at most limit (the
  // newest ones when cut).
  Result<std::vector<ActionRecord>> List(std::int64_t after_seq, std::size_t limit);
  Result<std::optional<ActionRecord>> Get(std::int64_t id);

  // The highest audit log sequence; WaitForChange blocks until it exceeds known or timeout.
  std::int64_t Sequence() const;
  std::int64_t WaitForChange(std::int64_t known, std::chrono::milliseconds timeout) const;

 private:
  explicit ActionStore(sqlite::DbPtr db);
  Result<void> Log(std::int64_t action_id, const std::string& agent_id,
                   const std::string& command_id, const std::string& what, const std::string& error,
                   const std::string& result);
  Result<void> LoadTargets(ActionRecord& record);
  // Inserts one pending command (inside the caller's transaction) and logs `what` for it.
  Result<ActionTarget> QueueCommand(std::int64_t action_id, const std::string& agent_id,
                                    const std::string& type, const std::string& payload,
                                    std::int64_t created_ns, const std::string& what);
  void Bump();

  sqlite::DbPtr db_;
  mutable std::mutex mu_;  // the connection
  mutable std::mutex seq_mu_;
  mutable std::condition_variable seq_cv_;
  std::int64_t seq_ = 0;
};

// The status of an action from its targets' statuses (see ActionRecord::status).
std::string AggregateStatus(const std::vector<ActionTarget>& targets);

}  // namespace vigil::store
