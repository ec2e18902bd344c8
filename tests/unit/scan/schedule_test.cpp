// Scan windows (crossing midnight), splay and the governor's waits, with an injected clock.
#include "agent/scan/schedule.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include "agent/scan/governor.hpp"
#include "test_util.hpp"

namespace vigil::agent::scan {
namespace {
using namespace std::chrono_literals;
using testing::FakeClock;

class ScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC0", 1);
    tzset();
  }
  // 2026-03-10 HH:MM:00 UTC
  static TimePoint At(int h, int m) {
    return std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + std::chrono::hours(h) +
           std::chrono::minutes(m);
  }
};

TEST_F(ScheduleTest, ParsesWindows) {
  auto w = ParseWindow("01:00-05:30");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->start_minute, 60);
  EXPECT_EQ(w->end_minute, 330);
  EXPECT_FALSE(ParseWindow("1-5"));
  EXPECT_FALSE(ParseWindow("25:00-01:00"));
  EXPECT_FALSE(ParseWindow("01:00"));
}

TEST_F(ScheduleTest, WindowContainsAndCrossesMidnight) {
  TimeWindow night{22 * 60, 2 * 60};
  EXPECT_TRUE(night.Contains(23 * 60));
  EXPECT_TRUE(night.Contains(0));
  EXPECT_TRUE(night.Contains(119));
  EXPECT_FALSE(night.Contains(120));
  EXPECT_FALSE(night.Contains(12 * 60));
  TimeWindow day{60, 300};
  EXPECT_TRUE(day.Contains(60));
  EXPECT_FALSE(day.Contains(300));
}

TEST_F(ScheduleTest, NextWindowOpen) {
  TimeWindow w{60, 300};                                   // 01:00-05:00
  EXPECT_EQ(NextWindowOpen(w, At(2, 0)), At(2, 0));        // inside: now
  EXPECT_EQ(NextWindowOpen(w, At(0, 30)), At(1, 0));       // later today
  EXPECT_EQ(NextWindowOpen(w, At(6, 0)), At(1, 0) + 24h);  // tomorrow
  TimeWindow night{22 * 60, 2 * 60};
  EXPECT_EQ(NextWindowOpen(night, At(12, 0)), At(22, 0));
  EXPECT_EQ(NextWindowOpen(night, At(1, 0)), At(1, 0));
}

TEST_F(ScheduleTest, SplayIsWithinBoundsAndDeterministic) {
  Schedule s;
  s.splay = 30min;
  EXPECT_EQ(s.StartTime(At(10, 0), 0), At(10, 0));
  const auto t = s.StartTime(At(10, 0), 123456789);
  EXPECT_GE(t, At(10, 0));
  EXPECT_LT(t, At(10, 30));
  EXPECT_EQ(t, At(10, 0) + std::chrono::milliseconds(123456789 % (30 * 60 * 1000)));
  // Spread: 1000 endpoints do not start together.
  std::set<TimePoint> starts;
  for (std::uint64_t i = 0; i < 1000; ++i) starts.insert(s.StartTime(At(10, 0), i * 2654435761u));
  EXPECT_GT(starts.size(), 990u);
  s.window = TimeWindow{60, 300};
  const auto w = s.StartTime(At(6, 0), 60'000);  // window opens tomorrow 01:00, + 60 s splay
  EXPECT_EQ(w, At(1, 0) + 24h + 60s);
}

TEST_F(ScheduleTest, GovernorWaitsForWindowAndSplayOnTheInjectedClock) {
  FakeClock clock(At(23, 0));
  ScanControl control;
  GovernorOptions options;
  options.cpu_percent = 0;
  options.schedule.window = TimeWindow{60, 300};
  options.schedule.splay = 10min;
  Governor governor(options, control, clock, 1);
  ASSERT_TRUE(governor.WaitForStart(5 * 60 * 1000));  // 5 minutes of splay
  EXPECT_EQ(clock.Now(), At(1, 5) + 24h);
  // Inside the window a checkpoint passes at once; after it closes, it waits for the next one.
  EXPECT_TRUE(governor.Checkpoint());
  EXPECT_EQ(clock.Now(), At(1, 5) + 24h);
  clock.Advance(4h);  // 05:05, closed
  EXPECT_TRUE(governor.Checkpoint());
  EXPECT_EQ(clock.Now(), At(1, 0) + 48h);
}

TEST_F(ScheduleTest, CancelStopsWaiting) {
  FakeClock clock(At(12, 0));
  ScanControl control;
  GovernorOptions options;
  options.schedule.window = TimeWindow{60, 300};
  Governor governor(options, control, clock, 1);
  control.Cancel();
  EXPECT_FALSE(governor.WaitForStart(0));
  EXPECT_FALSE(governor.Checkpoint());
}

TEST_F(ScheduleTest, PauseAndResume) {
  FakeClock clock(At(12, 0));
  ScanControl control;
  GovernorOptions options;
  Governor governor(options, control, clock, 1);
  control.Pause();
  std::atomic<bool> passed{false};
  std::thread t([&] { passed = governor.Checkpoint(); });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(passed);
  control.Resume();
  t.join();
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace vigil::agent::scan
