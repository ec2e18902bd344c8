// Helpers shared by the sensor and enrich tests: an event collector with bounded waits, and
// posix_spawn of a child whose stdin is a pipe the test holds (the child lives until it is closed).
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "common/schema.hpp"

extern char** environ;

namespace vigil::agent::test {

class Collector {
 public:
  // Keeps a copy and leaves the event in place, as the agent's pipeline does (it enriches and
  // serializes the source's message without taking it; a source may refill that message for its
  // next record).
  std::function<void(v1::Event&&)> Sink() {
    return [this](v1::Event&& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
  }
  std::vector<v1::Event> Snapshot() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Polls until pred holds for some event (returns it) or the timeout passes.
  std::optional<v1::Event> WaitFor(
      const std::function<bool(const v1::Event&)>& pred,
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        for (const auto& e : events_) {
          if (pred(e)) return e;
        }
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::Event> events_;
};

// A child started with posix_spawn; its stdin is a pipe whose write end the test keeps.
struct Child {
  pid_t pid = -1;
  UniqueFd stdin_write;
  Child() = default;
  Child(Child&& o) noexcept
      : pid(std::exchange(o.pid, -1)), stdin_write(std::move(o.stdin_write)) {}
  Child& operator=(Child&&) = delete;
  // Closes the child's stdin and reaps it; returns the wait status.
  int Finish() {
    stdin_write.Reset();
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
  ~Child() {
    if (pid > 0) Finish();
  }
};

inline std::optional<Child> Spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd read_end(fds[0]);
  Child child;
  child.stdin_write = UniqueFd(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, read_end.get(), 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = ::posix_spawn(&child.pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return std::nullopt;
  return child;
}

inline std::string RealPath(const char* path) {
  char buf[4096];
  return ::realpath(path, buf) ? std::string(buf) : std::string();
}

inline std::string ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace vigil::agent::test
