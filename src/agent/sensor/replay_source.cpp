// Replay source: one thread reads the file line by line, paces it when asked, and stops promptly.
#include "agent/sensor/replay_source.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/event_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

namespace vigil::agent {
namespace {

class ReplaySource final : public EventSource {
 public:
  ReplaySource(ReplayOptions options, std::ifstream in)
      : options_(std::move(options)), in_(std::move(in)) {}
  ~ReplaySource() override { Stop(); }

  std::string_view Kind() const override { return "replay"; }

  Result<void> Start(EventSink sink) override {
    std::lock_guard lock(control_);
    if (started_) return Fail("replay source: already started");
    started_ = true;
    sink_ = std::move(sink);
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  void Stop() override {
    std::lock_guard lock(control_);
    {
      std::lock_guard wait_lock(wait_mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    done_.store(true, std::memory_order_release);
  }

  SourceCounters Counters() const override {
    return {.events = events_.load(std::memory_order_relaxed),
            .parse_errors = parse_errors_.load(std::memory_order_relaxed)};
  }

  bool Done() const override { return done_.load(std::memory_order_acquire); }

 private:
  // Waits until `deadline` or Stop(); false when stopped.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(wait_mu_);
    return !wake_.wait_until(lock, deadline, [this] { return stop_; });
  }

  bool Stopped() {
    std::lock_guard lock(wait_mu_);
    return stop_;
  }

  void Run() {
    const auto begin = std::chrono::steady_clock::now();
    const std::string name = options_.file.string();
    std::string line;
    std::uint64_t line_no = 0, delivered = 0;
    while (std::getline(in_, line)) {
      ++line_no;
      if (Stopped()) break;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
      auto object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (object.is_discarded() || !object.is_object()) {
        parse_errors_.fetch_add(1, std::memory_order_relaxed);
        VLOG_WARN("replay {}:{}: not a JSON object, skipped", name, line_no);
        continue;
      }
      Result<v1::Event> event = Fail("invalid event");
      try {
        event = EventFromJson(object);
      } catch (const std::exception& ex) {
        event = Fail(ex.what());
      }
      if (!event) {
        parse_errors_.fetch_add(1, std::memory_order_relaxed);
        VLOG_WARN("replay {}:{}: {}, skipped", name, line_no, event.error().message);
        continue;
      }
      if (!event->has_timestamp()) event->set_timestamp(NowNs());
      if (options_.events_per_second > 0) {
        auto due = begin + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(delivered) /
                                                             options_.events_per_second));
        if (!WaitUntil(due)) break;
      }
      events_.fetch_add(1, std::memory_order_relaxed);
      ++delivered;
      try {
        sink_(std::move(*event));
      } catch (const std::exception& ex) {  // the sink's problem must not kill the replay thread
        VLOG_ERROR("replay {}:{}: sink: {}", name, line_no, ex.what());
      }
    }
    if (in_.bad()) VLOG_ERROR("replay {}: read error after line {}", name, line_no);
    VLOG_INFO("replay {}: {} events, {} malformed lines", name, delivered,
              parse_errors_.load(std::memory_order_relaxed));
    done_.store(true, std::memory_order_release);
  }

  ReplayOptions options_;
  std::ifstream in_;
  EventSink sink_;
  std::mutex control_;
  std::mutex wait_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool started_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> events_{0}, parse_errors_{0};
  std::atomic<bool> done_{false};
};

}  // namespace

Result<std::unique_ptr<EventSource>> MakeReplaySource(const ReplayOptions& options) {
  std::ifstream in(options.file);
  if (!in) return Fail("replay: cannot open " + options.file.string());
  if (options.events_per_second < 0) return Fail("replay: events_per_second must be >= 0");
  return std::make_unique<ReplaySource>(options, std::move(in));
}

}  // namespace vigil::agent
