// The agent's end of the command channel: a server-streaming gRPC call over the same mTLS identity
// as the uplink, on which the server pushes response commands (kill, isolate, ... and whatever
// later features register). Each command runs at most once: its id is journaled (fsync) before it
// runs and its result after, so a redelivered command is answered from the journal instead of
// running again. Results go back with ReportResult; until the server has stored one it redelivers
// the command, which is how a result lost with a connection still arrives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace vigil::agent {

struct CommandOutcome {
  bool ok = false;
  std::string error;
  nlohmann::json result;  // null when there is nothing to say
};

// Runs one command of its type with the command's JSON payload. Called on the channel's thread, one
// command at a time, in the order the server queued them.
using CommandHandler = std::function<CommandOutcome(const nlohmann::json& payload)>;

struct CommandChannelOptions {
  std::string server;  // host:port of the gateway
  std::string ca_pem, cert_pem, key_pem;
  std::filesystem::path journal;  // e.g. STATE_DIR/commands.journal
  std::string agent_version;
  std::chrono::milliseconds max_backoff{30000};
};

class CommandChannel {
 public:
  explicit CommandChannel(CommandChannelOptions options);
  ~CommandChannel();
  CommandChannel(const CommandChannel&) = delete;
  CommandChannel& operator=(const CommandChannel&) = delete;

  // Before Start: the executor of one command type.
  void Register(const std::string& type, CommandHandler handler);
  // Loads the journal and connects (in the background, retrying with backoff).
  Result<void> Start();
  void Stop();

  // Runs (or answers from the journal) one command; exposed for tests.
  CommandOutcome Execute(const std::string& id, const std::string& type,
                         const std::string& payload);

 private:
  std::string Session();
  Result<void> Journal(const nlohmann::json& entry);
  void Report(void* stub, const std::string& id, const CommandOutcome& outcome);

  CommandChannelOptions options_;
  std::map<std::string, CommandHandler> handlers_;
  // id -> outcome (or nullopt: started but never finished, e.g. the agent died meanwhile).
  std::map<std::string, std::optional<CommandOutcome>> done_;
  std::mutex journal_mutex_;
  UniqueFd journal_fd_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  void* active_context_ = nullptr;  // grpc::ClientContext* of the live call, for Stop()
};

}  // namespace vigil::agent
