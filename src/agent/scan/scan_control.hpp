// Pause, resume and cancel of a running scan, shared by the caller and the scanner's threads.
// The flags are lock-free atomics so the governor's signal handler may read them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace vigil::agent::scan {

class ScanControl {
 public:
  void Pause() { paused_.store(true); }
  void Resume() {
    paused_.store(false);  // first: a worker paused inside the signal handler may hold mu_
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  void Cancel() {
    cancelled_.store(true);
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  bool paused() const { return paused_.load(); }
  bool cancelled() const { return cancelled_.load(); }

  // Blocks while paused; false when the scan was cancelled.
  bool WaitWhilePaused() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !paused_.load() || cancelled_.load(); });
    return !cancelled_.load();
  }
  // Sleeps for d of real time unless cancelled first; false when cancelled.
  template <class Rep, class Period>
  bool SleepFor(std::chrono::duration<Rep, Period> d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return cancelled_.load(); });
  }

  const std::atomic<bool>& paused_flag() const { return paused_; }
  const std::atomic<bool>& cancelled_flag() const { return cancelled_; }

 private:
  std::atomic<bool> paused_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace vigil::agent::scan
