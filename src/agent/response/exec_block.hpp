// "block-hash" / "unblock-hash": execution denied by SHA-256 with fanotify permission events.
// While the list is non-empty the agent holds FAN_OPEN_EXEC_PERM marks on every mounted filesystem
// (FAN_MARK_FILESYSTEM, else FAN_MARK_MOUNT; re-marked when the mount table changes) and answers
// each exec: FAN_DENY (the execve fails with EPERM) when the file's hash is listed, else FAN_ALLOW.
// The hash comes from the shared hash cache (keyed by device, inode, size, mtime, ctime), read
// through the event's own fd, which fanotify opened without generating events, so the thread
// never waits on itself; the agent's own execs are always allowed and any error allows (fail
// open, logged). Each denial becomes a process event, event.action "exec_denied". The list is
// persisted in STATE_DIR/response/blocked_hashes.json and enforced again at agent start.
// Fast path: a file found allowed that only root can write (owner root, no group/other write, on
// ext4, xfs, btrfs or tmpfs) gets an inode ignore mark for FAN_OPEN_EXEC_PERM, so its next execs
// are not even asked about. The kernel drops that mark when the file is modified; blocking a new
// hash flushes all of them. Files writable by anyone else are asked about on every exec (a shared
// writable mmap changes a file without a modify event).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/schema.hpp"

namespace vigil::agent {
class HashCache;
}

namespace vigil::agent::response {

struct ExecBlockStats {
  std::uint64_t checked = 0;
  std::uint64_t denied = 0;
  std::uint64_t errors = 0;       // allowed because the hash could not be computed
  std::uint64_t allow_marks = 0;  // files the kernel lets run without asking (since the last flush)
};

class ExecBlocker {
 public:
  ExecBlocker(std::filesystem::path state_file, HashCache& hashes,
              std::function<void(v1::Event&&)> emit);
  ~ExecBlocker();
  ExecBlocker(const ExecBlocker&) = delete;
  ExecBlocker& operator=(const ExecBlocker&) = delete;

  // Loads the persisted list and enforces it when non-empty.
  Result<void> Start();
  void Stop();
  Result<nlohmann::json> Block(const std::vector<std::string>& hashes);
  Result<nlohmann::json> Unblock(const std::vector<std::string>& hashes);
  ExecBlockStats Stats() const;

 private:
  Result<void> Persist();
  Result<void> EnsureRunning();
  void StopThread();
  void Loop();
  void MarkAll();
  // Under list_mutex_ (shared) with the verdict "allow" for file: exempts it from asking.
  void MarkAllowed(int file_fd);

  std::filesystem::path state_file_;
  HashCache& hashes_;
  std::function<void(v1::Event&&)> emit_;
  mutable std::shared_mutex list_mutex_;
  std::set<std::string> blocked_;
  std::mutex control_mutex_;  // start/stop of the fanotify thread
  UniqueFd fan_fd_;
  UniqueFd wake_fd_;  // eventfd to stop the thread
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::set<std::string> marked_;  // mount points marked (by the starter, then the thread)
  std::atomic<std::size_t> marks_{0};
  mutable std::mutex stats_mutex_;
  ExecBlockStats stats_;
};

}  // namespace vigil::agent::response
