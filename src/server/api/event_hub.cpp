// Fan-out of committed events to live subscribers (see event_hub.hpp).
#include "server/api/event_hub.hpp"

#include <algorithm>

#include "common/event_json.hpp"

namespace vigil::server {
namespace {

std::string Lower(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ContainsLower(const std::string& haystack, const std::string& needle_lower) {
  auto it =
      std::search(haystack.begin(), haystack.end(), needle_lower.begin(), needle_lower.end(),
                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it != haystack.end();
}

}  // namespace

bool LiveSubscriber::Take(std::vector<std::string>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); });
  while (!queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  delivered_ += out.size();
  return !closed_;
}

std::uint64_t LiveSubscriber::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

std::uint64_t LiveSubscriber::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

std::shared_ptr<LiveSubscriber> EventHub::Subscribe(LiveFilter filter, std::size_t capacity) {
  auto s = std::make_shared<LiveSubscriber>(std::move(filter), capacity);
  s->text_lower_ = Lower(s->filter_.text);
  std::lock_guard lock(mu_);
  s->closed_ = closed_;
  subscribers_.push_back(s);
  return s;
}

void EventHub::Unsubscribe(const std::shared_ptr<LiveSubscriber>& subscriber) {
  std::lock_guard lock(mu_);
  std::erase(subscribers_, subscriber);
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void EventHub::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (auto& s : subscribers_) {
    std::lock_guard sl(s->mu_);
    s->closed_ = true;
    s->cv_.notify_all();
  }
}

void EventHub::Publish(std::span<const store::IngestBatch> batches,
                       const std::vector<store::AppendResult>& results) {
  std::vector<std::shared_ptr<LiveSubscriber>> subs;
  {
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) return;  // the common case costs one lock
    subs = subscribers_;
  }
  std::vector<LiveSubscriber*> matching;
  for (std::size_t b = 0; b < batches.size() && b < results.size(); ++b) {
    const auto& events = batches[b].events;
    // Duplicates are the front of a resent batch (sequences at or below the committed one).
    for (std::size_t i = results[b].duplicates; i < events.size(); ++i) {
      const v1::Event& e = events[i];
      if (e.event_category().empty()) continue;  // rejected by the store
      matching.clear();
      for (const auto& s : subs) {
        const LiveFilter& f = s->filter_;
        if (f.category && schema::CategoryName(*f.category) != e.event_category()) continue;
        if (!f.host.empty() && f.host != e.host_name() && f.host != e.host_id()) continue;
        matching.push_back(s.get());
      }
      if (matching.empty()) continue;
      std::string line = EventToJson(e).dump();
      for (LiveSubscriber* s : matching) {
        if (!s->text_lower_.empty() && !ContainsLower(line, s->text_lower_)) continue;
        std::lock_guard sl(s->mu_);
        if (s->queue_.size() >= s->capacity_) {
          ++s->dropped_;
          continue;
        }
        s->queue_.push_back(line);
        s->cv_.notify_one();
      }
    }
  }
}

}  // namespace vigil::server
