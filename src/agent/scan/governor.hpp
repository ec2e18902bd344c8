// Keeps a scan out of the user's way. CPU: a cap in percent of one core for all scanner threads
// together, measured on each scanner thread's own CPU clock and enforced by duty-cycling — a
// per-thread CPU-time timer fires every few ms of CPU used and the thread sleeps in proportion
// (used * (1/share - 1)), even in the middle of a libyara scan. IO: a token bucket on bytes read
// plus the idle I/O class (ioprio_set) and nice 19 for the scanner threads. Also waits for the
// start time (splay, window), pauses outside the window, and honours pause/resume/cancel.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "agent/scan/scan_control.hpp"
#include "agent/scan/schedule.hpp"

namespace vigil::agent::scan {

struct GovernorOptions {
  double cpu_percent = 5.0;  // of one core, all scanner threads together; <= 0: no cap
  double io_mbps = 0.0;      // MB/s (10^6 bytes) read from files; <= 0: no cap
  bool idle_io = true;       // IOPRIO_CLASS_IDLE for scanner threads
  bool nice = true;          // nice 19 for scanner threads
  Schedule schedule;         // window and splay
};

class Governor {
 public:
  // threads: how many scanner threads will share the CPU cap.
  Governor(GovernorOptions options, ScanControl& control, const Clock& clock, int threads);
  ~Governor();
  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;

  // Arms the duty cycle and the I/O class on the calling thread until destroyed. Make one at
  // the top of every scanner thread.
  class ThreadScope {
   public:
    explicit ThreadScope(Governor& governor);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
    struct State;

   private:
    Governor& governor_;
    std::unique_ptr<State> state_;
  };

  // Waits for the start time (window opening + splay from `random`); false when cancelled.
  bool WaitForStart(std::uint64_t random);
  // Between work items: blocks while paused or outside the window; false when cancelled.
  bool Checkpoint();
  // Takes `bytes` from the I/O bucket, sleeping when it is empty; false when cancelled.
  bool AcquireIo(std::size_t bytes);

  // CPU used by scanner threads so far (threads that finished plus the running ones' last
  // report), and time they spent sleeping to honour the cap.
  std::chrono::nanoseconds cpu_used() const;
  std::chrono::nanoseconds throttled() const;
  // The share of one core each thread may use (1.0 = uncapped), and the factor by which a
  // libyara timeout must be stretched to stay a budget of CPU time.
  double thread_share() const { return thread_share_; }
  const GovernorOptions& options() const { return options_; }
  ScanControl& control() { return control_; }

 private:
  friend class ThreadScope;
  GovernorOptions options_;
  ScanControl& control_;
  const Clock& clock_;
  double thread_share_ = 1.0;
  std::atomic<std::int64_t> cpu_ns_{0};
  std::atomic<std::int64_t> throttled_ns_{0};

  std::mutex io_mu_;
  double io_tokens_ = 0;  // bytes; may go negative (debt) to admit a large read
  std::chrono::steady_clock::time_point io_last_;
};

}  // namespace vigil::agent::scan
