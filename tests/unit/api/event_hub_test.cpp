// Unit tests of the live-event fan-out: filters, duplicates skipped, bounded queues with a drop
// counter, and Close waking a waiting subscriber.
#include <gtest/gtest.h>

#include <thread>

#include "server/api/event_hub.hpp"

namespace vigil::server {
namespace {

store::IngestBatch Batch(std::initializer_list<std::pair<const char*, const char*>> events) {
  store::IngestBatch b;
  for (auto [category, host] : events) {
    v1::Event e;
    e.set_event_category(category);
    e.set_host_name(host);
    e.set_process_command_line(std::string("cmd on ") + host);
    b.events.push_back(e);
  }
  return b;
}

std::vector<std::string> TakeNow(LiveSubscriber& s) {
  std::vector<std::string> out;
  s.Take(out, std::chrono::milliseconds(0));
  return out;
}

TEST(EventHub, FiltersByCategoryHostAndText) {
  EventHub hub;
  auto all = hub.Subscribe({});
  auto process = hub.Subscribe({.category = schema::Category::Process, .host = "", .text = ""});
  auto host_b = hub.Subscribe({.category = std::nullopt, .host = "b", .text = ""});
  auto text = hub.Subscribe({.category = std::nullopt, .host = "", .text = "CMD ON C"});
  auto batch = Batch({{"process", "a"}, {"network", "b"}, {"process", "c"}});
  std::vector<store::AppendResult> results{{.stored = 3}};
  hub.Publish(std::span(&batch, 1), results);
  EXPECT_EQ(TakeNow(*all).size(), 3u);
  EXPECT_EQ(TakeNow(*process).size(), 2u);
  auto b = TakeNow(*host_b);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(b[0].find("\"network\""), std::string::npos);
  auto c = TakeNow(*text);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].find("cmd on c"), std::string::npos);
}

TEST(EventHub, SkipsDuplicatesAndRejected) {
  EventHub hub;
  auto s = hub.Subscribe({});
  auto batch = Batch({{"process", "a"}, {"process", "b"}, {"", "c"}});
  std::vector<store::AppendResult> results{{.stored = 1, .duplicates = 1, .rejected = 1}};
  hub.Publish(std::span(&batch, 1), results);
  auto got = TakeNow(*s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("cmd on b"), std::string::npos);
}

TEST(EventHub, BoundedQueueCountsDrops) {
  EventHub hub;
  auto slow = hub.Subscribe({}, 2);
  auto batch = Batch({{"process", "a"}, {"process", "b"}, {"process", "c"}, {"process", "d"}});
  std::vector<store::AppendResult> results{{.stored = 4}};
  hub.Publish(std::span(&batch, 1), results);
  EXPECT_EQ(slow->dropped(), 2u);
  auto got = TakeNow(*slow);
  ASSERT_EQ(got.size(), 2u);  // the oldest two are kept
  EXPECT_NE(got[0].find("cmd on a"), std::string::npos);
  EXPECT_EQ(slow->delivered(), 2u);
  hub.Unsubscribe(slow);
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(EventHub, CloseWakesWaitingSubscribers) {
  EventHub hub;
  auto s = hub.Subscribe({});
  bool open = true;
  std::thread waiter([&] {
    std::vector<std::string> out;
    open = s->Take(out, std::chrono::seconds(30));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  hub.Close();
  waiter.join();
  EXPECT_FALSE(open);
}

}  // namespace
}  // namespace vigil::server
