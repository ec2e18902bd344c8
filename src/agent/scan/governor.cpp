// CPU duty cycle (per-thread CPU-time timers), I/O token bucket and priorities; see governor.hpp.
#include "agent/scan/governor.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

namespace vigil::agent::scan {
namespace {

constexpr long kQuantumNs = 10'000'000;     // CPU used between two duty-cycle sleeps
constexpr long kSleepSliceNs = 50'000'000;  // cancel/pause checked this often while sleeping
constexpr int kIoprioClassIdle = 3;         // IOPRIO_CLASS_IDLE
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioWhoProcess = 1;  // a thread id selects that thread

int DutySignal() { return SIGRTMIN + 7; }

std::int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void SleepNs(std::int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

}  // namespace

// Everything the signal handler touches: plain data and lock-free atomics only.
struct Governor::ThreadScope::State {
  double sleep_factor = 0;   // seconds of sleep per second of CPU
  std::int64_t mark_ns = 0;  // thread CPU time at the end of the last sleep
  std::int64_t start_ns = 0;
  std::atomic<std::int64_t> slept_ns{0};
  const std::atomic<bool>* paused = nullptr;
  const std::atomic<bool>* cancelled = nullptr;
  timer_t timer{};
  bool armed = false;
};

namespace {

void OnDutyTimer(int, siginfo_t* info, void*) {
  const int saved_errno = errno;
  auto* state = static_cast<Governor::ThreadScope::State*>(info->si_value.sival_ptr);
  if (state && state->sleep_factor > 0) {
    const std::int64_t now = ThreadCpuNs();
    std::int64_t owed = static_cast<std::int64_t>(
        static_cast<double>(std::max<std::int64_t>(0, now - state->mark_ns)) * state->sleep_factor);
    std::int64_t slept = 0;
    while (owed > 0 && !state->cancelled->load(std::memory_order_relaxed)) {
      const std::int64_t slice = std::min<std::int64_t>(owed, kSleepSliceNs);
      SleepNs(slice);
      owed -= slice;
      slept += slice;
    }
    // Pause mid-file: sleep here without taking any lock (Resume clears the flag first).
    while (state->paused->load(std::memory_order_relaxed) &&
           !state->cancelled->load(std::memory_order_relaxed)) {
      SleepNs(kSleepSliceNs);
    }
    state->slept_ns.fetch_add(slept, std::memory_order_relaxed);
    state->mark_ns = ThreadCpuNs();
  }
  errno = saved_errno;
}

void InstallHandlerOnce() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnDutyTimer;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(DutySignal(), &sa, nullptr) == 0;
  }();
  (void)installed;
}

}  // namespace

Governor::Governor(GovernorOptions options, ScanControl& control, const Clock& clock, int threads)
    : options_(std::move(options)), control_(control), clock_(clock) {
  threads = std::max(threads, 1);
  if (options_.cpu_percent > 0)
    thread_share_ = std::min(1.0, options_.cpu_percent / 100.0 / threads);
  io_last_ = std::chrono::steady_clock::now();
  io_tokens_ = options_.io_mbps > 0 ? options_.io_mbps * 1e6 / 4 : 0;  // 250 ms burst
}

Governor::~Governor() = default;

Governor::ThreadScope::ThreadScope(Governor& governor)
    : governor_(governor), state_(std::make_unique<State>()) {
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (governor_.options_.idle_io)
    ::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioClassIdle << kIoprioClassShift);
  if (governor_.options_.nice) ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19);

  state_->paused = &governor_.control_.paused_flag();
  state_->cancelled = &governor_.control_.cancelled_flag();
  state_->start_ns = ThreadCpuNs();
  state_->mark_ns = state_->start_ns;
  if (governor_.thread_share_ < 1.0) {
    state_->sleep_factor = 1.0 / governor_.thread_share_ - 1.0;
    InstallHandlerOnce();
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = DutySignal();
    sev.sigev_value.sival_ptr = state_.get();
    sev._sigev_un._tid = tid;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &state_->timer) == 0) {
      itimerspec its{};
      its.it_value.tv_nsec = kQuantumNs;
      its.it_interval.tv_nsec = kQuantumNs;
      timer_settime(state_->timer, 0, &its, nullptr);
      state_->armed = true;
    }
  }
}

Governor::ThreadScope::~ThreadScope() {
  if (state_->armed) timer_delete(state_->timer);  // no signal is delivered after this returns
  governor_.cpu_ns_.fetch_add(ThreadCpuNs() - state_->start_ns);
  governor_.throttled_ns_.fetch_add(state_->slept_ns.load());
}

bool Governor::WaitForStart(std::uint64_t random) {
  const TimePoint start = options_.schedule.StartTime(clock_.Now(), random);
  if (!clock_.SleepUntil(start, control_)) return false;
  return Checkpoint();
}

bool Governor::Checkpoint() {
  for (;;) {
    if (control_.cancelled()) return false;
    if (control_.paused()) {
      if (!control_.WaitWhilePaused()) return false;
      continue;
    }
    const auto& window = options_.schedule.window;
    const TimePoint now = clock_.Now();
    if (window && !options_.schedule.Allows(now)) {
      if (!clock_.SleepUntil(NextWindowOpen(*window, now), control_)) return false;
      continue;
    }
    return true;
  }
}

bool Governor::AcquireIo(std::size_t bytes) {
  if (options_.io_mbps <= 0) return !control_.cancelled();
  const double rate = options_.io_mbps * 1e6;
  double wait_s = 0;
  {
    std::lock_guard lock(io_mu_);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - io_last_).count();
    io_last_ = now;
    io_tokens_ = std::min(rate / 4, io_tokens_ + elapsed * rate);
    io_tokens_ -= static_cast<double>(bytes);
    if (io_tokens_ < 0) wait_s = -io_tokens_ / rate;
  }
  if (wait_s > 0) return control_.SleepFor(std::chrono::duration<double>(wait_s));
  return !control_.cancelled();
}

std::chrono::nanoseconds Governor::cpu_used() const {
  return std::chrono::nanoseconds(cpu_ns_.load());
}
std::chrono::nanoseconds Governor::throttled() const {
  return std::chrono::nanoseconds(throttled_ns_.load());
}

}  // namespace vigil::agent::scan
