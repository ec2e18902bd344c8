#include "agent/uplink/command_channel.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "common/log.hpp"
#include "common/time.hpp"

namespace vigil::agent {
namespace {

using nlohmann::json;

// The journal keeps the newest ids: once the server stored a result it never sends that command
// again, so old entries only matter for commands still unanswered (a few).
constexpr std::size_t kJournalCompactAt = 8192;
constexpr std::size_t kJournalKeep = 2048;

}  // namespace

CommandChannel::CommandChannel(CommandChannelOptions options) : options_(std::move(options)) {}

CommandChannel::~CommandChannel() { Stop(); }

void CommandChannel::Register(const std::string& type, CommandHandler handler) {
  handlers_[type] = std::move(handler);
}

Result<void> CommandChannel::Start() {
  // Load the journal: one JSON object per line; a torn last line (crash mid-write) is ignored.
  std::vector<json> entries;
  {
    std::ifstream in(options_.journal);
    std::string line;
    while (std::getline(in, line)) {
      try {
        entries.push_back(json::parse(line));
      } catch (const std::exception&) {
        VLOG_WARN("{}: skipping a damaged line", options_.journal.string());
      }
    }
  }
  std::vector<std::string> order;
  for (const auto& e : entries) {
    if (!e.is_object() || !e.contains("id")) continue;
    std::string id = e.value("id", "");
    if (e.value("state", "") == "started") {
      if (!done_.contains(id)) order.push_back(id);
      done_.emplace(id, std::nullopt);
    } else if (e.value("state", "") == "finished") {
      done_[id] = CommandOutcome{e.value("ok", false), e.value("error", ""),
                                 e.contains("result") ? e["result"] : json()};
    }
  }
  if (order.size() > kJournalCompactAt) {
    std::string text;
    for (std::size_t i = order.size() - kJournalKeep; i < order.size(); ++i) {
      const auto& o = done_[order[i]];
      json e{{"id", order[i]}, {"state", "started"}};
      text += e.dump() + "\n";
      if (o)
        text += json{{"id", order[i]},
                     {"state", "finished"},
                     {"ok", o->ok},
                     {"error", o->error},
                     {"result", o->result}}
                    .dump() +
                "\n";
    }
    for (std::size_t i = 0; i + kJournalKeep < order.size(); ++i) done_.erase(order[i]);
    auto tmp = options_.journal;
    tmp += ".tmp";
    {
      UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
          ::fsync(fd.get()) != 0)
        return Fail("cannot compact " + options_.journal.string() + ": " + std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, options_.journal, ec);
    if (ec) return Fail("cannot compact " + options_.journal.string() + ": " + ec.message());
  }
  journal_fd_.Reset(
      ::open(options_.journal.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!journal_fd_)
    return Fail("cannot open " + options_.journal.string() + ": " + std::strerror(errno));
  running_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "vigil-commands");
    Run();
  });
  return {};
}

void CommandChannel::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_.exchange(false)) return;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

v1::CommandsRequest CommandChannel::Request() const {
  v1::CommandsRequest request;
  request.set_agent_version(options_.agent_version);
  for (const auto& [type, handler] : handlers_) request.add_supported_types(type);
  return request;
}

void CommandChannel::Deliver(v1::Command command) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(command));
  }
  cv_.notify_all();
}

void CommandChannel::Run() {
  while (true) {
    v1::Command command;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !running_ || !queue_.empty(); });
      // Not run after Stop: without a result the server sends it again on the next connection.
      if (!running_) return;
      command = std::move(queue_.front());
      queue_.pop_front();
    }
    VLOG_INFO("command {} ({}) received", command.id(), command.type());
    auto outcome = Execute(command.id(), command.type(), command.payload());
    if (outcome.ok)
      VLOG_INFO("command {} ({}) done", command.id(), command.type());
    else
      VLOG_WARN("command {} ({}) failed: {}", command.id(), command.type(), outcome.error);
    Report(command.id(), outcome);
  }
}

Result<void> CommandChannel::Journal(const json& entry) {
  std::lock_guard lock(journal_mutex_);
  std::string line = entry.dump() + "\n";
  if (::write(journal_fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fdatasync(journal_fd_.get()) != 0)
    return Fail("command journal " + options_.journal.string() + ": " + std::strerror(errno));
  return {};
}

CommandOutcome CommandChannel::Execute(const std::string& id, const std::string& type,
                                       const std::string& payload) {
  if (auto it = done_.find(id); it != done_.end()) {
    if (it->second) return *it->second;  // redelivered: answer again, do not run again
    return {false, "the agent stopped while this command ran; it is not run a second time", {}};
  }
  CommandOutcome outcome;
  auto handler = handlers_.find(type);
  json args;
  if (handler == handlers_.end()) {
    outcome.error = "this agent does not know the command type '" + type + "'";
  } else {
    try {
      args = payload.empty() ? json::object() : json::parse(payload);
    } catch (const std::exception& e) {
      outcome.error = std::string("payload is not JSON: ") + e.what();
      handler = handlers_.end();
    }
  }
  if (handler != handlers_.end()) {
    if (auto r = Journal({{"id", id}, {"state", "started"}, {"type", type}}); !r)
      return {false, r.error().message, {}};  // not journaled: not run (it will come again)
    done_.emplace(id, std::nullopt);
    try {
      outcome = handler->second(args);
    } catch (const std::exception& e) {
      outcome = {false, std::string("executor failed: ") + e.what(), {}};
    }
  } else {
    done_.emplace(id, std::nullopt);
  }
  if (auto r = Journal({{"id", id},
                        {"state", "finished"},
                        {"ok", outcome.ok},
                        {"error", outcome.error},
                        {"result", outcome.result}});
      !r)
    VLOG_ERROR("{}", r.error().message);
  done_[id] = outcome;
  return outcome;
}

void CommandChannel::Report(const std::string& id, const CommandOutcome& outcome) {
  v1::CommandResult result;
  result.set_id(id);
  result.set_status(outcome.ok ? v1::CommandResult::DONE : v1::CommandResult::FAILED);
  result.set_error(outcome.error);
  if (!outcome.result.is_null()) result.set_result(outcome.result.dump());
  result.set_finished_ns(NowNs());
  // Not stored: the server sends the command again on the next connection and gets the journaled
  // result then.
  if (auto r = options_.report ? options_.report(result) : Fail("no connection to the server"); !r)
    VLOG_WARN("result of command {} not delivered: {}", id, r.error().message);
}

}  // namespace vigil::agent
