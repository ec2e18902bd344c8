// The agent's end of the command channel: the server pushes response commands (kill, isolate, ...
// and whatever later features register) on a server-streaming gRPC call that the uplink runs on its
// own connection and thread (Uplink::AttachCommands); they are executed here, on a thread of
// their own that sleeps until a command comes. Each command runs at most once: its id is journaled
// (fsync) before it runs and its result after, so a redelivered command is answered from the
// journal instead of running again. Results go back with ReportResult; until the server has stored
// one it redelivers the command, which is how a result lost with a connection still arrives.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
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
#include "vigil/v1/gateway.pb.h"

namespace vigil::agent {

struct CommandOutcome {
  bool ok = false;
  std::string error;
  nlohmann::json result;  // null when there is nothing to say
};

// Runs one command of its type with the command's JSON payload. Called on the channel's thread, one
// command at a time, in the order the server sent them.
using CommandHandler = std::function<CommandOutcome(const nlohmann::json& payload)>;

struct CommandChannelOptions {
  std::filesystem::path journal;  // e.g. STATE_DIR/commands.journal
  std::string agent_version;
  // Sends a result to the server (ReportResult); an error means not stored, and the server then
  // sends the command again on the next connection (answered from the journal).
  std::function<Result<void>(const v1::CommandResult&)> report;
};

class CommandChannel {
 public:
  explicit CommandChannel(CommandChannelOptions options);
  ~CommandChannel();
  CommandChannel(const CommandChannel&) = delete;
  CommandChannel& operator=(const CommandChannel&) = delete;

  // Before Start: the executor of one command type.
  void Register(const std::string& type, CommandHandler handler);
  // Loads the journal and starts the thread that runs delivered commands.
  Result<void> Start();
  void Stop();

  // What the command call asks for (this agent's version and command types).
  v1::CommandsRequest Request() const;
  // A command from the server: queued, run in order on the channel's thread. Thread-safe.
  void Deliver(v1::Command command);

  // Runs (or answers from the journal) one command; exposed for tests.
  CommandOutcome Execute(const std::string& id, const std::string& type,
                         const std::string& payload);

 private:
  void Run();
  Result<void> Journal(const nlohmann::json& entry);
  void Report(const std::string& id, const CommandOutcome& outcome);

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
  std::deque<v1::Command> queue_;  // delivered, not yet run
};

}  // namespace vigil::agent
