// Live events for the console: the store calls Publish after each commit; every SSE subscriber
// gets the events that match its filter (category, host, text) as JSON lines in a bounded queue.
// A subscriber that cannot keep up loses the newest events and counts them (never blocks ingest).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/schema.hpp"
#include "server/store/store.hpp"

namespace vigil::server {

struct LiveFilter {
  std::optional<schema::Category> category;
  std::string host;  // host.name or host.id; empty: every host
  std::string text;  // case-insensitive substring of the event's JSON; empty: every event
};

class LiveSubscriber {
 public:
  LiveSubscriber(LiveFilter filter, std::size_t capacity)
      : filter_(std::move(filter)), capacity_(capacity) {}
  // Waits up to timeout for events; moves what is queued into out. False when the hub closed.
  bool Take(std::vector<std::string>& out, std::chrono::milliseconds timeout);
  std::uint64_t dropped() const;
  std::uint64_t delivered() const;

 private:
  friend class EventHub;
  LiveFilter filter_;
  std::string text_lower_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::uint64_t dropped_ = 0, delivered_ = 0;
  bool closed_ = false;
};

class EventHub {
 public:
  static constexpr std::size_t kDefaultCapacity = 20000;

  std::shared_ptr<LiveSubscriber> Subscribe(LiveFilter filter,
                                            std::size_t capacity = kDefaultCapacity);
  void Unsubscribe(const std::shared_ptr<LiveSubscriber>& subscriber);
  // Events newly committed (the duplicates at the front of a resent batch are skipped).
  void Publish(std::span<const store::IngestBatch> batches,
               const std::vector<store::AppendResult>& results);
  // Wakes every subscriber for good (server stopping).
  void Close();
  std::size_t subscribers() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<LiveSubscriber>> subscribers_;
  bool closed_ = false;
};

}  // namespace vigil::server
