// Tests of HeldForks: a held fork taken by its process's exec, told apart from a later process
// with the same pid, due after the hold or past the capacity (oldest first), and all of them when
// the source stops.
#include "agent/sensor/held_forks.hpp"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

using namespace std::chrono_literals;
using Clock = HeldForks::Clock;

vg_hdr Fork(std::uint32_t pid, std::uint64_t start_ticks, std::uint32_t parent = 1) {
  vg_hdr h{};
  h.type = VG_FORK;
  h.proc.tgid = pid;
  h.proc.start_ticks = start_ticks;
  h.proc.ppid = parent;
  return h;
}

TEST(HeldForks, TheExecOfTheSameProcessTakesItsFork) {
  HeldForks held(1000ms, 16);
  const auto t0 = Clock::now();
  EXPECT_FALSE(held.Hold(Fork(100, 7, 42), t0));
  EXPECT_FALSE(held.Take(100, 8));  // another process with that pid
  auto fork = held.Take(100, 7);
  ASSERT_TRUE(fork);
  EXPECT_EQ(fork->proc.ppid, 42u);
  EXPECT_TRUE(held.empty());
  EXPECT_FALSE(held.Take(100, 7));
  EXPECT_FALSE(held.TakeDue(t0 + 1h));  // taken: nothing is due any more
}

TEST(HeldForks, AForkIsDueAfterTheHoldOldestFirst) {
  HeldForks held(1000ms, 16);
  const auto t0 = Clock::now();
  held.Hold(Fork(100, 7), t0);
  held.Hold(Fork(101, 7), t0 + 300ms);
  held.Hold(Fork(102, 7), t0 + 600ms);
  ASSERT_TRUE(held.Take(101, 7));  // exec'd
  EXPECT_FALSE(held.TakeDue(t0 + 999ms));
  auto first = held.TakeDue(t0 + 1000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->proc.tgid, 100u);
  EXPECT_FALSE(held.TakeDue(t0 + 1500ms));  // 102 was held at 600 ms
  auto last = held.TakeDue(t0 + 1600ms);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->proc.tgid, 102u);
  EXPECT_TRUE(held.empty());
}

TEST(HeldForks, PastTheCapacityTheOldestIsDueAtOnce) {
  HeldForks held(1000ms, 2);
  const auto t0 = Clock::now();
  for (std::uint32_t pid = 100; pid < 103; ++pid) held.Hold(Fork(pid, 7), t0);
  auto oldest = held.TakeDue(t0);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->proc.tgid, 100u);
  EXPECT_FALSE(held.TakeDue(t0));  // two held: within the capacity
  EXPECT_EQ(held.size(), 2u);
}

TEST(HeldForks, ALaterForkWithTheSamePidReturnsTheEarlierOne) {
  HeldForks held(1000ms, 16);
  const auto t0 = Clock::now();
  held.Hold(Fork(100, 7), t0);
  auto displaced = held.Hold(Fork(100, 9), t0 + 10ms);  // pid 100's exit was never read
  ASSERT_TRUE(displaced);
  EXPECT_EQ(displaced->proc.start_ticks, 7u);
  EXPECT_FALSE(held.TakeDue(t0 + 1005ms));  // the held one is the later process, held at 10 ms
  auto later = held.TakeDue(t0 + 1010ms);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->proc.start_ticks, 9u);
}

TEST(HeldForks, EverythingIsDueWhenTheSourceStops) {
  HeldForks held(1000ms, 16);
  const auto t0 = Clock::now();
  for (std::uint32_t pid = 100; pid < 110; ++pid) held.Hold(Fork(pid, 7), t0);
  std::vector<std::uint32_t> order;
  while (auto fork = held.TakeDue(Clock::time_point::max())) order.push_back(fork->proc.tgid);
  EXPECT_EQ(order, (std::vector<std::uint32_t>{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}));
}

// A parent that execs takes its children's held forks (oldest first), not those of an earlier
// process with its pid, nor others'.
TEST(HeldForks, AParentsExecTakesItsChildrensForks) {
  HeldForks held(1000ms, 16);
  const auto t0 = Clock::now();
  auto child = [](std::uint32_t pid, std::uint32_t parent, std::uint64_t parent_start,
                  std::uint64_t boot_ns) {
    vg_hdr h = Fork(pid, 7, parent);
    h.proc.parent_start_ticks = parent_start;
    h.boot_ns = boot_ns;
    return h;
  };
  held.Hold(child(101, 50, 3, 200), t0);
  held.Hold(child(102, 60, 3, 150), t0);  // another parent's
  held.Hold(child(103, 50, 3, 100), t0);
  held.Hold(child(104, 50, 1, 120), t0);  // an earlier process 50's
  EXPECT_TRUE(held.TakeChildrenOf(70, 3).empty());
  auto children = held.TakeChildrenOf(50, 3);
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].proc.tgid, 103u);
  EXPECT_EQ(children[1].proc.tgid, 101u);
  EXPECT_EQ(held.size(), 2u);
  EXPECT_TRUE(held.TakeChildrenOf(50, 3).empty());
  EXPECT_TRUE(held.Take(104, 7));
  EXPECT_TRUE(held.Take(102, 7));
  EXPECT_TRUE(held.TakeChildrenOf(50, 1).empty());
}

// A storm of fork + exec: every fork taken by its exec; the order's entries for them do not pile
// up past a few times the capacity.
TEST(HeldForks, TakenForksDoNotAccumulate) {
  HeldForks held(1000ms, 8);
  const auto t0 = Clock::now();
  held.Hold(Fork(1, 1), t0);  // one that stays, at the front
  for (std::uint32_t pid = 2; pid < 100000; ++pid) {
    held.Hold(Fork(pid, 1), t0);
    ASSERT_TRUE(held.Take(pid, 1));
  }
  EXPECT_EQ(held.size(), 1u);
  EXPECT_LE(held.order_size(), 4u * 8 + 64);
}

}  // namespace
}  // namespace vigil::agent
